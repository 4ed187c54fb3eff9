"""The control experiment: turn off the largest weights that are NOT super weights.

The paper (Table 1, "Prune Non-SW") zeroes the top 1e-6 largest-magnitude weights of each
linear layer, about 7,000 weights in Llama-7B, and sees almost no change: size alone does not
make a weight super. Scopes:
- "matrix" (default): the k largest |W| in each down projection that holds a super weight;
- "all": the k largest |W| in every layer's down projection (k x layers weights in all).
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
    if scope == "matrix":
        layers = sorted({c.layer for c in exclude})
        if not layers:
            raise BadInput("Scope 'matrix' needs the super weights (their matrix); none given: use scope='all'.")
    else:
        layers = list(range(loaded.num_layers))
    coords: list[Coord] = []
    for layer in layers:
        w = loaded.layers[layer].dense_weight().detach().abs().float().clone()  # [out, in]
        for c in exclude:
            if c.layer == layer:
                w[c.row, c.col] = -1.0
        top = w.flatten().topk(min(k, w.numel())).indices
        cols = w.shape[1]
        coords += [Coord(layer, int(i) // cols, int(i) % cols) for i in top.tolist()]
    return coords


def control_edit(loaded, exclude, k: int = 100, scope: str = "matrix") -> Edit:
    """An Edit that turns off `largest_other_weights(loaded, exclude, k, scope)`."""
    return Edit.of({c: 0.0 for c in largest_other_weights(loaded, exclude, k, scope)})
