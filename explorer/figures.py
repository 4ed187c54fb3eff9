"""Figures the screens share that need cached numbers (the plotting itself is in sw_core.figures)."""

from __future__ import annotations

from .computed import next_words, stopwords


def shown(token: str) -> str:
    """A token as a chart label: a leading space as ␣, a newline as ↵ (else they are invisible)."""
    return token.replace(" ", "␣").replace("\n", "↵") or "∅"


def stopword_figure(loaded, edit, *, title: str = "Next-token probability of stop words", font_size: int = 14,
                    edited_name: str = "edited"):
    """The stop-word bar chart (original vs edited, ratio on top) and the shift it shows."""
    from sw_core import figures as plots
    from sw_core.metrics import stopword_shift

    shift = stopword_shift(stopwords(loaded, None), stopwords(loaded, edit))
    words = [shown(w.word) for w in shift.words] + ["all stop words", "true next word"]
    ratios = shift.words + [shift.stop_mass, shift.target]
    fig = plots.probability_bars(words, [r.original for r in ratios], [r.edited for r in ratios],
                                 ratios=[r.ratio for r in ratios], title=f"{title} ({shift.prompts} sentences)",
                                 font_size=font_size, names=("original", edited_name), show_ratios=edit is not None)
    return fig, shift


def next_word_figure(loaded, edit, prompt: str, *, font_size: int = 14, edited_name: str = "edited"):
    """Bars of the likeliest next words after `prompt`, original vs edited, and the numbers behind them."""
    from sw_core import figures as plots

    nw = next_words(loaded, edit, prompt)
    fig = plots.probability_bars([shown(w) for w in nw.words], nw.original, nw.edited,
                                 title=f"Next word after “{prompt}”", font_size=font_size,
                                 names=("original", edited_name), show_ratios=edit is not None)
    return fig, nw
