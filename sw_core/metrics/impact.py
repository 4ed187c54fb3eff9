"""The paper's Table 1 for one model: every condition, every metric, one row each.

Conditions (the `condition` key of each row):
- original: no edit;
- sw_off: every super weight set to 0;
- sw_off_restore_sa: super weights off, the super activation kept at its original value
  wherever it occurs (pins from `sw_core.restore`, the one implementation);
- control_topk: the k largest other weights off (`control.py`; scope "matrix" or "all");
- sw_off_only_<layer>_<row>_<col>: one super weight off (optional);
- scale_<F>: every super weight multiplied by F.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..edits import ActivationPin, Coord, Edit, off, scaled
from ..errors import BadInput
from ..restore import restore_pins
from .control import control_edit
from .perplexity import DEFAULT_WINDOW, perplexities
from .prompts import next_word_prompts
from .stopwords import stopword_probabilities_under, stopword_shift
from .zeroshot import trivia_questions, zero_shot_accuracies


@dataclass
class Condition:
    name: str
    label: str
    edit: Edit | None


@dataclass
class ImpactRow:
    condition: str
    label: str
    edited_weights: int
    perplexity: dict[str, float]
    zero_shot_accuracy: float | None
    stop_mass_ratio: float | None  # total stop-word probability, edited / original
    target_ratio: float | None  # probability of the true next (content) word, edited / original
    stopword_ratios: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def conditions(loaded, coords: list[Coord], *, pins: list[ActivationPin] | None = None, scales=(),
               control_k: int = 100, control_scope: str = "matrix", each: bool = False) -> list[Condition]:
    """The Table 1 conditions for super weights `coords`, in display order."""
    if not coords:
        raise BadInput("No super weights to remove: detection found none; pass coordinates explicitly.")
    pins = restore_pins(loaded, coords) if pins is None else pins
    out = [
        Condition("original", "original", None),
        Condition("sw_off", f"{len(coords)} super weight(s) off", off(*coords)),
        Condition("sw_off_restore_sa", "super weights off, super activation restored", Edit.of({c: 0.0 for c in coords}, pins)),
        Condition("control_topk", f"top-{control_k} other weights off ({control_scope})",
                  control_edit(loaded, coords, control_k, control_scope)),
    ]
    if each and len(coords) > 1:
        out += [Condition(f"sw_off_only_{c.layer}_{c.row}_{c.col}", f"only {c} off", off(c)) for c in coords]
    for f in scales:
        out.append(Condition(f"scale_{f:g}", f"super weights x {f:g}", scaled(coords, float(f))))
    return out


def impact_rows(loaded, conds: list[Condition], *, texts: dict[str, str], max_tokens: int | None = 1024,
                window: int = DEFAULT_WINDOW, stride: int | None = None, zero_shot: int | None = None,
                stop_prompts: int = 64, batch_size: int = 4, progress=None) -> list[ImpactRow]:
    """Measure every condition. zero_shot: how many trivia questions (None: all, 0: skip).
    progress(message) gets a line per metric.

    The conditions share every forward pass (per-row edits that branch at the first edited
    layer): each window, question batch and prompt batch runs once for all of them. `seconds` of
    a row is then its share of the whole measurement.
    """
    if not conds:  # nothing to measure (e.g. a sweep whose points Table 1 already has)
        return []
    say = progress or (lambda message: None)
    start = time.perf_counter()
    edits = [c.edit for c in conds]
    tag = f"[{len(conds)} conditions]"
    ppl: list[dict[str, float]] = [{} for _ in conds]
    for name, body in texts.items():
        values = perplexities(loaded, body, edits, max_tokens=max_tokens, window=window, stride=stride,
                              batch_size=batch_size,
                              progress=lambda d, t, n=name: say(f"{tag} perplexity {n}: window batch {d}/{t}"))
        for row, v in zip(ppl, values):
            row[name] = v
        say(f"{tag} perplexity {name} = " + ", ".join(f"{v:.4g}" for v in values))
    acc = [None] * len(conds)
    if zero_shot != 0:
        questions = trivia_questions(limit=zero_shot)
        acc = [r.accuracy for r in zero_shot_accuracies(
            loaded, edits, questions=questions, batch_size=4 * batch_size,
            progress=lambda d, t: say(f"{tag} zero-shot: question batch {d}/{t}"))]
        say(f"{tag} zero-shot accuracy = " + ", ".join(f"{a:.3f}" for a in acc))
    shifts = [None] * len(conds)
    if stop_prompts:
        prompts = next_word_prompts(stop_prompts)
        # Every ratio is taken against the unedited model: measured once, with the conditions.
        base = edits.index(None) if None in edits else len(edits)
        probs = stopword_probabilities_under(loaded, edits + [None] * (base == len(edits)), prompts=prompts,
                                             batch_size=2 * batch_size)
        shifts = [stopword_shift(probs[base], p) for p in probs[:len(edits)]]
        say(f"{tag} stop-word probability " + ", ".join(f"x{s.stop_mass.ratio:.3g}" for s in shifts))
    seconds = (time.perf_counter() - start) / len(conds)
    rows = []
    for c, p, a, shift in zip(conds, ppl, acc, shifts):
        rows.append(ImpactRow(
            condition=c.name, label=c.label, edited_weights=len(c.edit.factors) if c.edit else 0, perplexity=p,
            zero_shot_accuracy=a, stop_mass_ratio=shift.stop_mass.ratio if shift else None,
            target_ratio=shift.target.ratio if shift else None,
            stopword_ratios={w.word: w.ratio for w in shift.words} if shift else {},
            seconds=seconds,
        ))
    return rows
