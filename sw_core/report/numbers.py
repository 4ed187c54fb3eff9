"""How the report writes a number for a reader: no scientific notation, percentages as %, plurals
right. Every section's notes, tables and figure labels go through here; report.json keeps the raw
numbers (the JSON is data).

    num(1871931.6) -> "1.87M"     num(24022.4) -> "24,022"     num(26.9419) -> "26.94"
    num(0.7329) -> "0.733"        num(8.553e-05) -> "0.000086"  num(2.8e22) -> "2.8 × 10²²"
    pct(0.225) -> "22.5%"         times(53518.2) -> "x53,518"   plural(2, "super weight") -> "2 super weights"
"""

from __future__ import annotations

import math

_SUFFIXES = ((1e12, "T"), (1e9, "B"), (1e6, "M"))
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
SMALLEST = 1e-6  # below it a number reads "<0.000001": more digits would not help a reader


class Percent(float):
    """A fraction shown as a percentage in a table (0.225 -> "22.5%"); still a float for sorting."""


def num(v, digits: int = 4) -> str:
    """A readable number: thousands separators up to a million, then M / B / T, then "a × 10ⁿ";
    small numbers in plain decimals with two significant digits (down to 0.000001)."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10_000 else str(v)
    v = float(v)
    if math.isnan(v):
        return "n/a"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1e15:
        mantissa, e = f"{v:.1e}".split("e")  # rounds first: 9.96e39 -> "1.0e+40", never "10 × 10³⁹"
        return f"{_plain(mantissa.removesuffix('.0'))} × 10{str(int(e)).translate(_SUPERSCRIPT)}"
    for size, suffix in _SUFFIXES:
        if a >= size:
            return f"{v / size:.3g}{suffix}"
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 1:
        return _plain(f"{v:.{digits}g}")
    if a < SMALLEST:
        return ("-" if v < 0 else "") + "<0.000001"
    if a >= 0.001:
        return _plain(f"{v:.{digits - 1}g}")
    decimals = -int(math.floor(math.log10(a))) + 1  # two significant digits: 8.553e-05 -> 0.000086
    return _plain(f"{v:.{decimals}f}")


def _plain(text: str) -> str:
    """A 'g'-formatted number never in e-notation here (the ranges above keep it out); strip a stray '.'"""
    return text.rstrip(".") if "." in text and "e" not in text else text


def pct(fraction, digits: int = 1) -> str:
    """A fraction as a percentage: 0.225 -> "22.5%", 0.7 -> "70%"."""
    if fraction is None:
        return "-"
    text = f"{100 * float(fraction):.{digits}f}".rstrip("0").rstrip(".")
    return f"{text}%"


def times(v) -> str:
    """A ratio as a factor: 53518.2 -> "x53,518", 1.0012 -> "x1.001"."""
    return "-" if v is None else f"x{num(v)}"


def scale(f: float) -> str:
    """A scale factor: 1.5 -> "x1.5", 0 -> "x0"."""
    return f"x{float(f):g}"


def plural(n: int, word: str, many: str | None = None) -> str:
    """plural(1, "super weight") -> "1 super weight"; plural(2, "activation source") -> "2 activation sources"."""
    return f"{num(n)} {word if n == 1 else (many or word + 's')}"


def cell(v) -> str:
    """A table cell: a Percent as %, any other number through num(), text as it is."""
    if isinstance(v, Percent):
        return pct(v)
    if isinstance(v, str):
        return v
    return num(v)
