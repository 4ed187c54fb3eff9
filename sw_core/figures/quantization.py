"""Perplexity under quantization settings as a ratio to the original, on a labelled log axis.

Why a ratio on a log axis: the settings span 1.01x to 1000x; a linear axis hides the small ones
and a truncated one makes 15.8 vs 16.6 look tenfold. The axis starts below 1 (= unchanged), so
every bar grows from the same baseline and its label gives the ratio and the perplexity itself.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go


def perplexity_ratio_bars(labels: list[str], perplexities: list[float], original: float, *,
                          title: str) -> go.Figure:
    """One bar per setting (the first, grey, is the original), labelled with its ratio and perplexity."""
    ratios = [p / original for p in perplexities]
    fig = go.Figure(go.Bar(
        x=labels, y=ratios, marker_color=["#7f7f7f"] + ["#1f77b4"] * (len(labels) - 1),
        text=[f"×{r:,.2f} ({p:,.2f})" for r, p in zip(ratios, perplexities)], textposition="outside",
        textfont=dict(size=14), hovertemplate="%{x}<br>perplexity ÷ original: %{y:,.3f}<extra></extra>"))
    top = max(ratios + [1.0])
    bottom = min(ratios + [1.0]) / 2
    # Ticks at 1, 2 and 5 of each decade only: plotly's own log ticks crowd (1 2 3 ... 9 10) in 400 px.
    lo, hi = math.log10(bottom), math.log10(top) + 0.4
    ticks = [m * 10 ** e for e in range(math.floor(lo), math.ceil(hi) + 1) for m in (1, 2, 5)]
    ticks = [t for t in ticks if lo <= math.log10(t) <= hi]
    if len(ticks) > 8:  # many decades: the powers of ten alone
        ticks = [t for t in ticks if math.log10(t).is_integer()]
    fig.update_yaxes(type="log", range=[lo, hi], tickvals=ticks, ticktext=[f"×{t:,g}" for t in ticks],
                     title="perplexity ÷ original (log)")
    fig.update_layout(title=dict(text=title, x=0, xanchor="left"), height=420,
                      margin=dict(l=70, r=20, t=70, b=40), showlegend=False)
    return fig
