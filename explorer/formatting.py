"""How the app writes numbers for people: 135 million, 24,022, 15.80."""

from __future__ import annotations


def count_in_words(n: int) -> str:
    """A parameter count as a reader says it: 134,515,008 -> "135 million", 7.2e9 -> "7.2 billion"."""
    for size, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million"), (1e3, "thousand")):
        if n >= size:
            x = n / size
            return f"{x:.2g} {word}" if x < 10 else f"{x:,.0f} {word}"
    return f"{n:,}"


def perplexity_text(x: float) -> str:
    """Two decimals with thousands separators (15.80, 2,145.33)."""
    return f"{x:,.2f}"


def percent(p: float) -> str:
    """A probability as a percentage a class can read: 0.054 -> 5.4%, 0.0003 -> 0.03%."""
    return f"{p:.1%}" if p >= 0.001 else f"{p:.2%}"
