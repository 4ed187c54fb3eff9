"""Plotly figures shared by the app and the CLI exports. Each takes a result dataclass, returns a Figure.

Activations span five orders of magnitude (a super activation ~1e4 next to ~1 elsewhere), so the
heatmaps colour log10 |value| and label the colour bar in plain numbers.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go

_LOG_FLOOR = 1e-3  # |values| below this are drawn as this (log of zero is undefined)
ORIGINAL, EDITED = "#1f77b4", "#d62728"
# Dark (small) to bright (large), blue-green-yellow: no warm colour at the low end, so a hot-looking
# cell is always a large value, and it reads in grey scale and for red-green colour blindness.
HEAT_SCALE = "Viridis"
MIN_LABEL_PX = 12  # text drawn on a chart (ratios, values) is never smaller than this


def _layer_axis(n_layers: int, reverse: bool = False) -> dict:
    """An axis over layers 0..n-1 with ticks only at layers that exist (every 1, 2 or 5)."""
    step = 1 if n_layers <= 32 else 2 if n_layers <= 64 else 5
    lo, hi = -0.5, n_layers - 0.5
    return dict(tickmode="array", tickvals=list(range(0, n_layers, step)), range=[hi, lo] if reverse else [lo, hi],
                autorange=False, automargin=True)


def _log10(values) -> list[list[float]] | list[float]:
    if values and isinstance(values[0], (list, tuple)):
        return [_log10(v) for v in values]
    return [math.log10(max(abs(float(v)), _LOG_FLOOR)) for v in values]


def _log_colorbar(zmin: float, zmax: float, title: str) -> dict:
    ticks = list(range(math.floor(zmin), math.ceil(zmax) + 1))
    return dict(title=title, tickvals=ticks, ticktext=[f"{10 ** t:g}" for t in ticks])


def _spike_layer(scan):
    return max(scan.layers, key=lambda s: s.out_max)


def activation_heatmap(scan) -> go.Figure:
    """Layers x {input, output}: max |down_proj input| and max |output| per layer, log colour."""
    layers = [s.layer for s in scan.layers]
    z = _log10([[s.in_max, s.out_max] for s in scan.layers])
    flat = [v for row in z for v in row]
    text = [[f"{s.in_max:,.1f} (channel {s.in_channel}, token {s.in_token})",
             f"{s.out_max:,.1f} (channel {s.out_channel}, token {s.out_token})"] for s in scan.layers]
    fig = go.Figure(go.Heatmap(
        z=z, x=["max |input|", "max |output|"], y=layers, text=text, colorscale=HEAT_SCALE,
        hovertemplate="layer %{y}, %{x}: %{text}<extra></extra>",
        colorbar=_log_colorbar(min(flat), max(flat), "|activation|"),
    ))
    axis = _layer_axis(len(layers), reverse=True)
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
    z = _log10(trace)
    flat = [v for row in z for v in row]
    tokens = [f"{i}:{t}" for i, t in enumerate(scan.tokens)]
    channel = getattr(scan, "track_channel", None)
    fig = go.Figure(go.Heatmap(
        z=z, x=tokens, y=list(range(len(trace))), customdata=trace, colorscale=HEAT_SCALE,
        hovertemplate="layer %{y}, token %{x}: %{customdata:,.1f}<extra></extra>",
        colorbar=_log_colorbar(min(flat), max(flat), "|output|"),
    ))
    fig.update_yaxes(title="layer", **_layer_axis(len(trace), reverse=True))
    fig.update_xaxes(title="token", tickangle=-45)
    name = f"channel {channel}" if scan.channel_trace is not None else "the largest channel"
    fig.update_layout(title=f"down_proj output at {name}, by layer and token (log colour)",
                      height=max(360, 16 * len(trace)), margin=dict(l=50, r=20, t=50, b=60))
    return fig


def max_per_layer(scan) -> go.Figure:
    """The paper's Fig. 2: max |down_proj input| and |output| per layer, log y; the spike marked."""
    layers = [s.layer for s in scan.layers]
    fig = go.Figure()
    fig.add_scatter(x=layers, y=[max(s.in_max, _LOG_FLOOR) for s in scan.layers], mode="lines+markers", name="max |input|")
    fig.add_scatter(x=layers, y=[max(s.out_max, _LOG_FLOOR) for s in scan.layers], mode="lines+markers", name="max |output|")
    spike = _spike_layer(scan)
    fig.add_annotation(x=spike.layer, y=math.log10(max(spike.out_max, _LOG_FLOOR)),
                       text=f"layer {spike.layer}: {spike.out_max:,.0f}<br>in ch {spike.in_channel} → out ch {spike.out_channel}",
                       showarrow=True, arrowhead=2)
    fig.update_yaxes(type="log", title="max |activation|")
    fig.update_xaxes(title="layer", **_layer_axis(len(layers)))
    fig.update_layout(title="Max down_proj activation per layer (Fig. 2 of the paper)", height=380,
                      margin=dict(l=50, r=20, t=50, b=40), legend=dict(orientation="h", y=-0.2))
    return fig


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


def value_bars(labels, series: dict[str, list[float]], *, title: str, log: bool = False, ytitle: str = "") -> go.Figure:
    """Grouped bars: one group per label, one bar per series (e.g. perplexity per quantization setting)."""
    fig = go.Figure()
    for name, values in series.items():
        fig.add_bar(x=list(labels), y=list(values), name=name, text=[f"{v:.4g}" for v in values], textposition="outside")
    fig.update_layout(title=title, barmode="group", height=380, yaxis_title=ytitle,
                      margin=dict(l=50, r=20, t=50, b=40))
    if log:
        fig.update_yaxes(type="log")
    return fig
