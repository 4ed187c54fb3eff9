"""Stage 3 of detection: does the model depend on the weights the spike rules found?

The candidates that feed one super activation (layer, channel) form a group. On a short shipped
text (the first `tokens` tokens of the Britannica article, one window) the perplexity is measured three ways: unedited, with the group removed, and with a
control removed: as many of the largest other weights of the same matrix (the paper's "Prune
Non-SW", at the group's size). The group is a **super weight** group when

    ppl_ratio >= min_impact  and  ppl_ratio >= min_impact x control_ratio   (min_impact = 1.5)

(removing it at least multiplies the perplexity by `min_impact`, and by `min_impact` more than
removing the same number of the largest other weights does); otherwise it is an **activation
source**: it creates a massive activation, but the model does not need it. Each weight carries its
group's `Impact`. The unedited perplexity is measured once for every group, and every condition is one
row of one batch (per-row edits): one forward pass of a few rows where memory allows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .edits import Coord, off
from .errors import BadInput
from .metrics.control import largest_other_weights
from .metrics.perplexity import nll_under_edits
from .texts import text as shipped_text

DEFAULT_TEXT = "britannica"  # shipped prose (sw_core.texts)
DEFAULT_TOKENS = 128  # one short window: a few forward-pass equivalents in all
DEFAULT_MIN_IMPACT = 1.5  # a super weight group raises perplexity by half, and 1.5x more than the control

# The verdicts a candidate weight can carry (`SuperWeight.verdict`).
VERDICT_SUPER = "super weight"
VERDICT_SOURCE = "activation source"
VERDICT_UNVERIFIED = "unverified"


@dataclass
class Impact:
    ppl_ratio: float  # perplexity with the group removed / unedited
    control_ratio: float  # perplexity with the control removed / unedited
    group: list[list[int]]  # the group's weights, [layer, row, col] each
    verified: bool  # the rule above holds
    ppl_original: float = 0.0
    ppl_removed: float = 0.0
    ppl_control: float = 0.0
    control: list[list[int]] = field(default_factory=list)  # the control's weights
    text: str = DEFAULT_TEXT
    tokens: int = DEFAULT_TOKENS
    min_impact: float = DEFAULT_MIN_IMPACT


def default_text(tokens: int = DEFAULT_TOKENS) -> str:
    return shipped_text(DEFAULT_TEXT, max_chars=16 * tokens)  # comfortably more than `tokens` tokens


def verify_groups(loaded, weights, *, text: str | None = None, tokens: int | None = None,
                  min_impact: float | None = None, each: bool = False,
                  batch_size: int | None = None, progress=None) -> dict[tuple[int, int], Impact]:
    """Set `verdict` and `impact` on every SuperWeight of `weights`; returns (layer, channel) -> Impact.

    each=True also measures every weight of a group of several alone (`SuperWeight.alone`), against
    a control of the one largest other weight of its matrix: 1 more condition per group, 1 per weight.
    Every condition (unedited, each group removed, each control, each weight alone) is a row of one
    batch with its own edit (`metrics.perplexity.nll_under_edits`): one forward pass where memory
    allows; batch_size: rows per pass (default: as many as fit). progress(done, total): after each pass.
    """
    tokens = DEFAULT_TOKENS if tokens is None else tokens
    min_impact = DEFAULT_MIN_IMPACT if min_impact is None else min_impact
    if not isinstance(tokens, int) or tokens < 8:
        raise BadInput(f"verify_tokens={tokens!r}: give at least 8 tokens of text to measure perplexity on.")
    if not min_impact >= 1:
        raise BadInput(f"min_impact={min_impact!r} must be at least 1 (a ratio of perplexities); try {DEFAULT_MIN_IMPACT:g}.")
    body = default_text(tokens) if text is None else text
    label = DEFAULT_TEXT if text is None else "custom"
    ids = loaded.encode(body, max_tokens=tokens)[0]

    groups: dict[tuple[int, int], list] = {}
    for w in weights:
        groups.setdefault((w.activation.layer, w.activation.channel), []).append(w)
    passes = [0, 1 + sum(2 + (1 + len(m) if each and len(m) > 1 else 0) for m in groups.values())]

    def ppl(edit: Edit) -> float:
        value = perplexity(loaded, body, max_tokens=tokens, window=tokens, stride=tokens, edit=edit, batch_size=1)
        passes[0] += 1
        if progress is not None:
            progress(*passes)
        return value

    every = [w.coord for w in weights]
    conditions: dict[tuple, object] = {("original",): None}  # name -> edit, in batch-row order
    plans = []
    for key, members in groups.items():
        coords = sorted({w.coord for w in members}, key=lambda c: (c.layer, c.row, c.col))
        control = control_coords(loaded, coords, every)
        conditions[("removed", key)], conditions[("control", key)] = off(*coords), off(*control)
        if each and len(coords) > 1:
            conditions[("control one", key)] = off(*control_coords(loaded, coords[:1], every))
            for c in coords:
                conditions[("alone", c)] = off(c)
        plans.append((key, members, coords, control))
    nll = nll_under_edits(loaded, ids, list(conditions.values()), batch_size=batch_size, progress=progress)
    ppl = dict(zip(conditions, nll.double().mean(-1).exp().tolist()))
    base = ppl[("original",)]
    out = {}
    for key, members, coords, control in plans:
        removed, ctrl = ppl[("removed", key)], ppl[("control", key)]
        ratio, control_ratio = removed / base, ctrl / base
        ok = ratio >= min_impact and ratio >= min_impact * control_ratio
        impact = Impact(ratio, control_ratio, [[c.layer, c.row, c.col] for c in coords], ok, base, removed, ctrl,
                        [[c.layer, c.row, c.col] for c in control], label, tokens, min_impact)
        for w in members:
            w.impact, w.verdict = impact, VERDICT_SUPER if ok else VERDICT_SOURCE
            w.alone = {"ppl_ratio": ratio, "control_ratio": control_ratio} if len(coords) == 1 else None
        if ("control one", key) in ppl:
            one = ppl[("control one", key)] / base
            for w in members:
                w.alone = {"ppl_ratio": ppl[("alone", w.coord)] / base, "control_ratio": one}
        out[key] = impact
    return out


def control_coords(loaded, group: list[Coord], exclude: list[Coord]) -> list[Coord]:
    """As many of the largest |W| of the group's matrix as the group has, none of them a candidate."""
    layer = group[0].layer
    return largest_other_weights(loaded, [c for c in exclude if c.layer == layer], k=len(group), scope="matrix")
