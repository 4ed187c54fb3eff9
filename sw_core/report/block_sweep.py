"""The block-size sweep: RTN int4 perplexity against block size (64 ... a whole row, a whole tensor),
naive vs super-weight aware, with and without clipping (the paper's weight-quantization figure).
"row" is one scale per output row; "tensor" one scale for each whole matrix (`sw_core.quant.rtn`)."""

from __future__ import annotations

import math

import plotly.graph_objects as go

from .. import texts as shipped
from ..metrics.perplexity import perplexity
from ..quant import QuantSetting, quantized
from .numbers import num
from .paper import label, paper_figures

BITS = 4


def build(ctx, s) -> None:
    st, loaded = ctx.settings, ctx.loaded
    body = shipped.text(st.block_text)

    def ppl(model) -> float:
        return perplexity(model, body, max_tokens=st.block_tokens, window=st.block_tokens, stride=st.block_tokens)

    awares = (False, True) if ctx.coords else (False,)
    if not ctx.coords:
        s.notes.append("No super weight was found, so there is nothing to hold out: only naive RTN is shown.")
    full = ppl(loaded)
    points = []
    for block in st.blocks:
        for clip in (None, st.clip_z):
            for aware in awares:
                setting = QuantSetting("rtn", bits=BITS, block=block, clip_z=clip, aware=aware)
                q = quantized(loaded, setting, ctx.detection)
                points.append({"block": block, "clip_z": clip, "aware": aware, "label": setting.label,
                               "perplexity": ppl(q)})
                del q  # a private copy of the quantized weights: freed before the next
    paper = paper_figures()["block_sweep"]
    s.data.update({"bits": BITS, "text": st.block_text, "tokens": st.block_tokens, "full_precision": full,
                   "super_weights": [c.to_dict() for c in ctx.coords], "points": points, "paper": paper})
    s.notes.append(f"RTN int{BITS} of every decoder linear layer; perplexity on {num(st.block_tokens)} tokens of "
                   f"{st.block_text}; full precision {num(full)}. Block sizes count weights per scale along a row; "
                   f"'whole row' is one scale per row, 'whole tensor' one per matrix. "
                   f"Clipping: each block at mean +- {st.clip_z:g} std. "
                   f"{label(paper['where'])}: {paper['summary']}.")
    s.tables.append(("RTN int4 perplexity by block size", _table(points, st)))
    s.figures.append(_figure(points, st, full))


def block_name(block) -> str:
    return {"row": "whole row", "tensor": "whole tensor"}.get(block, str(block))


def _series(points, clip, aware):
    return [p for p in points if p["clip_z"] == clip and p["aware"] == aware]


def _name(clip, aware, st) -> str:
    return ("aware" if aware else "naive") + ("" if clip is None else f", clip z={st.clip_z:g}")


def _table(points, st) -> list[dict]:
    out = []
    for block in st.blocks:
        row = {"block": block_name(block)}
        for p in points:
            if p["block"] == block:
                row[_name(p["clip_z"], p["aware"], st)] = p["perplexity"]
        out.append(row)
    return out


def _figure(points, st, full) -> go.Figure:
    fig = go.Figure()
    x = [block_name(b) for b in st.blocks]
    for clip in (None, st.clip_z):
        for aware in (False, True):
            ps = _series(points, clip, aware)
            if ps:
                y = [p["perplexity"] for p in ps]
                fig.add_scatter(x=x, y=y, mode="lines+markers", name=_name(clip, aware, st),
                                line=dict(dash="solid" if aware else "dash"), hovertext=[num(v) for v in y],
                                hoverinfo="x+text+name")
    fig.add_scatter(x=x, y=[full] * len(x), mode="lines", name=f"full precision ({num(full)})",
                    line=dict(dash="dot", color="black"), hoverinfo="name")
    values = [p["perplexity"] for p in points] + [full]
    fig.update_xaxes(title="block size (weights per scale)", type="category")
    fig.update_yaxes(title="perplexity (log)", type="log",
                     range=[math.log10(min(values)) - 0.1, math.log10(max(values)) + 0.15])
    fig.update_layout(title=f"RTN int{BITS}: perplexity against block size", height=420,
                      margin=dict(l=60, r=20, t=50, b=40), legend=dict(orientation="h", y=-0.2))
    return fig
