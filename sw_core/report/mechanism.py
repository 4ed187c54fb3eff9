"""The mechanism per super activation: pathway, persistence, attention sink, the words it changes."""

from __future__ import annotations

from ..mechanism import explain
from ..figures import attention_sink_figure, pathway_figure, persistence_figure, vocabulary_class_figure
from .numbers import times
from .paper import label, paper_figures
from .section import CannotRun


def build(ctx, s) -> None:
    if not ctx.coords:
        raise CannotRun("No super weight was found in this model, so there is no mechanism to explain.")
    groups = []
    for coords in ctx.groups():
        m = explain(ctx.loaded, ctx.settings.prompt, coords, with_vocabulary=ctx.settings.vocabulary)
        groups.append(m.to_dict())
        s.figures += [pathway_figure(p) for p in m.pathway]
        s.figures += [persistence_figure(m.persistence), attention_sink_figure(m.attention_sink)]
        if m.vocabulary is not None:
            s.figures.append(vocabulary_class_figure(m.vocabulary))
            s.tables.append((f"words it changes (super weights {', '.join(m.super_weights)} off): next-token "
                             f"probability by class", [{"class": c.name, "original": c.original, "removed": c.removed,
                                                        "x": times(c.ratio)} for c in m.vocabulary.classes]))
            s.tables.append(("tokens its channel promotes / suppresses through the unembedding", [
                {"promoted": repr(p.token), "score +": p.score, "suppressed": repr(q.token), "score -": q.score}
                for p, q in zip(m.vocabulary.promoted[:10], m.vocabulary.suppressed[:10])]))
    sw = paper_figures()["stop_words"]
    s.notes.append(f"{label(sw['where'])}: {sw['summary']}.")
    s.data["groups"] = groups
