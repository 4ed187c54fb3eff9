"""What to quantize and how: the registry of modes, and one frozen `QuantSetting` per row of a
comparison table.

A setting is hashable (it keys the cache of quantized models) and prints as a short `label`.
`MODES` is the one list of quantization modes: the CLI's rows and the app's choices derive from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import BadInput


@dataclass(frozen=True)
class Mode:
    """One quantization mode, as the CLI and the app offer it."""

    title: str  # what a choice of it shows
    options: tuple[str, ...] = ()  # the QuantSetting fields this mode reads
    aware_row: bool = False  # the comparison table also has its super-weight-aware row ("<mode>-aware")
    in_table: bool = True  # a row of the default comparison table


MODES: dict[str, Mode] = {
    "fp": Mode("full precision"),
    "rtn": Mode("RTN (weight-only)", ("bits", "block", "clip_z", "modules"), aware_row=True),
    "w8a8": Mode("W8A8 (simulated)", ("granularity", "modules"), aware_row=True),
    "bnb-int8": Mode("bitsandbytes LLM.int8", ("threshold",)),
    "bnb-nf4": Mode("bitsandbytes NF4"),
    "bnb-fp4": Mode("bitsandbytes FP4", in_table=False),
}


def table_rows(every: bool = False) -> dict[str, tuple[str, bool]]:
    """Row name ("rtn", "rtn-aware", ...) -> (mode, aware): the comparison table's rows in order
    (every=True: also the modes left out of the default table)."""
    rows = {}
    for name, mode in MODES.items():
        if mode.in_table or every:
            rows[name] = (name, False)
            if mode.aware_row:
                rows[f"{name}-aware"] = (name, True)
    return rows


def table_settings(rows=None, **options) -> list[tuple[str, "QuantSetting"]]:
    """(row name, QuantSetting) for each of `rows` (default: the default table), each mode given
    the `options` it reads (bits=, block=, granularity=, ...; the rest keep their defaults)."""
    every = table_rows(every=True)
    rows = list(table_rows()) if rows is None else rows
    bad = [r for r in rows if r not in every]
    if bad:
        raise BadInput(f"Unknown mode(s) {bad}: choose from {' '.join(every)}.")
    out = []
    for row in rows:
        mode, aware = every[row]
        given = {k: v for k, v in options.items() if k in MODES[mode].options}
        out.append((row, QuantSetting(mode, aware=aware, **given)))
    return out
BLOCKS = (32, 64, 128, 256, 512, "row", "tensor")
MAX_BLOCK = 1 << 16  # numeric blocks are powers of two, as in GGUF and bitsandbytes
GRANULARITIES = ("tensor", "token")
CLIP_SEARCH = "search"  # clip_z="search": pick z by reconstruction error on calibration text


@dataclass(frozen=True)
class QuantSetting:
    """One quantization recipe.

    mode: fp (no quantization) | rtn (weight-only round-to-nearest) | w8a8 (simulated INT8
      weights and activations) | bnb-int8 (LLM.int8) | bnb-nf4 | bnb-fp4 (bitsandbytes 4-bit).
    bits, block, clip_z: RTN only. block is a number of consecutive weights along the input
      dimension (a power of two; a row's last block is shorter where it does not divide the row),
      "row" (a whole row) or "tensor" (one scale for the whole matrix). clip_z=None:
      no clipping; a number: clip at mean +- z*std per block; "search": z chosen by search.
    aware: hold out the super weights (RTN), the super activations (W8A8), or keep the super
      weights' layers unquantized (bitsandbytes: same as skip_super_layers).
    granularity: W8A8 activation scales, one per "tensor" or one per "token".
    threshold: LLM.int8 outlier threshold (inputs above it run in 16/32-bit).
    modules: rtn / w8a8 only: quantize just the decoder linear layers whose qualified name
      contains this text (e.g. "layers.11.mlp.down_proj"); None = all of them.
    """

    mode: str = "rtn"
    bits: int = 4
    block: int | str = 128
    clip_z: float | str | None = None
    aware: bool = False
    granularity: str = "tensor"
    threshold: float = 6.0
    skip_super_layers: bool = False
    modules: str | None = None  # rtn / w8a8: only linear layers whose name contains this

    def __post_init__(self):
        check(self)

    @property
    def label(self) -> str:
        where = f" [{self.modules}]" if self.modules and "modules" in MODES[self.mode].options else ""
        return self._label() + where

    def _label(self) -> str:
        tag = " aware" if self.aware else (" naive" if self.mode in ("rtn", "w8a8") else "")
        if self.mode == "fp":
            return "full precision"
        if self.mode == "rtn":
            block = f"block {self.block}" if isinstance(self.block, int) else f"per {self.block}"
            clip = "" if self.clip_z is None else (
                " clip z=search" if self.clip_z == CLIP_SEARCH else f" clip z={self.clip_z:g}")
            return f"RTN int{self.bits} {block}{clip}{tag}"
        if self.mode == "w8a8":
            return f"W8A8 per-{self.granularity}{tag}"
        skip = " skip SW layers" if self.skip_super_layers or self.aware else ""
        if self.mode == "bnb-int8":
            return f"bnb LLM.int8 t={self.threshold:g}{skip}"
        return f"bnb {self.mode[4:].upper()}{skip}"


def parse_block(text: str):
    """A block given as text: a whole number of weights per scale, 'row' or 'tensor' (`check` judges the number)."""
    if text in ("row", "tensor"):
        return text
    try:
        return int(text)
    except ValueError:
        raise BadInput("give a whole number such as 32, 64, 128, or 'row' or 'tensor'.") from None


def check(s: QuantSetting) -> None:
    """Raise BadInput naming the bad field and the allowed values."""
    if s.mode not in MODES:
        raise BadInput(f"Unknown quantization mode {s.mode!r}: use one of {', '.join(MODES)}.")
    if isinstance(s.bits, bool) or not isinstance(s.bits, int) or not 2 <= s.bits <= 8:
        raise BadInput(f"bits={s.bits!r} is out of range: RTN supports 2 to 8 bits (4 is the paper's setting).")
    if isinstance(s.block, bool) or (not isinstance(s.block, int) and s.block not in ("row", "tensor")):
        raise BadInput(f"block={s.block!r} is not valid: use a positive number such as "
                       f"{', '.join(str(b) for b in BLOCKS[:5])}, or 'row' or 'tensor'.")
    if isinstance(s.block, int) and (s.block < 2 or s.block > MAX_BLOCK or s.block & (s.block - 1)):
        raise BadInput(f"block={s.block} is not valid: use a power of two from 2 to {MAX_BLOCK} (e.g. 32, 64, "
                       "128, 256, 512; a row's last block is shorter where the block does not divide it), "
                       "'row' or 'tensor'.")
    if s.clip_z is not None and s.clip_z != CLIP_SEARCH:
        if isinstance(s.clip_z, bool) or not isinstance(s.clip_z, (int, float)) or not 0 < s.clip_z < 1000:
            raise BadInput(f"clip_z={s.clip_z!r} is not valid: use a positive number of standard "
                           f"deviations (e.g. 3), '{CLIP_SEARCH}', or None for no clipping.")
    if s.granularity not in GRANULARITIES:
        raise BadInput(f"granularity={s.granularity!r} is not valid: use 'tensor' or 'token'.")
    if s.modules is not None and (not isinstance(s.modules, str) or not s.modules.strip()):
        raise BadInput(f"modules={s.modules!r} is not valid: give part of a layer name such as 'mlp.down_proj', or None for all.")
    if not isinstance(s.threshold, (int, float)) or not s.threshold >= 0:
        raise BadInput(f"threshold={s.threshold!r} is not valid: LLM.int8 needs a threshold >= 0 (default 6.0).")
