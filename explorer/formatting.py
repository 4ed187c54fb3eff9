"""How the app writes numbers for people: 135 million, 267k, 15.80, and a change with its arrow and colour."""

from __future__ import annotations

import math


def count_in_words(n: int) -> str:
    """A parameter count as a reader says it: 134,515,008 -> "135 million", 7.2e9 -> "7.2 billion"."""
    for size, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million"), (1e3, "thousand")):
        if n >= size:
            x = n / size
            return f"{x:.2g} {word}" if x < 10 else f"{x:,.0f} {word}"
    return f"{n:,}"


def compact(x: float) -> str:
    """At most six characters, never scientific: 15.80, 266.1, 2,145, 26.7k, 267k, 3.1M, 12.0B.

    A metric at projector size holds about six characters in a quarter of a 1280 px window.
    """
    if not math.isfinite(x):
        return "∞" if x > 0 else "-∞" if x < 0 else "n/a"
    a = abs(x)
    if a < 100:
        return f"{x:.2f}"
    if a < 1000:
        return f"{x:.1f}"
    if a < 10_000:
        return f"{x:,.0f}"
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= size:
            v = x / size
            return (f"{v:.1f}" if abs(v) < 100 else f"{v:,.0f}") + suffix
    return f"{x:,.0f}"


def perplexity_text(x: float) -> str:
    """15.80, 2,145, 267k: whole in a metric at any window size."""
    return compact(x)


def ratio_text(r: float) -> str:
    """A factor as a class reads it: ×16.9k up, ÷2.5 down, ×1.00 unchanged (the arrow says which way)."""
    if not math.isfinite(r) or r <= 0:
        return "×∞" if r > 0 or math.isnan(r) else "÷∞"
    if r >= 1:
        return "×" + (f"{r:.2f}" if r < 10 else compact(r).removesuffix(".00"))
    return "÷" + (f"{1 / r:.2f}" if 1 / r < 10 else compact(1 / r).removesuffix(".00"))


def change(before: float, after: float, *, lower_is_better: bool | None, as_points: bool = False,
           still: float = 1e-3) -> dict:
    """st.metric's delta, arrow and colour for before -> after (pass as **kwargs).

    The arrow follows the direction of the change; the colour follows good/bad: green when the
    number moved the good way, red the bad way, grey when it did not move (within `still`, relative
    or in points). lower_is_better=None: any move away from the original is bad (a share that
    should stay where the healthy model has it). as_points: the change in percentage points.
    """
    if as_points:
        moved = (after - before) * 100
        text = f"{moved:+.0f}" if abs(moved) >= 1 else f"{moved:+.1f}"
        text += " pt" if text.lstrip("+-") in ("1", "1.0") else " pts"
        still_now = abs(moved) < still * 100
    else:
        moved = after / before if before else math.inf
        text = ratio_text(moved)
        still_now = abs(moved - 1) < still
    if still_now:
        return dict(delta=text, delta_arrow="off", delta_color="gray")
    up = after > before
    good = (not up) if lower_is_better else up if lower_is_better is False else False
    return dict(delta=text, delta_arrow="up" if up else "down", delta_color="green" if good else "red")


def percent(p: float) -> str:
    """A probability as a percentage a class can read: 0.054 -> 5.4%, 0.0003 -> 0.03%."""
    return f"{p:.1%}" if p >= 0.001 else f"{p:.2%}"
