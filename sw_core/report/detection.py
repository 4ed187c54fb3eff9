"""The detection section: verdicts, impact, activation sources, weak and late spikes, cross-prompt
stability and, where the model is catalogued, the published coordinates re-found or not."""

from __future__ import annotations

from ..catalog import entries_for_loaded, verify as catalog_verify
from ..detect import find_super_weights
from .numbers import Percent, plural, times
from .paper import label, paper_figures


def build(ctx, s) -> None:
    loaded, st = ctx.loaded, ctx.settings
    if ctx.detection is None:
        ctx.detection = find_super_weights(loaded, st.prompt)
    d = ctx.detection
    s.data["result"] = d.to_dict()
    paper = paper_figures()["detection"]
    if d.found:
        s.notes.append(f"{plural(len(d.super_weights), 'super weight')} on {plural(len(d.super_activations()), 'super activation')}, "
                       f"verified by removing each group against a control of as many large weights; "
                       f"{label(paper['where'])}: no model it studied has more than {paper['max_super_weights_per_model']}.")
    else:
        s.notes.append(f"No super weight found: the largest spike is {times(d.max_spike_ratio)} the typical layer "
                       f"(threshold {times(d.threshold)}). The sections that remove or scale super weights say so below.")
    s.tables.append(("candidates (super weights and activation sources)", [_weight_row(w) for w in d.candidates()]))
    if d.late_spikes:
        s.tables.append(("spikes that are not super weights (late / cancelling)", [{
            "layer": x.layer, "channel": x.channel, "token": x.token, "value": x.value, "x typical": times(x.ratio),
            "label": x.label, "size kept with SW off": None if x.shrink is None else Percent(x.shrink)} for x in d.late_spikes]))
    s.tables.append(("spikes left out (weak, and late ones that only show after a removal)", [{
        "layer": x.layer, "channel": x.channel, "token": x.token, "x typical": times(x.ratio),
        "appeared in": "first scan" if x.iteration == 0 else f"rescan {x.iteration}",
        "why": x.reason, "impact check": x.verdict or "-",
        "weights": ", ".join(f"[{w.row},{w.col}]" for w in x.candidates) or "-"} for x in d.weak_spikes]))
    _stability(ctx, s)
    _catalog(ctx, s)


def _weight_row(w) -> dict:
    i = w.impact
    return {"layer": w.layer, "[row, col]": f"[{w.row}, {w.col}]", "verdict": w.verdict, "value": w.value,
            "share of output": Percent(w.share), "super activation": w.activation.value, "token": w.activation.token,
            "x typical": times(w.spike_ratio), "appeared in": "first scan" if w.iteration == 0 else f"rescan {w.iteration}",
            "ppl x (removed)": None if i is None else times(i.ppl_ratio),
            "ppl x (control)": None if i is None else times(i.control_ratio)}


def _stability(ctx, s) -> None:
    if not ctx.settings.validate_prompts:
        s.data["stability"] = None
        s.notes.append("Cross-prompt stability: skipped (validate_prompts=False).")
        return
    from ..stability import cross_prompt_stability

    v = cross_prompt_stability(ctx.loaded)
    s.data["stability"] = v.to_dict()
    rows = [{"coordinate": str(c.coord), "found by": f"{c.found_in}/{c.total} prompts", "share of prompts": Percent(c.fraction)}
            for c in v.coordinates]
    tokens = sorted({p.activation_token for p in v.prompts if p.activation_token is not None})
    s.tables.append((f"cross-prompt stability ({len(v.prompts)} built-in prompts; super-activation "
                     f"{'token' if len(tokens) == 1 else 'tokens'}: {', '.join(map(str, tokens)) or 'none'}; {label(paper_figures()['detection']['where'])}: "
                     f"{paper_figures()['detection']['super_activation_token']})", rows))


def _catalog(ctx, s) -> None:
    if not entries_for_loaded(ctx.loaded):
        s.data["catalog"] = None
        s.notes.append("Catalog check: this model is not in the catalog of published super weights.")
        return
    checks = catalog_verify(ctx.loaded, ctx.detection)
    s.data["catalog"] = [{**c.entry.to_dict(), "refound": c.refound, "match": c.match} for c in checks]
    s.tables.append(("published coordinates for this model (catalog) and whether detection re-finds them", [{
        "coordinate": str(c.entry.coord), "re-found": "yes" if c.refound else "no", "match": c.match,
        "source": c.entry.source} for c in checks]))
