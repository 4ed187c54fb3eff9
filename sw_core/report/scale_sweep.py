"""The scale sweep: perplexity and zero-shot accuracy as the super weights are scaled from 0 to 3,
the optimum marked.

Two sweeps. The joint one multiplies every super weight by the same factor; its points at 0 and 1
are Table 1's "super weights off" and "original" rows (the same edit, the same texts and windows),
so the two never disagree. When there are several super weights, the per-weight one scales EACH
alone (the others at 1), at a smaller size (`weight_sweep_tokens` per text, `weight_sweep_questions`
questions, `weight_sweep_scales`) so the report stays within its CPU goal: its points compare
with each other, not with Table 1.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..edits import scaled
from ..metrics.impact import Condition
from .measure import rows, zero_shot_count
from .numbers import Percent, num, pct, plural, scale
from .paper import label, paper_figures
from .section import CannotRun

ANCHORS = {0.0: "sw_off", 1.0: "original"}  # sweep factor -> Table 1 row
FROM = {"sw_off": "Table 1 (super weights off)", "original": "Table 1 (original)"}
STAR = dict(symbol="star", size=16, line=dict(width=1, color="black"))


def build(ctx, s) -> None:
    st = ctx.settings
    if not ctx.coords:
        raise CannotRun("No super weight was found in this model, so there is nothing to scale.")
    questions, why = zero_shot_count(st.sweep_questions)
    if why:
        s.notes.append(why)
    table1 = ctx.shared.get("table1", {})
    reuse = table1 and ctx.shared.get("table1_questions") == questions
    todo = [f for f in st.sweep_scales if not (reuse and f in ANCHORS)]
    conds = [Condition(f"scale_{f:g}", f"super weights x {f:g}", scaled(ctx.coords, f)) for f in todo]
    measured = dict(zip(todo, rows(ctx.loaded, conds, st, questions=questions, stop_prompts=0)))
    if reuse:
        measured.update({f: table1[name] for f, name in ANCHORS.items()})
    points = [dict(_point(f, measured[f]), **{"from": f"table1.{ANCHORS[f]}" if reuse and f in ANCHORS else "measured"})
              for f in st.sweep_scales]
    best_ppl, best_acc = _best(points)
    paper = paper_figures()["scaling"]
    s.data.update({
        "super_weights": [c.to_dict() for c in ctx.coords], "scaled_together": True,
        "settings": {"texts": list(st.texts), "max_tokens": st.max_tokens, "window": st.window, "questions": questions},
        "points": points, "best_perplexity_scale": best_ppl["scale"],
        "best_accuracy_scale": best_acc["scale"] if best_acc else None, "paper": paper,
    })
    together = "The super weight is" if len(ctx.coords) == 1 else f"All {len(ctx.coords)} super weights are"
    s.notes.append(f"{together} multiplied by the same factor (0 = removed, 1 = original). Lowest mean perplexity "
                   f"at {scale(best_ppl['scale'])}"
                   + (f"; best zero-shot accuracy at {scale(best_acc['scale'])}" if best_acc else "") + ". "
                   + f"{label(paper['where'])}: average zero-shot accuracy " + "; ".join(
                       f"{m} {pct(v['zero_shot_avg_original'] / 100, 2)} -> {pct(v['zero_shot_avg_best'] / 100, 2)}"
                       for m, v in paper["models"].items()) + " (original -> best scale).")
    s.tables.append((f"scale sweep, all super weights together ({num(st.max_tokens)} tokens per text, "
                     f"{plural(questions, 'question')})", _table(points, best_ppl, best_acc, FROM)))
    s.figures.append(_figure({"all super weights": points}, "Scaling the super weights together (0 = removed, 1 = original)"))
    _per_weight(ctx, s)


def _per_weight(ctx, s) -> None:
    """Each super weight scaled alone, the others at 1: which of them the optimum comes from."""
    st, coords = ctx.settings, ctx.coords
    if len(coords) < 2:
        s.data["per_weight"] = None
        s.notes.append("One super weight: the sweep above is also its own per-weight sweep.")
        return
    if st.weight_sweep_max == 0:
        s.data["per_weight"] = None
        s.notes.append("Per-weight sweep: skipped (weight_sweep_max=0).")
        return
    swept = sorted(coords, key=lambda c: -abs(_value(ctx, c)))[:st.weight_sweep_max]
    questions, why = zero_shot_count(st.weight_sweep_questions)
    tokens = min(st.weight_sweep_tokens, st.max_tokens)
    factors = sorted(set(st.weight_sweep_scales) | {0.0, 1.0})
    conds = [Condition("original", "original", None)]
    conds += [Condition(f"{i}_{f:g}", f"{c} x {f:g}", scaled([c], f)) for i, c in enumerate(swept) for f in factors if f != 1.0]
    measured = dict(zip((c.name for c in conds),
                        rows(ctx.loaded, conds, st, questions=questions, stop_prompts=0, max_tokens=tokens)))
    weights = []
    for i, c in enumerate(swept):
        points = [_point(f, measured["original" if f == 1.0 else f"{i}_{f:g}"]) for f in factors]
        best_ppl, best_acc = _best(points)
        weights.append({"super_weight": c.to_dict(), "label": str(c), "points": points,
                        "best_perplexity_scale": best_ppl["scale"],
                        "best_accuracy_scale": best_acc["scale"] if best_acc else None})
    s.data["per_weight"] = {
        "settings": {"texts": list(st.texts), "max_tokens": tokens, "window": min(st.window, tokens),
                     "questions": questions, "scales": factors},
        "weights": weights, "left_out": [c.to_dict() for c in coords if c not in swept]}
    left = len(coords) - len(swept)
    s.notes.append(
        f"Each super weight alone (the others at 1), on {num(tokens)} tokens per text and "
        f"{plural(questions, 'question')} per point (fewer than the joint sweep, to keep the report within its CPU "
        f"goal: compare these points with each other). " + "; ".join(
            f"{w['label']}: lowest perplexity at {scale(w['best_perplexity_scale'])}"
            + (f", best accuracy at {scale(w['best_accuracy_scale'])}" if w["best_accuracy_scale"] is not None else "")
            for w in weights) + "."
        + (f" The {plural(left, 'weakest super weight')} {'is' if left == 1 else 'are'} not swept alone "
           f"(weight_sweep_max={st.weight_sweep_max})." if left else "")
        + (f" {why}" if why else ""))
    table = []
    for w in weights:
        best = _best(w["points"])
        table += [{"super weight": w["label"], **row} for row in _table(w["points"], *best, {})]
    s.tables.append(("scale sweep, each super weight alone (others at 1)", table))
    s.figures.append(_figure({w["label"]: w["points"] for w in weights},
                             "Scaling each super weight alone (the others at 1)"))


def _value(ctx, coord) -> float:
    for w in ctx.detection.super_weights:
        if (w.layer, w.row, w.col) == (coord.layer, coord.row, coord.col):
            return w.value
    return 0.0


def _point(f: float, r) -> dict:
    return {"scale": f, "perplexity": r.perplexity, "mean_perplexity": _mean(r.perplexity.values()),
            "zero_shot_accuracy": r.zero_shot_accuracy}


def _best(points):
    """(lowest mean perplexity, best accuracy or None); ties in accuracy go to the factor nearest 1."""
    best_ppl = min(points, key=lambda p: p["mean_perplexity"])
    scored = [p for p in points if p["zero_shot_accuracy"] is not None]
    best_acc = max(scored, key=lambda p: (p["zero_shot_accuracy"], -abs(p["scale"] - 1))) if scored else None
    return best_ppl, best_acc


def _table(points, best_ppl, best_acc, origin) -> list[dict]:
    out = []
    for p in points:
        marks = [m for m, b in (("lowest perplexity", best_ppl), ("best accuracy", best_acc)) if b is p]
        row = {"scale": scale(p["scale"]), **{f"ppl {k}": v for k, v in p["perplexity"].items()},
               "mean ppl": p["mean_perplexity"]}
        if p["zero_shot_accuracy"] is not None:
            row["zero-shot accuracy"] = Percent(p["zero_shot_accuracy"])
        row["optimum"] = "★ " + ", ".join(marks) if marks else ""
        if origin:
            row["from"] = origin.get(p.get("from", "").removeprefix("table1."), "measured")
        out.append(row)
    return out


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def _figure(series: dict[str, list[dict]], title: str) -> go.Figure:
    """Mean perplexity (log, left) and zero-shot accuracy (right) against the factor, a star on each optimum."""
    acc = any(p["zero_shot_accuracy"] is not None for ps in series.values() for p in ps)
    fig = make_subplots(rows=1, cols=2 if acc else 1, horizontal_spacing=0.12,
                        subplot_titles=("mean perplexity (log)", "zero-shot accuracy") if acc else None)
    colors = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
    for i, (name, points) in enumerate(series.items()):
        color = colors[i % len(colors)]
        best_ppl, best_acc = _best(points)
        x = [p["scale"] for p in points]
        y = [p["mean_perplexity"] for p in points]
        fig.add_scatter(x=x, y=y, mode="lines+markers", name=name, legendgroup=name, line=dict(color=color),
                        hovertext=[num(v) for v in y], hoverinfo="text+name", row=1, col=1)
        fig.add_scatter(x=[best_ppl["scale"]], y=[best_ppl["mean_perplexity"]], mode="markers", legendgroup=name,
                        name=f"lowest perplexity ({scale(best_ppl['scale'])})", marker=dict(color=color, **STAR),
                        hovertext=[num(best_ppl["mean_perplexity"])], hoverinfo="text+name", row=1, col=1)
        if acc and best_acc is not None:
            a = [p["zero_shot_accuracy"] for p in points]
            fig.add_scatter(x=x, y=a, mode="lines+markers", name=name, legendgroup=name, showlegend=False,
                            line=dict(color=color, dash="dash"), hovertext=[pct(v) for v in a],
                            hoverinfo="text+name", row=1, col=2)
            fig.add_scatter(x=[best_acc["scale"]], y=[best_acc["zero_shot_accuracy"]], mode="markers",
                            legendgroup=name, name=f"best accuracy ({scale(best_acc['scale'])})",
                            marker=dict(color=color, **STAR), hovertext=[pct(best_acc["zero_shot_accuracy"])],
                            hoverinfo="text+name", row=1, col=2)
    fig.update_yaxes(type="log", row=1, col=1)
    if acc:
        fig.update_yaxes(tickformat=".0%", rangemode="tozero", row=1, col=2)
    fig.update_xaxes(title="scale factor (0 = removed, 1 = original)")
    fig.update_layout(title=title, height=420, margin=dict(l=60, r=20, t=70, b=40),
                      legend=dict(orientation="h", y=-0.25))
    return fig
