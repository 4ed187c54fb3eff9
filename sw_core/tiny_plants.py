"""More plants for the tiny models of `sw_core.tiny`, for detection's acceptance tests. IN PLACE.

- `teach_head`: a random tiny model predicts nothing, so removing anything leaves its perplexity
  where it was (about the vocabulary size). This fits its output head, by least squares, to the
  next tokens of one text given the model's own features (with its plants in place): the model
  then *depends* on those features on that text, as a trained model depends on its super
  activation, and a perplexity check can tell a weight it needs from one it does not.
- `plant_token_source`: a massive activation that fires on one token id only (Llama-like models):
  a super-weight-shaped source the model never uses on a text without that token.
"""

from __future__ import annotations

import torch

from .edits import Coord
from .loading import Loaded


@torch.no_grad()
def teach_head(loaded: Loaded, text: str, *, sharpness: float = 20.0, ridge: float = 1e-3) -> None:
    """Set the output head so the model predicts `text`'s next tokens from its last hidden states."""
    model = loaded.model
    ids = loaded.encode(text)
    hidden = model(input_ids=ids, output_hidden_states=True, use_cache=False).hidden_states[-1][0].float()  # [T, d]
    feats, targets = hidden[:-1], ids[0, 1:]
    head = model.get_output_embeddings()
    onehot = torch.zeros(feats.shape[0], head.weight.shape[0])
    onehot[torch.arange(feats.shape[0]), targets] = 1.0
    gram = feats.T @ feats + ridge * feats.pow(2).sum() / feats.shape[0] * torch.eye(feats.shape[1])
    w = torch.linalg.solve(gram, feats.T @ (onehot - onehot.mean(0)))  # [d, V]
    w = w * sharpness / (feats @ w).abs().max().clamp_min(1e-12)  # logits up to +-sharpness on `text`
    head.weight.copy_(w.T.to(head.weight.dtype))
    if getattr(head, "bias", None) is not None:
        head.bias.zero_()


@torch.no_grad()
def plant_token_source(loaded: Loaded, token_id: int, *, layer: int = 0, row: int = 7, col: int = 11,
                       dim: int = 0, weight: float = 50.0, gain: float = 30.0) -> Coord:
    """A massive activation y[row] at every occurrence of `token_id`, and nowhere else (Llama-like).

    Embedding dimension `dim` is zero for every token but `token_id`, and layer 0's attention does
    not write it, so after the norm it is exactly 0 elsewhere; input channel `col` of `layer`'s
    MLP reads only that dimension (gate and up), so x[col] = 0 elsewhere and W[row, col] =
    `weight` turns it into a spike of y[row] on that token alone. Returns the Coord.
    """
    model = loaded.model
    emb = model.get_input_embeddings().weight
    emb[:, dim] = 0.0
    emb[token_id, dim] = emb[token_id].abs().max() * 8
    for i in range(layer + 1):  # no attention or MLP up to `layer` writes the dimension
        block = loaded.layers[i].name.rsplit(".", 2)[0]  # "model.layers.<i>"
        model.get_submodule(block + ".self_attn.o_proj").weight[dim] = 0.0
        loaded.layers[i].weight_view()[dim] = 0.0
    mlp = model.get_submodule(loaded.layers[layer].name.rsplit(".", 1)[0])
    for name in ("gate_proj", "up_proj"):
        w = getattr(mlp, name).weight
        w[col] = 0.0
        w[col, dim] = gain
    loaded.layers[layer].weight_view()[row, col] = weight
    return Coord(layer, row, col)
