"""Test models: tiny random models of every supported architecture, and plants that give them super weights.

For tests and benchmarks, never for the science: no download, a few layers, a few hundred KB.
Their "tokenizer" is a byte-level stand-in so `Loaded.encode` works on any text. The plants change
a tiny model IN PLACE:

- `plant_super_weight` / `plant_expert_super_weight`: a super weight in a dense / expert down projection.
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

from .arch import (ARCHITECTURES, MOE_ARCHITECTURES, TINY_EXPERTS, TINY_HIDDEN, TINY_INTER, TINY_MOE_INTER,
                   TINY_POSITIONS, adapter_for)
from .coord import Coord
from .loading import Loaded, wrap

# Every architecture with an adapter record has a tiny model, built from the record's tiny config.
HIDDEN, INTER, POSITIONS = TINY_HIDDEN, TINY_INTER, TINY_POSITIONS
EXPERTS, MOE_INTER = TINY_EXPERTS, TINY_MOE_INTER  # tiny Mixture-of-Experts: 4 experts of 64 channels, 2 per token
TINY_TYPES = tuple(ARCHITECTURES)
TINY_MOE_TYPES = tuple(MOE_ARCHITECTURES)


class ByteTokenizer:
    """Bytes 0-255 -> ids 3..258; 1 = BOS, 2 = EOS, 0 = PAD. Enough for encode/decode in tests."""

    bos_token_id, eos_token_id, pad_token_id = 1, 2, 0
    bos_token, eos_token, pad_token = "<s>", "</s>", "<pad>"

    def __init__(self, add_bos: bool = True):
        self.add_bos = add_bos

    def __call__(self, text, add_special_tokens=True, **_):
        ids = [b + 3 for b in text.encode("utf-8")]
        if add_special_tokens and self.add_bos:
            ids = [self.bos_token_id] + ids
        return {"input_ids": ids}

    def encode(self, text, add_special_tokens=True, **_):
        return self(text, add_special_tokens)["input_ids"]

    def decode(self, ids, skip_special_tokens=True, **_):
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        return bytes(i - 3 for i in ids if 3 <= i < 259).decode("utf-8", errors="replace")

    def convert_ids_to_tokens(self, ids):
        return [self.decode([i]) for i in ids]


def tiny_model(model_type: str = "llama", layers: int = 4, seed: int = 0) -> Loaded:
    """A random `Loaded` of `model_type` with `layers` decoder layers, fp32 on the CPU."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    config = adapter_for(model_type).tiny_config(layers)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.eval()
    model.requires_grad_(False)
    return wrap(model, ByteTokenizer(), ref=f"tiny-{model_type}", source="in-process")


def plant_super_weight(loaded: Loaded, layer: int | None = None, row: int | None = None, col: int | None = None,
                       *, weight: float = 50.0, boost: float = 30.0, seed: int = 0):
    """Make W[row, col] of `layer`'s down projection a super weight, IN PLACE: for tiny test models only.

    The feeding projection's row for input channel `col` (the gate of a gated MLP, else the first
    projection: `MlpParts.first`) is multiplied by `boost`, so x[col] fires strongly (gated MLPs:
    only the gate is boosted, so x[col] grows like the non-gated ones, boost and not boost^2), and W[row, col] = `weight`: y[row] = W[row, col] * x[col] then stands orders of
    magnitude above every other output, a massive activation in residual channel `row`. Unset
    coordinates are drawn at random (seeded) in the first half of the layers. Returns the Coord.
    """
    from .weights import weight_view_of

    g = torch.Generator().manual_seed(seed)
    pick = lambda n: int(torch.randint(n, (1,), generator=g))  # noqa: E731
    layer = pick(max(1, loaded.num_layers // 2)) if layer is None else layer
    proj = loaded.layers[layer]
    row = pick(proj.out_features) if row is None else row
    col = pick(proj.in_features) if col is None else col
    first = loaded.arch.mlp_parts(loaded.model.get_submodule(proj.block)).first
    with torch.no_grad():
        weight_view_of(first, proj.transposed)[col] *= boost  # fused gate_up_proj: rows [0, inter) are the gate
        if getattr(first, "bias", None) is not None:
            first.bias[col] *= boost
        proj.weight_view()[row, col] = weight  # a view: writes through Conv1D's transpose too
    return Coord(layer, row, col)


def plant_expert_super_weight(loaded: Loaded, layer: int, expert: int, row: int, col: int,
                              *, weight: float = 50.0, fire: float = 1.5, route: float = 20.0):
    """Make W[row, col] of expert `expert`'s down projection in MoE layer `layer` a super weight,
    IN PLACE (tiny test models only), firing deterministically on token 0 (BOS):

    with h0 the MoE layer's input at token 0 (measured in one forward pass), the router's row for
    `expert` gains `route` * h0 / |h0|^2 (its logit at token 0 rises by `route`: it is chosen
    there), the gate and up rows `col` of that expert become `fire` * h0 / |h0|^2 (both read
    `fire` at token 0, so x[col] = act(fire) * fire), and W[row, col] = `weight`. Returns the Coord.
    """
    proj = loaded.layers[layer]
    block = loaded.model.get_submodule(proj.block)
    router = loaded.arch.router_of(block)
    seen = {}
    handle = router.register_forward_pre_hook(lambda m, a: seen.setdefault("h", a[0].detach().clone()))
    try:
        with torch.no_grad():
            loaded.model(input_ids=loaded.encode("plant"), use_cache=False)  # token 0: BOS whatever follows
    finally:
        handle.remove()
    h0 = seen["h"].reshape(-1, seen["h"].shape[-1])[0]
    unit = h0 / h0.dot(h0)
    experts, inter = proj.module, proj.in_features
    with torch.no_grad():
        router.weight[expert] += route * unit
        experts.gate_up_proj[expert, col] = fire * unit  # gate rows [0, inter), up rows [inter, 2 inter)
        experts.gate_up_proj[expert, inter + col] = fire * unit
        experts.down_proj[expert, row, col] = weight
    return Coord(layer, row, col, expert)


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
    blocks = loaded.arch.blocks(model)
    for i in range(layer + 1):  # no attention or MLP up to `layer` writes the dimension
        loaded.arch.attention_of(blocks[i][1]).o_proj.weight[dim] = 0.0
        loaded.layers[i].weight_view()[dim] = 0.0
    parts = loaded.arch.mlp_parts(blocks[layer][1])
    for w in (parts.gate.weight, parts.up.weight):
        w[col] = 0.0
        w[col, dim] = gain
    loaded.layers[layer].weight_view()[row, col] = weight
    return Coord(layer, row, col)
