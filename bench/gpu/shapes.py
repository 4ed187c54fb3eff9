"""Llama-shaped models built from a config on the target device, and a planted super weight.

Random weights (the config's normal init, run on the device itself: no checkpoint, no download).
The plant follows the mechanism the paper describes: one input channel `col` of the down
projection fires strongly on some tokens, and W[row, col] turns it into a massive output in
residual channel `row` (the super activation).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sw_core.edits import Coord
from sw_core.loading import Loaded, wrap


@dataclass(frozen=True)
class Shape:
    name: str
    hidden: int
    intermediate: int
    layers: int
    heads: int
    vocab: int
    plant: Coord  # (layer, row = residual channel, col = intermediate channel)
    context: int = 4096
    kv_heads: int | None = None  # grouped-query attention's key/value heads (None: as many as heads)


# Llama-7B's shape and the super weight the paper reports for it (layer 2, [3968, 7003]).
LLAMA_7B = Shape("llama-7b-shape", 4096, 11008, 32, 32, 32000, Coord(2, 3968, 7003))
# The same pipeline in seconds on a CPU: widths that block-128 RTN divides, the plant in layer 2.
TINY = Shape("tiny-llama-shape", 128, 384, 4, 4, 320, Coord(2, 97, 301), context=2048)
# Qwen2.5-1.5B's widths, heads and vocabulary (as a Llama: no attention biases), planted in layer 2
# (column 5020 fires on most of the paper's prompt under the embedded tokenizer; not every column does).
QWEN_1_5B = Shape("qwen2.5-1.5b-shape", 1536, 8960, 28, 12, 151_936, Coord(2, 1000, 5020), context=4096, kv_heads=2)

GATE_NORM = 40.0  # |gate row col|: gate[col] ~ N(0, 40^2) at unit-RMS inputs, so SiLU passes ~40 on half the tokens
UP_NORM = 4.0  # |up row col|: x[col] = silu(gate) * up reaches ~100 there, at any width
STRENGTH = 300.0  # the spike stands ~300x above the median layer maximum (detection needs 50x) and the residual


def as_lists(coords) -> list[list[int]]:
    """Coords as [layer, row, col] lists, for JSON."""
    return [[c.layer, c.row, c.col] for c in coords]


def build(shape: Shape, device: str, dtype: torch.dtype, seed: int = 0) -> Loaded:
    """A random Llama of `shape`, created directly on `device` in `dtype` (no CPU copy, no download)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from sw_core.testing import ByteTokenizer

    config = LlamaConfig(hidden_size=shape.hidden, intermediate_size=shape.intermediate,
                         num_hidden_layers=shape.layers, num_attention_heads=shape.heads,
                         num_key_value_heads=shape.kv_heads or shape.heads, vocab_size=shape.vocab,
                         max_position_embeddings=shape.context, tie_word_embeddings=False,
                         bos_token_id=1, eos_token_id=2, pad_token_id=0)
    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # works with any transformers version (dtype= / torch_dtype= differ)
    try:
        with torch.device(device):
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    model.eval()
    model.requires_grad_(False)
    return wrap(model, ByteTokenizer(), ref=shape.name, source="in-process")


@torch.no_grad()
def plant(loaded: Loaded, at: Coord, prompt: str) -> dict:
    """Make W[at.row, at.col] of layer at.layer's down projection a super weight, IN PLACE.

    The gate and up rows of channel `col` get fixed norms, so x[col] fires at any model width;
    then one scan measures how large x[col] gets on `prompt` and how large the layers' outputs
    normally are. The column's other weights are shrunk so that x[col] alone moves no output past
    that ordinary size (else every row of the column would spike), and W[row, col] is sized so
    the spike stands STRENGTH times above it and above the residual stream it enters. Returns
    what was measured and written.
    """
    from sw_core.scan import scan

    mlp = loaded.model.model.layers[at.layer].mlp
    for proj, norm in ((mlp.gate_proj, GATE_NORM), (mlp.up_proj, UP_NORM)):
        row = proj.weight[at.col].float()
        proj.weight[at.col] = (row * (norm / row.norm())).to(proj.weight.dtype)
    stats = scan(loaded, prompt).layers
    if stats[at.layer].in_channel != at.col:
        # The random gate row points away from the prompt's hidden states at every token, so the
        # gate closes (about 1 init in 10 on the tiny shape): the opposite direction opens it.
        mlp.gate_proj.weight[at.col] = -mlp.gate_proj.weight[at.col]
        stats = scan(loaded, prompt).layers
    fired = stats[at.layer]
    if fired.in_channel != at.col:
        raise RuntimeError(f"planting: channel {at.col} did not fire (largest input was channel {fired.in_channel})")
    typical = sorted(s.out_max for s in stats)[len(stats) // 2]
    column = mlp.down_proj.weight[:, at.col]
    largest = float(column.float().abs().max()) * fired.in_max  # the column's largest contribution now
    if largest > typical:
        column *= typical / largest
    # Massive against the layers' outputs (what detection measures) and against the residual
    # stream it enters (what makes it a super activation: it dominates every later layer's input).
    ids = loaded.encode(prompt)
    residual = float(loaded.model(input_ids=ids, output_hidden_states=True).hidden_states[at.layer].abs().max())
    column[at.row] = STRENGTH * max(typical, residual) / fired.in_max
    return {"x_col_max": fired.in_max, "typical_layer_max": typical, "residual_max": residual,
            "weight": float(column[at.row])}
