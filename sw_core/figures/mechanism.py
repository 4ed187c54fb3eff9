"""The mechanism views (`sw_core.mechanism`): each takes one part of a `Mechanism`, returns a Figure."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .style import EDITED, ORIGINAL, log10_abs, log_colorbar


def pathway_figure(p) -> go.Figure:
    """One panel per factor (gate / up, or fc1): the residual channels whose terms drive it most."""
    fig = make_subplots(rows=1, cols=len(p.factors), subplot_titles=[
        f"{f.name}: pre-activation {f.pre:.3g} -> {f.value:.3g}" for f in p.factors])
    for k, f in enumerate(p.factors, 1):
        labels = [f"ch {d.channel}" for d in f.drivers]
        hover = ["<br>".join([f"n = {d.normed:.3g}, residual = {d.residual:.3g}"]
                             + [f"{w.sublayer}: {w.value:+.3g}" for w in d.writers]) for d in f.drivers]
        fig.add_trace(go.Bar(x=[d.term for d in f.drivers], y=labels, orientation="h", hovertext=hover,
                             hoverinfo="text+x", marker_color=ORIGINAL, showlegend=False), row=1, col=k)
        fig.update_yaxes(autorange="reversed", row=1, col=k)
        fig.update_xaxes(title="term weight x n", row=1, col=k)
    fig.update_layout(title=f"layer {p.layer} input {p.col} at token {p.token} ({p.token_text!r}): "
                            f"x = {p.x:,.0f}, W[{p.row}, {p.col}] x = {p.contribution:,.0f} of {p.activation:,.0f}",
                      height=360, margin=dict(l=60, r=20, t=70, b=40))
    return fig


def persistence_figure(s) -> go.Figure:
    """Residual channel value at the super-activation token after each layer, original vs removed."""
    layers = list(range(len(s.original)))
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=layers, y=s.at_token("original"), name="original", mode="lines+markers",
                             line_color=ORIGINAL))
    fig.add_trace(go.Scatter(x=layers, y=s.at_token("removed"), name=f"{', '.join(s.removed_weights)} off",
                             mode="lines+markers", line_color=EDITED))
    fig.update_layout(title=f"residual stream, channel {s.channel}, token {s.token} ({s.tokens[s.token]!r})",
                      xaxis_title="after layer", yaxis_title="value", height=380,
                      margin=dict(l=60, r=20, t=50, b=40))
    return fig


def persistence_heatmap(s, which: str = "original") -> go.Figure:
    """Layers x tokens: |residual| on the channel (log colour)."""
    z = log10_abs(getattr(s, which))
    flat = [v for row in z for v in row]
    fig = go.Figure(go.Heatmap(z=z, x=[f"{i}:{t}" for i, t in enumerate(s.tokens)], y=list(range(len(z))),
                               colorscale="Inferno", colorbar=log_colorbar(min(flat), max(flat), "|value|"),
                               hovertemplate="layer %{y}, token %{x}<extra></extra>"))
    fig.update_yaxes(title="after layer", autorange="reversed")
    fig.update_layout(title=f"|residual channel {s.channel}| per layer and token ({which})",
                      height=max(360, 14 * len(z)), margin=dict(l=60, r=20, t=50, b=40))
    return fig


def attention_sink_figure(a) -> go.Figure:
    """Mean attention on the sink token per layer (over heads), original vs removed."""
    layers = list(range(len(a.original)))
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=layers, y=a.layer_means("original"), name="original", line_color=ORIGINAL,
                             mode="lines+markers"))
    fig.add_trace(go.Scatter(x=layers, y=a.layer_means("removed"), name=f"{', '.join(a.removed_weights)} off",
                             line_color=EDITED, mode="lines+markers"))
    fig.update_layout(title=f"attention on token {a.token}, mean over heads and {a.queries} later tokens",
                      xaxis_title="layer", yaxis_title="attention", yaxis_range=[0, 1], height=360,
                      margin=dict(l=60, r=20, t=50, b=40))
    return fig


def attention_sink_heatmap(a, which: str = "original") -> go.Figure:
    """Layers x heads: attention on the sink token."""
    z = getattr(a, which)
    fig = go.Figure(go.Heatmap(z=z, x=list(range(len(z[0]))), y=list(range(len(z))), zmin=0, zmax=1,
                               colorscale="Viridis", colorbar=dict(title=dict(text="attention", side="right")),
                               hovertemplate="layer %{y}, head %{x}: %{z:.3f}<extra></extra>"))
    fig.update_xaxes(title="head")
    fig.update_yaxes(title="layer", autorange="reversed")
    fig.update_layout(title=f"attention on token {a.token} per head ({which})", height=max(360, 14 * len(z)),
                      margin=dict(l=60, r=20, t=50, b=40))
    return fig


def vocabulary_lens_figure(v) -> go.Figure:
    """The tokens channel c promotes and suppresses through the final norm and unembedding."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["promoted", "suppressed"])
    for k, items in enumerate((v.promoted, v.suppressed), 1):
        fig.add_trace(go.Bar(x=[t.score for t in items], y=[repr(t.token) for t in items], orientation="h",
                             marker_color=ORIGINAL if k == 1 else EDITED, showlegend=False), row=1, col=k)
        fig.update_yaxes(autorange="reversed", row=1, col=k)
    fig.update_layout(title=f"channel {v.channel} through the final norm and unembedding (logit per unit)",
                      height=380, margin=dict(l=90, r=20, t=60, b=40))
    return fig


def vocabulary_class_figure(v, which: str = "sentences") -> go.Figure:
    """Next-token probability mass per token class, original vs the main super weight removed,
    on the next-word sentences ("sentences") or every position of the built-in prompts ("builtin")."""
    classes = v.classes if which == "sentences" else v.classes_builtin
    where = (f"{v.sentences} next-word sentences" if which == "sentences"
             else f"{v.prompts} built-in prompts, {v.positions} positions")
    names = [c.name for c in classes]
    fig = go.Figure([
        go.Bar(x=names, y=[c.original for c in classes], name="original", marker_color=ORIGINAL),
        go.Bar(x=names, y=[c.removed for c in classes], name=f"{', '.join(v.removed_weights)} off",
               marker_color=EDITED, text=[f"x{c.ratio:.2f}" for c in classes], textposition="outside"),
    ])
    fig.update_layout(barmode="group", yaxis_title="mean next-token probability",
                      title=f"next-token probability by class, {where}",
                      height=380, margin=dict(l=60, r=20, t=50, b=40))
    return fig
