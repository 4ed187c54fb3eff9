"""A scan's activations (`sw_core.scan.Scan`): the heatmaps and the paper's Fig. 2.

Activations span five orders of magnitude (a super activation ~1e4 next to ~1 elsewhere), so the
heatmaps colour log10 |value| and label the colour bar in plain numbers.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go

from .style import LOG_FLOOR, HEAT_SCALE, layer_axis, log10_abs, log_colorbar


def _spike_layer(scan):
    return max(scan.layers, key=lambda s: s.out_max)


def activation_heatmap(scan) -> go.Figure:
    """Layers x {input, output}: max |down_proj input| and max |output| per layer, log colour."""
    layers = [s.layer for s in scan.layers]
    z = log10_abs([[s.in_max, s.out_max] for s in scan.layers])
    flat = [v for row in z for v in row]
    text = [[f"{s.in_max:,.1f} (channel {s.in_channel}, token {s.in_token})",
             f"{s.out_max:,.1f} (channel {s.out_channel}, token {s.out_token})"] for s in scan.layers]
    fig = go.Figure(go.Heatmap(
        z=z, x=["max |input|", "max |output|"], y=layers, text=text, colorscale=HEAT_SCALE,
        hovertemplate="layer %{y}, %{x}: %{text}<extra></extra>",
        colorbar=log_colorbar(min(flat), max(flat), "|activation|"),
    ))
    axis = layer_axis(len(layers), reverse=True)
    spike = _spike_layer(scan)  # named on its own tick, left of the cells: covers no data and no colour bar
    if spike.layer not in axis["tickvals"]:
        axis["tickvals"] = sorted(axis["tickvals"] + [spike.layer])
    axis["ticktext"] = [f"<b>spike ch {spike.out_channel} → {v}</b>" if v == spike.layer else str(v) for v in axis["tickvals"]]
    fig.update_yaxes(title="layer", **axis)
    fig.update_layout(title="max |activation| by layer (log colour)", height=max(360, 16 * len(layers)),
                      margin=dict(l=50, r=20, t=50, b=30))
    return fig


def token_heatmap(scan) -> go.Figure:
    """Layers x tokens: |output| at the tracked channel (scan.channel_trace), else the max over channels."""
    rows = scan.channel_trace if scan.channel_trace is not None else scan.token_out_max
    trace = [[float(v) for v in row] for row in rows]
    z = log10_abs(trace)
    flat = [v for row in z for v in row]
    tokens = [f"{i}:{t}" for i, t in enumerate(scan.tokens)]
    channel = getattr(scan, "track_channel", None)
    fig = go.Figure(go.Heatmap(
        z=z, x=tokens, y=list(range(len(trace))), customdata=trace, colorscale=HEAT_SCALE,
        hovertemplate="layer %{y}, token %{x}: %{customdata:,.1f}<extra></extra>",
        colorbar=log_colorbar(min(flat), max(flat), "|output|"),
    ))
    fig.update_yaxes(title="layer", **layer_axis(len(trace), reverse=True))
    fig.update_xaxes(title="token", tickangle=-45)
    name = f"channel {channel}" if scan.channel_trace is not None else "the largest channel"
    fig.update_layout(title=f"down_proj output at {name}, by layer and token (log colour)",
                      height=max(360, 16 * len(trace)), margin=dict(l=50, r=20, t=50, b=60))
    return fig


def max_per_layer(scan) -> go.Figure:
    """The paper's Fig. 2: max |down_proj input| and |output| per layer, log y; the spike marked."""
    layers = [s.layer for s in scan.layers]
    fig = go.Figure()
    fig.add_scatter(x=layers, y=[max(s.in_max, LOG_FLOOR) for s in scan.layers], mode="lines+markers", name="max |input|")
    fig.add_scatter(x=layers, y=[max(s.out_max, LOG_FLOOR) for s in scan.layers], mode="lines+markers", name="max |output|")
    spike = _spike_layer(scan)
    fig.add_annotation(x=spike.layer, y=math.log10(max(spike.out_max, LOG_FLOOR)),
                       text=f"layer {spike.layer}: {spike.out_max:,.0f}<br>in ch {spike.in_channel} → out ch {spike.out_channel}",
                       showarrow=True, arrowhead=2)
    fig.update_yaxes(type="log", title="max |activation|")
    fig.update_xaxes(title="layer", **layer_axis(len(layers)))
    fig.update_layout(title="Max down_proj activation per layer (Fig. 2 of the paper)", height=380,
                      margin=dict(l=50, r=20, t=50, b=40), legend=dict(orientation="h", y=-0.2))
    return fig
