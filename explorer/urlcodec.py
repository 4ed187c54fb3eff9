"""Page state <-> URL query parameters, as short readable strings (pure functions, no streamlit).

A coordinate is written `layer.row.col`; an edit `layer.row.col=factor` joined by commas, e.g.
`?sw=11.507.1229=0,11.507.1487=1` turns the first super weight off and keeps the second.
"""

from __future__ import annotations

import math

from sw_core.edits import Coord
from sw_core.errors import BadInput


def encode_coord(c: Coord) -> str:
    return f"{c.layer}.{c.row}.{c.col}"


def decode_coord(text: str) -> Coord:
    parts = text.strip().split(".")
    if len(parts) != 3 or not all(p.strip().lstrip("-").isdigit() for p in parts):
        raise BadInput(f"Coordinate {text!r} is malformed: write layer.row.col, e.g. 11.507.1229.")
    return Coord(*(int(p) for p in parts))


def encode_factors(factors: dict[Coord, float]) -> str:
    """`{Coord(11,507,1229): 0.0}` -> "11.507.1229=0"; sorted so equal edits give equal URLs."""
    items = sorted(factors.items(), key=lambda kv: (kv[0].layer, kv[0].row, kv[0].col))
    return ",".join(f"{encode_coord(c)}={encode_number(f)}" for c, f in items)


def decode_factors(text: str) -> dict[Coord, float]:
    """"11.507.1229=0,..." -> {Coord: factor}; a factor that is not a number is kept as nan for
    `usable_factors` to name (one reason per item, the other items still used)."""
    out: dict[Coord, float] = {}
    for item in filter(None, (s.strip() for s in (text or "").split(","))):
        coord, _, factor = item.partition("=")
        try:
            out[decode_coord(coord)] = float(factor or "0")
        except ValueError:
            out[decode_coord(coord)] = math.nan
    return out


def encode_number(x: float) -> str:
    return f"{x:g}"


def _span(lo: float, hi: float) -> str:
    if math.isinf(lo) and math.isinf(hi):
        return "a number"
    if math.isinf(hi):
        return f"{lo:g} or more"
    return f"{lo:g}-{hi:g}"


def decode_number(text: str, lo: float = -math.inf, hi: float = math.inf, what: str = "the value",
                  whole: bool = False) -> float:
    """A number from a URL in the control's own range, else BadInput worded for a reader:
    "bits must be 2-8, not 99." (no machine limits, no scientific notation)."""
    try:
        x = float(text)
    except (TypeError, ValueError):
        x = math.nan
    if not math.isfinite(x) or not lo <= x <= hi or (whole and x != int(x)):
        kind = "a whole number " if whole else ""
        raise BadInput(f"{what} must be {kind}{_span(lo, hi)}, not {str(text)[:20]!r}.")
    return x


def decode_bool(text: str) -> bool:
    t = str(text).strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off", ""):
        return False
    raise BadInput(f"{text!r} is not a yes/no value: use 1 or 0.")


def encode_value(value) -> str | None:
    """Any page value as URL text: bools 1/0, numbers compact, dicts of Coord as factors."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return encode_number(value)
    if isinstance(value, dict):
        return encode_factors(value)
    if isinstance(value, (list, tuple)):
        return ",".join(encode_coord(v) if isinstance(v, Coord) else str(v) for v in value)
    return str(value)


def encode_setting(setting) -> str:
    """A QuantSetting as "mode;field=value;..." listing only the fields that differ from the defaults."""
    import dataclasses

    parts = [setting.mode]
    for f in dataclasses.fields(setting):
        value = getattr(setting, f.name)
        if f.name != "mode" and value != f.default:
            parts.append(f"{f.name}={encode_value(value) if value is not None else 'none'}")
    return ";".join(parts)


# What the Quantization page's widgets offer: a link may ask for these and nothing else.
SETTING_RANGES = {"bits": (2, 8), "clip_z": (0, 100), "threshold": (0, 100)}


def decode_setting(text: str, blocks=None):
    """The QuantSetting written by `encode_setting`; BadInput naming one problem, in the widget's range.

    blocks: the block sizes the page offers (e.g. 32 ... 512, row, tensor); None accepts any valid one.
    """
    from sw_core.quant import QuantSetting

    mode, *rest = (text or "").strip().split(";")
    kw: dict = {}
    for item in rest:
        name, _, raw = item.partition("=")
        if name in ("aware", "skip_super_layers"):
            kw[name] = decode_bool(raw)
        elif name == "bits":
            kw[name] = int(decode_number(raw, *SETTING_RANGES["bits"], what="bits", whole=True))
        elif name == "block":
            if blocks is not None and raw not in blocks:
                raise BadInput(f"block must be one of {', '.join(blocks[:-1])} or {blocks[-1]}, not {raw[:20]!r}.")
            kw[name] = raw if raw in ("row", "tensor") else int(decode_number(raw, 1, math.inf, what="block",
                                                                             whole=True))
        elif name == "clip_z":
            kw[name] = None if raw == "none" else (raw if raw == "search" else decode_number(
                raw, *SETTING_RANGES["clip_z"], what="clip_z (standard deviations)"))
        elif name == "threshold":
            kw[name] = decode_number(raw, *SETTING_RANGES["threshold"], what="the outlier threshold")
        elif name in ("granularity", "modules"):
            kw[name] = None if raw == "none" else raw
        else:
            raise BadInput(f"{name[:20]!r} is not a quantization setting here.")
    return QuantSetting(mode, **kw)


def usable_factors(factors: dict[Coord, float], allowed, lo: float = 0.0, hi: float = 3.0):
    """(the factors the page can show, a reason for each one it cannot) for an edit read from a URL.

    A coordinate that is not one of `allowed` (this model's super weights) or a scale outside
    lo..hi (the slider's range) is left out with its reason, never moved to a nearby value.
    """
    allowed = list(allowed)
    kept, ignored = {}, []
    for c, f in factors.items():
        item = f"{encode_coord(c)}={encode_number(f)}"
        if c not in allowed:
            found = ", ".join(encode_coord(a) for a in allowed) or "none"
            ignored.append(f"{encode_coord(c)} is not a super weight of this model (its super weights: {found})")
        elif not lo <= f <= hi:  # nan too: never compared true
            ignored.append(f"{encode_coord(c)}: the scale must be {lo:g}-{hi:g} (the slider's range), "
                           f"not {encode_number(f)}")
        else:
            kept[c] = f
    return kept, ignored


def decode_choice(options):
    """A decoder that accepts only one of `options` (e.g. the classroom's prompts)."""
    options = list(options)

    def decode(text: str) -> str:
        if text not in options:
            raise BadInput(f"{text!r} is not one of the choices here: " + " | ".join(options) + ".")
        return text

    return decode
