"""Figures the screens share that need cached numbers (the plotting itself is in sw_core.plots)."""

from __future__ import annotations

from .computed import next_words, stopwords


def shown(token: str) -> str:
    """A token as a chart label: a leading space as ␣, a newline as ↵ (else they are invisible)."""
    return token.replace(" ", "␣").replace("\n", "↵") or "∅"


def stopword_figure(loaded, edit, *, title: str = "Next-token probability of stop words", font_size: int = 14,
                    edited_name: str = "edited"):
    """The stop-word bar chart (original vs edited, ratio on top) and the shift it shows."""
    from sw_core import plots
    from sw_core.metrics import stopword_shift

    shift = stopword_shift(stopwords(loaded, None), stopwords(loaded, edit))
    words = [shown(w.word) for w in shift.words] + ["all stop words", "true next word"]
    ratios = shift.words + [shift.stop_mass, shift.target]
    fig = plots.probability_bars(words, [r.original for r in ratios], [r.edited for r in ratios],
                                 ratios=[r.ratio for r in ratios], title=f"{title} ({shift.prompts} sentences)",
                                 font_size=font_size, names=("original", edited_name), show_ratios=edit is not None)
    return fig, shift


def next_word_figure(loaded, edit, prompt: str, *, font_size: int = 14, edited_name: str = "edited", k: int = 5):
    """Bars of the likeliest next words after `prompt`, original vs edited, and the numbers behind them."""
    from sw_core import plots

    nw = next_words(loaded, edit, prompt, k=k)
    fig = plots.probability_bars([shown(w) for w in nw.words], nw.original, nw.edited,
                                 title=f"Next word after “{prompt}”", font_size=font_size,
                                 names=("original", edited_name), show_ratios=edit is not None)
    return fig, nw


def next_word_rows(loaded, edit, prompt: str, *, font_size: int = 20, edited_name: str = "edited",
                   k: int = 3, height: int = 400):
    """The next-word chart for a projector: one row per word, the bars sideways, the ratio at the bar's end.

    Sideways because words and ratio labels then each have a row of their own: however long a word
    ("␣population") or large a ratio (÷185k), no label can run into its neighbour's.
    """
    import plotly.graph_objects as go

    from sw_core.plots import EDITED, ORIGINAL, _ratio_label

    nw = next_words(loaded, edit, prompt, k=k)
    words = [shown(w) for w in nw.words][::-1]  # the likeliest on top
    p0, p1 = nw.original[::-1], nw.edited[::-1]
    ratios = [_ratio_label(b / a if a else float("inf")) for a, b in zip(p0, p1)]
    fig = go.Figure()
    fig.add_bar(y=words, x=p1, name=edited_name, orientation="h", marker_color=EDITED,
                text=ratios if edit is not None else None, textposition="outside", cliponaxis=False,
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
    return fig, nw


MAX_TOKEN_COLUMNS = 48  # a long prompt's tokens are binned to this many heatmap columns


def token_bins(n_tokens: int, max_columns: int = MAX_TOKEN_COLUMNS) -> list[range]:
    """Consecutive token ranges, at most `max_columns` of them, each one or more tokens wide."""
    width = -(-n_tokens // max_columns)  # ceiling: every token lands in exactly one bin
    return [range(i, min(i + width, n_tokens)) for i in range(0, n_tokens, width)]


def token_heatmap(scan, max_columns: int = MAX_TOKEN_COLUMNS):
    """Layers x tokens at the tracked channel; a long prompt's tokens binned by their maximum.

    Binned by max, not thinned by skipping: a single token's super activation (token 0, ~22,500)
    would vanish from a chart that showed every 100th token. Returns (figure, how it aggregated:
    None when each column is one token).
    """
    import plotly.graph_objects as go

    from sw_core.plots import HEAT_SCALE, _layer_axis, _log10, _log_colorbar

    rows = scan.channel_trace if scan.channel_trace is not None else scan.token_out_max
    bins = token_bins(len(scan.tokens), max_columns)
    values = [[max(float(row[i]) for i in b) for b in bins] for row in rows]
    if all(len(b) == 1 for b in bins):
        names, how = [f"{b.start}:{scan.tokens[b.start]}" for b in bins], None
    else:
        names = [f"{b.start}-{b.stop - 1}" for b in bins]
        how = (f"{len(scan.tokens):,} tokens in {len(bins)} columns of up to {len(bins[0])} tokens; each cell is "
               "the largest |output| over its column's tokens, so a single token's spike still shows.")
    z = _log10(values)
    flat = [v for row in z for v in row]
    fig = go.Figure(go.Heatmap(
        z=z, x=names, y=list(range(len(values))), customdata=values, colorscale=HEAT_SCALE,
        hovertemplate="layer %{y}, token %{x}: %{customdata:,.1f}<extra></extra>",
        colorbar=_log_colorbar(min(flat), max(flat), "|output|")))
    step = -(-len(names) // 16)  # at most 16 labelled columns: the rest are in the hover
    fig.update_xaxes(title="token" if how is None else "tokens (binned)", tickangle=-90,
                     tickvals=names[::step], automargin=True)
    fig.update_yaxes(title="layer", **_layer_axis(len(values), reverse=True))
    name = f"channel {scan.track_channel}" if scan.channel_trace is not None else "the largest channel"
    fig.update_layout(title=f"down_proj output at {name}, by layer and token", margin=dict(l=50, r=20, t=50, b=60))
    return fig, how
