"""Figures the screens share that need cached numbers (the plotting itself is in sw_core.figures)."""

from __future__ import annotations

from sw_core import figures as plots
from sw_core.metrics import stopword_shift

from .computed import next_words, stopwords


def shown(token: str) -> str:
    """A token as a chart label: a leading space as ␣, a newline as ↵ (else they are invisible)."""
    return token.replace(" ", "␣").replace("\n", "↵") or "∅"


def stopword_figure(loaded, edit, *, title: str = "Next-token probability of stop words", font_size: int = 14,
                    edited_name: str = "edited"):
    """The stop-word bar chart (original vs edited, ratio on top) and the shift it shows."""
    shift = stopword_shift(stopwords(loaded, None), stopwords(loaded, edit))
    words = [shown(w.word) for w in shift.words] + ["all stop words", "true next word"]
    ratios = shift.words + [shift.stop_mass, shift.target]
    fig = plots.probability_bars(words, [r.original for r in ratios], [r.edited for r in ratios],
                                 ratios=[r.ratio for r in ratios], title=f"{title} ({shift.prompts} sentences)",
                                 font_size=font_size, names=("original", edited_name), show_ratios=edit is not None)
    return fig, shift


def next_word_figure(loaded, edit, prompt: str, *, font_size: int = 14, edited_name: str = "edited", k: int = 5):
    """Bars of the likeliest next words after `prompt`, original vs edited, and the numbers behind them."""
    nw = next_words(loaded, edit, prompt, k=k)
    fig = plots.probability_bars([shown(w) for w in nw.words], nw.original, nw.edited,
                                 title=f"Next word after “{prompt}”", font_size=font_size,
                                 names=("original", edited_name), show_ratios=edit is not None)
    return fig, nw


def next_word_rows(loaded, edit, prompt: str, *, font_size: int = 20, edited_name: str = "edited",
                   k: int = 3, height: int = 400):
    """The next-word chart for a projector (`sw_core.figures.next_word_rows`) and the numbers behind it."""
    nw = next_words(loaded, edit, prompt, k=k)
    fig = plots.next_word_rows([shown(w) for w in nw.words], nw.original, nw.edited, prompt, font_size=font_size,
                               edited_name=edited_name, height=height, show_ratios=edit is not None)
    return fig, nw


def token_heatmap(scan):
    """The token heatmap and how it aggregated a long prompt (None: one column per token)."""
    return plots.token_heatmap(scan), plots.token_aggregation(scan)
