"""Figures the screens share that need cached numbers (the plotting itself is in sw_core.plots)."""

from __future__ import annotations

from .computed import stopwords


def stopword_figure(loaded, edit, *, title: str = "Next-token probability of stop words"):
    """The stop-word bar chart (original vs edited, ratio on top) and the shift it shows."""
    from sw_core import plots
    from sw_core.metrics import stopword_shift

    shift = stopword_shift(stopwords(loaded, None), stopwords(loaded, edit))
    words = [w.word.replace(" ", "␣") for w in shift.words] + ["all stop words", "true next word"]
    ratios = shift.words + [shift.stop_mass, shift.target]
    fig = plots.probability_bars(words, [r.original for r in ratios], [r.edited for r in ratios],
                                 ratios=[r.ratio for r in ratios], title=f"{title} ({shift.prompts} sentences)")
    return fig, shift
