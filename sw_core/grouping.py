"""Readable answers for many candidates: weights grouped by (layer, output row).

A massive activation in residual channel `row` often comes from several input columns of the
same down-projection row; listing every weight gives dozens of near-identical rows. A group is
one (layer, row[, expert]) with its columns, strongest first (by their share of the spike).
The detection itself (and its JSON) keeps every weight; this is only how it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class WeightGroup:
    layer: int
    row: int
    expert: int | None
    cols: list[int]  # strongest first
    shares: list[float]  # each column's share of the spike, same order
    values: list[float]  # each weight, same order
    verdict: str  # the group's verdict ("super weight", "activation source", "unverified"; "mixed" if they differ)
    spike: float  # the super activation's value
    token: int
    ratio: float  # the layer's spike over the typical layer's max
    ppl_ratio: float | None = None  # perplexity with the verification group removed / unedited
    control_ratio: float | None = None
    prompts: list[str] = field(default_factory=list)

    @property
    def weights(self) -> int:
        return len(self.cols)


def group_weights(weights) -> list[WeightGroup]:
    """SuperWeights grouped by (layer, row, expert), in layer order; columns strongest first."""
    groups: dict[tuple, list] = {}
    for w in weights:
        groups.setdefault((w.layer, w.row, w.expert), []).append(w)
    out = []
    for (layer, row, expert), members in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or -1)):
        members = sorted(members, key=lambda w: -abs(w.share))
        top = members[0]
        verdicts = {w.verdict for w in members}
        impact = top.impact
        prompts = list(dict.fromkeys(p for w in members for p in w.prompts))
        out.append(WeightGroup(layer, row, expert, [w.col for w in members], [w.share for w in members],
                               [w.value for w in members], verdicts.pop() if len(verdicts) == 1 else "mixed",
                               top.activation.value, top.activation.token, top.spike_ratio,
                               None if impact is None else impact.ppl_ratio,
                               None if impact is None else impact.control_ratio, prompts))
    return out


def grouped_rows(detection) -> list[dict]:
    """One table row per (layer, row) group of every candidate (super weights and activation
    sources): what the CLI prints by default and the app can show."""
    rows = []
    for g in group_weights(detection.candidates()):
        rows.append({
            "layer": g.layer, **({"expert": g.expert} if g.expert is not None else {}),
            "row": g.row, "cols (strongest first)": _cols(g.cols), "weights": g.weights,
            "verdict": g.verdict, "spike": g.spike, "token": g.token, "ratio": g.ratio,
            "top share": g.shares[0],
            "ppl x (removed)": "-" if g.ppl_ratio is None else g.ppl_ratio,
            "ppl x (control)": "-" if g.control_ratio is None else g.control_ratio,
        })
    return rows


def _cols(cols: list[int], limit: int = 5) -> str:
    shown = ", ".join(str(c) for c in cols[:limit])
    return shown + (f" +{len(cols) - limit} more" if len(cols) > limit else "")
