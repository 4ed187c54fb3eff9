"""One decoder layer's pieces for the mechanism pass, read from the architecture adapter.

The adapter record (`sw_core.arch`) says where the attention module, the norms, the MLP's
projections and activation, and the final norm are; this file turns them into what the pathway
needs: the MLP seen from one input channel of the down projection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..weights import weight_view_of


def _identity(x):
    return x


@dataclass
class ChannelFactors:
    """One layer's MLP seen from one input channel `col` of its down projection.

    x[col] = act(gate . n + b_gate) * (up . n + b_up)   (gated)   or   act(fc1 . n + b)   (plain),
    with n = mlp_norm(residual). Rows are float32 [hidden] vectors.
    """

    gated: bool
    mlp_norm: Callable  # residual [..., hidden] -> the MLP's input
    mlp_out_norm: Callable  # the down projection's output -> what is added to the residual
    act: Callable
    gate_row: torch.Tensor  # the first factor's weights for `col` (gate, or fc1)
    gate_bias: float
    up_row: torch.Tensor | None  # gated MLPs only
    up_bias: float
    parallel: bool  # GPT-NeoX parallel residual: the MLP reads the layer's input, not the post-attention residual


def decoder_layer(loaded, i: int) -> nn.Module:
    """Layer `i`'s decoder block (from the architecture adapter)."""
    return loaded.arch.blocks(loaded.model)[i][1]


def _norm(loaded, layer: nn.Module, which: str) -> Callable:
    norm = loaded.arch.norm_of(layer, which)
    return _identity if norm is None else norm


def attention_module(loaded, i: int) -> tuple[nn.Module, Callable]:
    """(attention module, the norm that feeds it) of layer `i`."""
    layer = decoder_layer(loaded, i)
    return loaded.arch.attention_of(layer), _norm(loaded, layer, "attn_norm")


def _row(module: nn.Module, transposed: bool, row: int) -> tuple[torch.Tensor, float]:
    """Weights and bias of output `row` of a projection (a Linear, or a GPT-2 Conv1D), as float32."""
    w = weight_view_of(module, transposed)[row].detach().float().clone()
    b = getattr(module, "bias", None)
    return w, (0.0 if b is None else float(b[row]))


def channel_factors(loaded, i: int, col: int) -> ChannelFactors:
    """Layer `i`'s MLP factors feeding input channel `col` of its down projection."""
    layer = decoder_layer(loaded, i)
    parts, transposed = loaded.arch.mlp_parts(layer), loaded.arch.transposed
    gate_row, gate_bias = _row(parts.first, transposed, col)
    up_row, up_bias = None, 0.0
    if parts.fused:  # Phi-3: one gate_up projection, gate rows first
        up_row, up_bias = _row(parts.up, transposed, col + loaded.layers[i].in_features)
    elif parts.gate is not None:
        up_row, up_bias = _row(parts.up, transposed, col)
    return ChannelFactors(
        gated=up_row is not None, mlp_norm=_norm(loaded, layer, "mlp_norm"),
        mlp_out_norm=_norm(loaded, layer, "mlp_out_norm"), act=parts.act, gate_row=gate_row,
        gate_bias=gate_bias, up_row=up_row, up_bias=up_bias,
        parallel=bool(getattr(loaded.config, "use_parallel_residual", False)),
    )


def mlp_out_norm(loaded, i: int) -> Callable:
    """What layer i applies to its down projection's output before adding it to the residual."""
    return _norm(loaded, decoder_layer(loaded, i), "mlp_out_norm")


def apply_vec(fn: Callable, v: torch.Tensor) -> torch.Tensor:
    """fn (a norm, an activation) on a float32 CPU vector, run where its parameters live; float32 CPU back."""
    p = next(fn.parameters(), None) if isinstance(fn, nn.Module) else None
    x = v if p is None else v.to(device=p.device, dtype=p.dtype)
    with torch.inference_mode():
        return fn(x[None])[0].float().cpu()


def final_norm_and_head(loaded) -> tuple[Callable, torch.Tensor]:
    """(the final norm before the unembedding, the unembedding weight [vocab, hidden])."""
    return loaded.arch.final_norm_of(loaded.model), loaded.model.get_output_embeddings().weight
