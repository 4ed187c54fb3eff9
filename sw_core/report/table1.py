"""Table 1 for this model: original / super weights off / off with the super activation restored /
top-k control; perplexity on the shipped texts, zero-shot accuracy, stop words. The paper's
Llama-7B figures sit beside it, labelled as the paper's."""

from __future__ import annotations

import dataclasses

from ..metrics.impact import conditions
from .measure import rows, zero_shot_count
from .numbers import Percent, num, plural, times
from .paper import label, paper_figures
from .section import CannotRun


def build(ctx, s) -> None:
    st = ctx.settings
    if not ctx.coords:
        raise CannotRun("No super weight was found in this model, so there is nothing to remove: Table 1 compares "
                        "the model with its super weights off.")
    questions, why = zero_shot_count(st.questions)
    if why:
        s.notes.append(why)
    conds = conditions(ctx.loaded, ctx.coords, control_k=st.control_k)
    measured = rows(ctx.loaded, conds, st, questions=questions, stop_prompts=st.stop_prompts)
    ctx.shared["table1"] = {r.condition: r for r in measured}
    ctx.shared["table1_questions"] = questions
    paper = paper_figures()["table1"]
    s.data.update({
        "super_weights": [c.to_dict() for c in ctx.coords],
        "settings": {"texts": list(st.texts), "max_tokens": st.max_tokens, "window": st.window, "stride": st.window,
                     "questions": questions, "stop_prompts": st.stop_prompts, "control_k": st.control_k},
        "rows": [dataclasses.asdict(r) for r in measured],
        "paper": paper,
    })
    base = measured[0]
    table = []
    for r in measured:
        row = {"condition": _label(r, len(ctx.coords), st.control_k)}
        for name, v in r.perplexity.items():
            row[f"ppl {name}"] = v
            row[f"x original ({name})"] = times(v / base.perplexity[name])
        p = paper["rows"].get(r.condition, {})
        row[f"{label(paper['where'])}: Wiki-2 ppl x original"] = (
            times(p["wiki2_ppl"] / paper["rows"]["original"]["wiki2_ppl"]) if p else None)
        if r.zero_shot_accuracy is not None:
            row["zero-shot accuracy (trivia)"] = Percent(r.zero_shot_accuracy)
        avg = p.get("zero_shot_avg")  # the paper gives percentages
        row[f"{label(paper['where'])}: zero-shot average"] = None if avg is None else Percent(avg / 100)
        if r.stop_mass_ratio is not None:
            row["stop words x"] = times(r.stop_mass_ratio)
            row["next word x"] = times(r.target_ratio)
        row["weights off"] = r.edited_weights
        table.append(row)
    s.tables.append((f"Table 1 for this model ({num(questions)} trivia questions, chance 25%; {num(st.max_tokens)} tokens per text)",
                     table))
    off = ctx.shared["table1"].get("sw_off")
    if off is not None and off.stopword_ratios:
        sw = paper_figures()["stop_words"]
        s.tables.append((f"stop words with the super weights off, probability x original; "
                         f"{label(sw['where'])}: {sw['summary']}", [
                             {"word": repr(w), "this model x": times(x), f"{label(sw['where'])} x": times(sw["ratios"].get(w.strip()))}
                             for w, x in off.stopword_ratios.items()]))


def _label(r, n: int, k: int) -> str:
    """The condition in words, plural right ("2 super weights off", "1 super weight off")."""
    sw = "super weight" if n == 1 else "super weights"
    return {"original": "original", "sw_off": f"{plural(n, 'super weight')} off",
            "sw_off_restore_sa": f"{sw} off, super activation restored",
            "control_topk": f"top-{num(k)} other weights off (control)"}.get(r.condition, r.label)
