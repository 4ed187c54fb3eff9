"""The control experiment: turn off the largest weights that are NOT super weights.

The paper (Table 1, "Prune Non-SW") zeroes the top 1e-6 largest-magnitude weights of each
linear layer, about 7,000 weights in Llama-7B, and sees almost no change: size alone does not
make a weight super. Scopes:
- "matrix" (default): the k largest |W| in each down projection that holds a super weight;
- "all": the k largest |W| in every layer's down projection (k x layers weights in all).
In a Mixture-of-Experts layer each expert's down projection is one matrix.
Super weights themselves are excluded; the result is an Edit, so nothing is written.
"""

from __future__ import annotations


from ..edits import Coord, Edit
from ..errors import BadInput

SCOPES = ("matrix", "all")


def largest_other_weights(loaded, exclude, k: int = 100, scope: str = "matrix") -> list[Coord]:
    """The `k` largest-magnitude weights per down projection in `scope`, none of them in `exclude`."""
    exclude = set(exclude)
    if not isinstance(k, int) or k < 1:
        raise BadInput(f"k={k!r}: turn off at least one weight.")
    if scope not in SCOPES:
        raise BadInput(f"Unknown scope {scope!r}: use one of {SCOPES}.")
    if scope == "matrix":  # a Mixture-of-Experts layer's matrix is one expert's down projection
        matrices = sorted({(c.layer, -1 if c.expert is None else c.expert) for c in exclude})
        if not matrices:
            raise BadInput("Scope 'matrix' needs the super weights (their matrix); none given: use scope='all'.")
    else:
        matrices = [(p.layer, e) for p in loaded.layers for e in (range(p.num_experts) if p.num_experts else [-1])]
    coords: list[Coord] = []
    for layer, e in matrices:
        expert = None if e < 0 else e
        proj = loaded.layers[layer]
        w = proj.dense_weight() if expert is None else proj.expert_weight(expert)
        w = w.detach().abs().float().clone()  # [out, in]
        for c in exclude:
            if c.layer == layer and c.expert == expert:
                w[c.row, c.col] = -1.0
        top = w.flatten().topk(min(k, w.numel())).indices
        cols = w.shape[1]
        coords += [Coord(layer, int(i) // cols, int(i) % cols, expert) for i in top.tolist()]
    return coords


def control_edit(loaded, exclude, k: int = 100, scope: str = "matrix") -> Edit:
    """An Edit that turns off `largest_other_weights(loaded, exclude, k, scope)`."""
    return Edit.of({c: 0.0 for c in largest_other_weights(loaded, exclude, k, scope)})
