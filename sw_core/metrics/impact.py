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
from .perplexity import DEFAULT_WINDOW, perplexity
from .prompts import next_word_prompts
from .stopwords import StopWordProbs, stopword_probabilities, stopword_shift
from .zeroshot import trivia_questions, zero_shot_accuracy


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
    progress(message) gets a line per metric."""
    say = progress or (lambda message: None)
    prompts = next_word_prompts(stop_prompts) if stop_prompts else []
    questions = trivia_questions(limit=zero_shot) if zero_shot != 0 else []
    base: StopWordProbs | None = None
    rows = []
    for ci, c in enumerate(conds):
        start = time.perf_counter()
        tag = f"[{ci + 1}/{len(conds)} {c.name}]"
        ppl = {}
        for name, body in texts.items():
            ppl[name] = perplexity(loaded, body, max_tokens=max_tokens, window=window, stride=stride, edit=c.edit,
                                   batch_size=batch_size, progress=lambda d, t, n=name: say(f"{tag} perplexity {n}: window batch {d}/{t}"))
            say(f"{tag} perplexity {name} = {ppl[name]:.4g}")
        acc = None
        if questions:
            acc = zero_shot_accuracy(loaded, c.edit, questions=questions, batch_size=4 * batch_size).accuracy
            say(f"{tag} zero-shot accuracy = {acc:.3f}")
        shift = None
        if prompts:
            probs = stopword_probabilities(loaded, c.edit, prompts=prompts, batch_size=2 * batch_size)
            base = base or (probs if c.edit is None else stopword_probabilities(loaded, None, prompts=prompts))
            shift = stopword_shift(base, probs)
            say(f"{tag} stop-word probability x{shift.stop_mass.ratio:.3g}")
        edited = len(c.edit.factors) if c.edit else 0
        rows.append(ImpactRow(
            condition=c.name, label=c.label, edited_weights=edited, perplexity=ppl, zero_shot_accuracy=acc,
            stop_mass_ratio=shift.stop_mass.ratio if shift else None,
            target_ratio=shift.target.ratio if shift else None,
            stopword_ratios={w.word: w.ratio for w in shift.words} if shift else {},
            seconds=time.perf_counter() - start,
        ))
    return rows
