"""The scale sweep: perplexity and zero-shot accuracy as the super weights are scaled from 0 to 3,
the optimum marked. Its points at 0 and 1 are Table 1's "super weights off" and "original" rows
(the same edit, the same texts and windows), so the two never disagree."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..edits import scaled
from ..metrics.impact import Condition
from .measure import rows, zero_shot_count
from .paper import label, paper_figures
from .section import CannotRun

ANCHORS = {0.0: "sw_off", 1.0: "original"}  # sweep factor -> Table 1 row


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
    measured = {float(c.name[6:]): r for c, r in zip(conds, rows(ctx.loaded, conds, st, questions=questions,
                                                                  stop_prompts=0))}
    if reuse:
        measured.update({f: table1[name] for f, name in ANCHORS.items()})
    points = []
    for f in st.sweep_scales:
        r = measured[f]
        points.append({"scale": f, "perplexity": r.perplexity, "mean_perplexity": _mean(r.perplexity.values()),
                       "zero_shot_accuracy": r.zero_shot_accuracy,
                       "from": f"table1.{ANCHORS[f]}" if reuse and f in ANCHORS else "measured"})
    best_ppl = min(points, key=lambda p: p["mean_perplexity"])
    scored = [p for p in points if p["zero_shot_accuracy"] is not None]
    best_acc = max(scored, key=lambda p: (p["zero_shot_accuracy"], -abs(p["scale"] - 1))) if scored else None
    paper = paper_figures()["scaling"]
    s.data.update({
        "super_weights": [c.to_dict() for c in ctx.coords], "scaled_together": True,
        "settings": {"texts": list(st.texts), "max_tokens": st.max_tokens, "window": st.window, "questions": questions},
        "points": points, "best_perplexity_scale": best_ppl["scale"],
        "best_accuracy_scale": best_acc["scale"] if best_acc else None, "paper": paper,
    })
    s.notes.append(f"Every super weight is multiplied by the same factor. Lowest mean perplexity at x{best_ppl['scale']:g}"
                   + (f"; best zero-shot accuracy at x{best_acc['scale']:g}" if best_acc else "") + ". "
                   + f"{label(paper['where'])}: " + "; ".join(
                       f"{m} {v['zero_shot_avg_original']} -> {v['zero_shot_avg_best']}" for m, v in paper["models"].items())
                   + " (average zero-shot accuracy, %, original -> best scale).")
    s.tables.append(("scale sweep", [{"scale": p["scale"], **{f"ppl {k}": v for k, v in p["perplexity"].items()},
                                      "zero-shot acc": p["zero_shot_accuracy"], "from": p["from"]} for p in points]))
    s.figures.append(_figure(points, best_ppl, best_acc))


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def _figure(points, best_ppl, best_acc) -> go.Figure:
    acc = best_acc is not None
    fig = make_subplots(specs=[[{"secondary_y": acc}]])
    x = [p["scale"] for p in points]
    fig.add_scatter(x=x, y=[p["mean_perplexity"] for p in points], mode="lines+markers", name="mean perplexity")
    fig.add_scatter(x=[best_ppl["scale"]], y=[best_ppl["mean_perplexity"]], mode="markers", name="lowest perplexity",
                    marker=dict(symbol="star", size=16))
    if acc:
        fig.add_scatter(x=x, y=[p["zero_shot_accuracy"] for p in points], mode="lines+markers",
                        name="zero-shot accuracy", secondary_y=True)
        fig.add_scatter(x=[best_acc["scale"]], y=[best_acc["zero_shot_accuracy"]], mode="markers",
                        name="best accuracy", marker=dict(symbol="star", size=16), secondary_y=True)
        fig.update_yaxes(title="zero-shot accuracy", secondary_y=True)
    fig.update_yaxes(title="mean perplexity (log)", type="log", secondary_y=False)
    fig.update_xaxes(title="super weight scale factor")
    fig.update_layout(title="Scaling the super weights (0 = removed, 1 = original)", height=400,
                      margin=dict(l=60, r=60, t=50, b=40), legend=dict(orientation="h", y=-0.2))
    return fig
