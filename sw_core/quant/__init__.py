"""Super-weight-aware quantization: each setting gives a new `Loaded` that metrics and generation accept.

`quantized(loaded, setting, detection)` never changes `loaded`:
- rtn / w8a8: a private copy that shares every tensor except the quantized weights
  (`private.py`); W8A8's activation hooks live on that copy only, so nothing leaks into the
  shared model or into other callers;
- bnb-*: a fresh load through bitsandbytes (`bnb.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from ..edits import Coord
from ..errors import BadInput
from ..loading import Loaded
from ..scan import linear_inputs
from . import bnb, rtn, w8a8
from .private import private_copy
from .settings import CLIP_SEARCH, MODES, QuantSetting, table_rows, table_settings
from .targets import decoder_linears, decoder_weights, super_coords

__all__ = ["QuantSetting", "MODES", "CLIP_SEARCH", "table_rows", "table_settings", "quantized", "super_weight_values", "SuperWeightValue",
           "calibration_inputs", "standard_settings", "resolved_setting"]

def quantized(loaded: Loaded, setting: QuantSetting, detection=None, *, calibration: str | None = None) -> Loaded:
    """A new Loaded quantized per `setting` (mode "fp" returns `loaded` itself). Not cached here:
    the caller (the app's cache, a CLI loop) decides what to keep.

    detection: a Detection, an iterable of Coords, or None to detect now (needed when the
    setting is aware, skips the super layers, or for `super_weight_values`).
    calibration: text for clip_z="search" (default: the first shipped text); the searched z is in
    the returned copy's `source` label, and `resolved_setting` gives it beforehand.
    """
    if setting.mode == "fp":
        return loaded
    coords, extra = _coords(loaded, setting, detection)
    return _build(loaded, resolved_setting(loaded, setting, coords, calibration), coords, list(extra))


def _coords(loaded: Loaded, setting: QuantSetting, detection) -> tuple[list[Coord], list[Coord]]:
    """The super weights an aware setting holds out, and W8A8's late-spike inputs."""
    needs_coords = setting.aware or setting.skip_super_layers
    if needs_coords and detection is None:
        from ..detect import find_super_weights

        detection = find_super_weights(loaded)
    coords = list(super_coords(loaded, detection)) if needs_coords else []
    extra = late_spike_inputs(loaded, detection) if setting.mode == "w8a8" and setting.aware else []
    return coords, extra


def resolved_setting(loaded: Loaded, setting: QuantSetting, coords: list[Coord] = (),
                     calibration: str | None = None) -> QuantSetting:
    """`setting` with clip_z="search" replaced by the z the search picks (any other setting unchanged)."""
    if setting.mode != "rtn" or setting.clip_z != CLIP_SEARCH:
        return setting
    targets = _selected(decoder_linears(loaded.model, loaded.layers), setting)
    masks = rtn.hold_out_masks(loaded.layers, list(coords)) if setting.aware else {}
    z, _ = rtn.search_clip_z(targets, setting, masks, calibration_inputs(loaded, calibration, targets))
    return replace(setting, clip_z=z)


def _build(loaded: Loaded, setting: QuantSetting, coords: list[Coord], extra=()) -> Loaded:
    targets = _selected(decoder_linears(loaded.model, loaded.layers), setting)
    if setting.mode == "rtn":
        targets = _selected(decoder_weights(loaded), setting)  # with every expert's matrices
        for t in targets:  # check every width before any work
            rtn.block_size(setting.block, *t.weight_view().shape)
        masks = rtn.hold_out_masks(loaded.layers, coords) if setting.aware else {}
        weights = rtn.quantized_weights(targets, setting, masks, clip_z=setting.clip_z)
        return private_copy(loaded, weights, setting.label)
    if setting.mode == "w8a8":
        qloaded = private_copy(loaded, w8a8.weights(targets), setting.label)
        hold = w8a8.held_channels(loaded.layers, [*coords, *extra]) if setting.aware else {}
        w8a8.install(qloaded.model, _selected(decoder_linears(qloaded.model, qloaded.layers), setting), setting, hold)
        return qloaded
    bnb.check_widths(targets, setting)
    skip = sorted({loaded.layers[c.layer].name for c in coords}) if (setting.skip_super_layers or setting.aware) else []
    return bnb.load_quantized(loaded, setting, skip)


def _selected(targets, setting: QuantSetting):
    if setting.modules is None or "modules" not in MODES[setting.mode].options:
        return targets
    chosen = [t for t in targets if setting.modules in t.name]
    if not chosen:
        raise BadInput(f"No linear layer name contains {setting.modules!r}: try e.g. {targets[0].name!r}.")
    return chosen


@torch.no_grad()
def late_spike_inputs(loaded: Loaded, detection) -> list[Coord]:
    """Massive down-projection inputs of the layers with late (cancelling) spikes, as Coords whose
    col is the input channel: the largest |x| of that layer on the detection's first prompt."""
    spikes = getattr(detection, "late_spikes", None) or []
    prompts = getattr(detection, "prompts", None) or []
    if not spikes or not prompts:
        return []
    from ..scan import scan

    stats = {st.layer: st for st in scan(loaded, prompts[0]).layers}
    return [Coord(s.layer, s.channel, stats[s.layer].in_channel) for s in spikes if s.layer in stats]


@torch.no_grad()
def calibration_inputs(loaded: Loaded, text: str | None, targets, max_tokens: int = 64) -> dict[str, torch.Tensor]:
    """name -> the inputs [tokens, in] each target linear sees on `text` (one forward pass)."""
    if text is None:
        text = _default_calibration_text()
    ids = loaded.encode(text, max_tokens=max_tokens)
    return linear_inputs(loaded, ids, [t.name for t in targets])  # the hooks registered at load


def _default_calibration_text() -> str:
    from ..texts import shipped_texts

    return next(iter(shipped_texts().values()))


@dataclass
class SuperWeightValue:
    """One super weight before and after quantization."""

    layer: int
    row: int
    col: int
    original: float
    quantized: float

    @property
    def relative_error(self) -> float:
        return abs(self.quantized - self.original) / max(abs(self.original), 1e-12)


@torch.no_grad()
def super_weight_values(qloaded: Loaded, detection, original: Loaded | None = None) -> list[SuperWeightValue]:
    """The super weights' values in `qloaded` (dequantized) next to their original values.

    Originals come from `original` if given, else from the detection's recorded values.
    """
    items = list(getattr(detection, "super_weights", detection))
    coords = super_coords(qloaded, items)
    out = []
    for c, sw in zip(coords, items):
        if original is not None:
            before = original.layers[c.layer].value_at(c)
        else:
            before = float(sw.value)
        after = qloaded.layers[c.layer].value_at(c)
        out.append(SuperWeightValue(c.layer, c.row, c.col, before, after))
    return out


def standard_settings(bits: int = 4, block=128, clip_z=None) -> list[QuantSetting]:
    """The default comparison table's rows: fp, RTN naive/aware, W8A8 naive/aware, LLM.int8, NF4."""
    return [s for _, s in table_settings(bits=bits, block=block, clip_z=clip_z)]
