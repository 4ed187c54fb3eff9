"""A screening's ranking (`sw_core.screening.Screening`)."""

from __future__ import annotations

import plotly.graph_objects as go

from .style import EDITED


def screening_figure(s, top: int = 15) -> go.Figure:
    """Perplexity ratio of the top candidates (log axis)."""
    rows = s.rows[:top]
    fig = go.Figure(go.Bar(x=[r.weight for r in rows], y=[r.ppl_ratio for r in rows], text=[r.source for r in rows],
                           hovertemplate="%{x}: ppl x%{y:.3g} (%{text})<extra></extra>", marker_color=EDITED))
    fig.update_yaxes(type="log", title="perplexity ratio (weight off / original)")
    fig.update_layout(title=f"candidates ranked by measured perplexity impact ({s.tokens} tokens)", height=380,
                      margin=dict(l=60, r=20, t=50, b=120))
    return fig
