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


MAX_TOKEN_COLUMNS = 48  # a long prompt's tokens are binned to this many heatmap columns


def token_bins(n_tokens: int, max_columns: int = MAX_TOKEN_COLUMNS) -> list[range]:
    """Consecutive token ranges, at most `max_columns` of them, each one or more tokens wide."""
    width = -(-n_tokens // max_columns)  # ceiling: every token lands in exactly one bin
    return [range(i, min(i + width, n_tokens)) for i in range(0, n_tokens, width)]


def token_aggregation(scan, max_columns: int = MAX_TOKEN_COLUMNS) -> str | None:
    """How `token_heatmap` aggregated a long prompt's tokens (None: one column per token)."""
    bins = token_bins(len(scan.tokens), max_columns)
    if all(len(b) == 1 for b in bins):
        return None
    return (f"{len(scan.tokens):,} tokens in {len(bins)} columns of up to {len(bins[0])} tokens; each cell is "
            "the largest |output| over its column's tokens, so a single token's spike still shows.")


def token_heatmap(scan, max_columns: int = MAX_TOKEN_COLUMNS) -> go.Figure:
    """Layers x tokens: |output| at the tracked channel (scan.channel_trace), else the max over channels.

    A long prompt's tokens are binned by their maximum, not thinned by skipping: a single token's
    super activation (token 0, ~22,500) would vanish from a chart that showed every 100th token
    (`token_aggregation` says how a figure aggregated).
    """
    rows = scan.channel_trace if scan.channel_trace is not None else scan.token_out_max
    bins = token_bins(len(scan.tokens), max_columns)
    values = [[max(float(row[i]) for i in b) for b in bins] for row in rows]
    binned = any(len(b) > 1 for b in bins)
    names = ([f"{b.start}-{b.stop - 1}" for b in bins] if binned else [f"{b.start}:{scan.tokens[b.start]}" for b in bins])
    z = log10_abs(values)
    flat = [v for row in z for v in row]
    fig = go.Figure(go.Heatmap(
        z=z, x=names, y=list(range(len(values))), customdata=values, colorscale=HEAT_SCALE,
        hovertemplate="layer %{y}, token %{x}: %{customdata:,.1f}<extra></extra>",
        colorbar=log_colorbar(min(flat), max(flat), "|output|")))
    step = -(-len(names) // 16)  # at most 16 labelled columns: the rest are in the hover
    fig.update_xaxes(title="tokens (binned)" if binned else "token", tickangle=-90, tickvals=names[::step],
                     automargin=True)
    fig.update_yaxes(title="layer", **layer_axis(len(values), reverse=True))
    name = f"channel {scan.track_channel}" if scan.channel_trace is not None else "the largest channel"
    fig.update_layout(title=f"down_proj output at {name}, by layer and token (log colour)",
                      height=max(360, 16 * len(values)), margin=dict(l=50, r=20, t=50, b=60))
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
