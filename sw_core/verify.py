"""Stage 3 of detection: does the model depend on the weights the spike rules found?

The candidates that feed one super activation (layer, channel) form a group. On a short shipped
text (the first `tokens` tokens of the Britannica article, one window, one forward pass per
condition) the perplexity is measured three ways: unedited, with the group removed, and with a
control removed: as many of the largest other weights of the same matrix (the paper's "Prune
Non-SW", at the group's size). The group is a **super weight** group when

    ppl_ratio >= min_impact  and  ppl_ratio >= min_impact x control_ratio   (min_impact = 1.5)

(removing it at least multiplies the perplexity by `min_impact`, and by `min_impact` more than
removing the same number of the largest other weights does); otherwise it is an **activation
source**: it creates a massive activation, but the model does not need it. Each weight carries its
group's `Impact`. The unedited perplexity is measured once for every group.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .edits import Coord, Edit, off
from .errors import BadInput
from .metrics.control import largest_other_weights
from .metrics.perplexity import perplexity

DEFAULT_TEXT = "britannica"  # shipped prose (sw_core.texts)
DEFAULT_TOKENS = 128  # one short window: a few forward-pass equivalents in all
DEFAULT_MIN_IMPACT = 1.5  # a super weight group raises perplexity by half, and 1.5x more than the control


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
    from .texts import text

    return text(DEFAULT_TEXT, max_chars=16 * tokens)  # comfortably more than `tokens` tokens


def verify_groups(loaded, weights, *, text: str | None = None, tokens: int | None = None,
                  min_impact: float | None = None, each: bool = False, progress=None) -> dict[tuple[int, int], Impact]:
    """Set `verdict` and `impact` on every SuperWeight of `weights`; returns (layer, channel) -> Impact.

    each=True also measures every weight of a group of several alone (`SuperWeight.alone`), against
    a control of the one largest other weight of its matrix: 2 more passes per group, 1 per weight.
    progress(done, total) is called after each perplexity pass.
    """
    from .detect import VERDICT_SOURCE, VERDICT_SUPER

    tokens = DEFAULT_TOKENS if tokens is None else tokens
    min_impact = DEFAULT_MIN_IMPACT if min_impact is None else min_impact
    if not isinstance(tokens, int) or tokens < 8:
        raise BadInput(f"verify_tokens={tokens!r}: give at least 8 tokens of text to measure perplexity on.")
    if not min_impact >= 1:
        raise BadInput(f"min_impact={min_impact!r} must be at least 1 (a ratio of perplexities); try {DEFAULT_MIN_IMPACT:g}.")
    body = default_text(tokens) if text is None else text
    label = DEFAULT_TEXT if text is None else "custom"

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
    base = ppl(Edit())
    out = {}
    for key, members in groups.items():
        coords = sorted({w.coord for w in members}, key=lambda c: (c.layer, c.row, c.col))
        control = control_coords(loaded, coords, every)
        removed, ctrl = ppl(off(*coords)), ppl(off(*control))
        ratio, control_ratio = removed / base, ctrl / base
        ok = ratio >= min_impact and ratio >= min_impact * control_ratio
        impact = Impact(ratio, control_ratio, [[c.layer, c.row, c.col] for c in coords], ok, base, removed, ctrl,
                        [[c.layer, c.row, c.col] for c in control], label, tokens, min_impact)
        for w in members:
            w.impact, w.verdict = impact, VERDICT_SUPER if ok else VERDICT_SOURCE
            w.alone = {"ppl_ratio": ratio, "control_ratio": control_ratio} if len(coords) == 1 else None
        if each and len(coords) > 1:
            one = ppl(off(*control_coords(loaded, coords[:1], every))) / base
            for w in members:
                w.alone = {"ppl_ratio": ppl(off(w.coord)) / base, "control_ratio": one}
        out[key] = impact
    return out


def control_coords(loaded, group: list[Coord], exclude: list[Coord]) -> list[Coord]:
    """As many of the largest |W| of the group's matrix as the group has, none of them a candidate."""
    layer = group[0].layer
    return largest_other_weights(loaded, [c for c in exclude if c.layer == layer], k=len(group), scope="matrix")
