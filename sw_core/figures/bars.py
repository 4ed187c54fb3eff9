"""Probabilities under the original and the edited model, side by side (next words, stop words)."""

from __future__ import annotations

import math

import plotly.graph_objects as go

from .style import EDITED, MIN_LABEL_PX, ORIGINAL


def _ratio_label(r: float) -> str:
    """Short enough to sit above a bar at full size: ×1.1, ×11, ÷16, ÷2.9k, ÷185k, ×30M (the hover has the rest)."""
    if not math.isfinite(r):
        return "new"
    if r <= 0:
        return "÷∞"
    sign, f = ("×", r) if r >= 1 else ("÷", 1 / r)
    if f < 10:
        return f"{sign}{f:.1f}"
    if f < 1000:
        return f"{sign}{f:,.0f}"
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):  # never scientific notation
        if f >= size:
            return f"{sign}{f / size:.1f}{suffix}" if f < 10 * size else f"{sign}{f / size:.0f}{suffix}"


def probability_bars(words, original, edited, *, title: str, ratios=None, font_size: int = 14,
                     names=("original", "edited"), show_ratios: bool = True) -> go.Figure:
    """Grouped bars per word: probability under the original and the edited model, ratio on top.

    Every text (ticks, ratio labels, legend) is at least 12 px; the title sits at the top, the legend
    on its own line below it, so the two never overlap. show_ratios=False: no labels (nothing changed).
    """
    size = max(MIN_LABEL_PX, font_size)
    ratios = ratios if ratios is not None else [e / o if o else float("inf") for o, e in zip(original, edited)]
    labels = [_ratio_label(r) for r in ratios]
    fig = go.Figure()
    fig.add_bar(x=list(words), y=list(original), name=names[0], marker_color=ORIGINAL,
                hovertemplate="%{x}: %{y:.3f}<extra>" + names[0] + "</extra>")
    fig.add_bar(x=list(words), y=list(edited), name=names[1], marker_color=EDITED, customdata=labels,
                text=labels if show_ratios else None, textposition="outside", textfont=dict(size=size),
                constraintext="none", cliponaxis=False,  # labels keep their size, never shrunk to the bar
                hovertemplate="%{x}: %{y:.3f} (%{customdata} vs the original)<extra>" + names[1] + "</extra>")
    top = max(list(original) + list(edited) + [1e-9])
    axis_font = dict(size=size)
    fig.update_xaxes(tickfont=axis_font, title_font=axis_font)
    fig.update_yaxes(tickfont=axis_font, title_font=axis_font, range=[0, top * 1.2], tickformat=".0%" if top >= 0.1 else ".1%")
    fig.update_layout(title=dict(text=title, font=dict(size=size + 4), x=0, xanchor="left", yref="container", y=1,
                                 yanchor="top", pad=dict(t=6)),
                      barmode="group", yaxis_title="probability", height=300 + 7 * size, font=dict(size=size),
                      margin=dict(l=30 + 3 * size, r=20, t=24 + 3 * size, b=40),
                      legend=dict(font=dict(size=size), orientation="h", x=0, xanchor="left", y=1.0, yanchor="bottom"))
    return fig


def next_word_rows(words, original, edited, prompt: str, *, font_size: int = 20, edited_name: str = "edited",
                   height: int = 400, show_ratios: bool = True) -> go.Figure:
    """The next-word chart for a projector: one row per word, the bars sideways, the ratio at the bar's end.

    Sideways because words and ratio labels then each have a row of their own: however long a word
    ("␣population") or large a ratio (÷185k), no label can run into its neighbour's.
    """
    words = list(words)[::-1]  # the likeliest on top
    p0, p1 = list(original)[::-1], list(edited)[::-1]
    ratios = [_ratio_label(b / a if a else float("inf")) for a, b in zip(p0, p1)]
    fig = go.Figure()
    fig.add_bar(y=words, x=p1, name=edited_name, orientation="h", marker_color=EDITED,
                text=ratios if show_ratios else None, textposition="outside", cliponaxis=False,
                textfont=dict(size=font_size), constraintext="none",
                hovertemplate="%{y}: %{x:.3f}<extra>" + edited_name + "</extra>")
    fig.add_bar(y=words, x=p0, name="original", orientation="h", marker_color=ORIGINAL,
                hovertemplate="%{y}: %{x:.3f}<extra>original</extra>")
    top = max(p0 + p1 + [1e-9])
    font = dict(size=font_size)
    fig.update_xaxes(range=[0, top * 1.3], tickformat=".0%" if top >= 0.1 else ".1%", tickfont=font, nticks=5)
    fig.update_yaxes(tickfont=font, automargin=True)
    # The legend is the title's second line: a plotly legend wraps to one entry per line in a narrow chart.
    key = (f"<span style='color:{ORIGINAL}'>■</span> original   "
           f"<span style='color:{EDITED}'>■</span> {edited_name}")
    fig.update_layout(barmode="group", height=height, font=font, bargap=0.25, showlegend=False,
                      title=dict(text=f"<b>Next word after “{prompt}”</b><br>{key}", font=dict(size=font_size),
                                 x=0, xanchor="left", yref="container", y=1, yanchor="top",
                                 pad=dict(t=font_size + 4)),  # plotly lifts a two-line title by a line
                      margin=dict(l=10, r=10, t=3 * font_size + 34, b=10))
    return fig
