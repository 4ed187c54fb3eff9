"""Where one decoder layer's pieces are, for the mechanism pass.

The architecture adapter (`sw_core.arch`) knows the blocks and each block's MLP (its projections,
gated or fused, and its activation); this file adds only what the mechanism needs around them:
the attention module and the norms before attention, before the MLP and after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..errors import UnsupportedArchitecture
from ..weights import weight_view_of


@dataclass(frozen=True)
class _Layout:
    attn: str  # the attention module, inside the layer
    attn_norm: str | None  # the norm whose output feeds attention (None: the raw residual)
    mlp_norm: str | None  # the norm whose output feeds the MLP
    mlp_out_norm: str | None = None  # a norm applied to the MLP output before it is added (Gemma 2/3, OLMo 2)


_LLAMA = _Layout("self_attn", "input_layernorm", "post_attention_layernorm")
_GEMMA2 = _Layout("self_attn", "input_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm")
_LAYOUTS = {
    **{t: _LLAMA for t in ("llama", "mistral", "qwen2", "qwen3", "olmo", "gemma")},
    "phi3": _LLAMA,
    "olmo2": _Layout("self_attn", None, None, "post_feedforward_layernorm"),
    "gemma2": _GEMMA2, "gemma3_text": _GEMMA2, "gemma3": _GEMMA2,
    "gpt2": _Layout("attn", "ln_1", "ln_2"),
    "gpt_neox": _Layout("attention", "input_layernorm", "post_attention_layernorm"),
    "opt": _Layout("self_attn", "self_attn_layer_norm", "final_layer_norm"),
}


def _identity(x):
    return x


@dataclass
class MlpParts:
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


def _layout(loaded) -> _Layout:
    try:
        return _LAYOUTS[loaded.model_type]
    except KeyError:
        raise UnsupportedArchitecture(
            f"The mechanism view does not know the layer layout of '{loaded.model_type}' yet; "
            f"supported: {', '.join(sorted(_LAYOUTS))}."
        ) from None


def decoder_layer(loaded, i: int) -> nn.Module:
    """Layer `i`'s decoder block (from the architecture adapter)."""
    return loaded.arch.blocks(loaded.model)[i][1]


def _module(layer: nn.Module, path: str | None):
    return _identity if path is None else layer.get_submodule(path)


def attention_module(loaded, i: int) -> tuple[nn.Module, Callable]:
    """(attention module, the norm that feeds it) of layer `i`."""
    lay = _layout(loaded)
    layer = decoder_layer(loaded, i)
    return layer.get_submodule(lay.attn), _module(layer, lay.attn_norm)


def _row(module: nn.Module, transposed: bool, row: int) -> tuple[torch.Tensor, float]:
    """Weights and bias of output `row` of a projection (a Linear, or a GPT-2 Conv1D), as float32."""
    w = weight_view_of(module, transposed)[row].detach().float().clone()
    b = getattr(module, "bias", None)
    return w, (0.0 if b is None else float(b[row]))


def mlp_parts(loaded, i: int, col: int) -> MlpParts:
    """Layer `i`'s MLP factors feeding input channel `col` of its down projection (the projections
    and the activation come from the architecture adapter)."""
    lay = _layout(loaded)
    layer = decoder_layer(loaded, i)
    parts, transposed = loaded.arch.mlp_parts(layer), loaded.arch.transposed
    gate_row, gate_bias = _row(parts.first, transposed, col)
    up_row, up_bias = None, 0.0
    if parts.fused:  # Phi-3: one gate_up projection, gate rows first
        up_row, up_bias = _row(parts.up, transposed, col + loaded.layers[i].in_features)
    elif parts.gate is not None:
        up_row, up_bias = _row(parts.up, transposed, col)
    return MlpParts(
        gated=up_row is not None, mlp_norm=_module(layer, lay.mlp_norm), mlp_out_norm=_module(layer, lay.mlp_out_norm),
        act=parts.act, gate_row=gate_row, gate_bias=gate_bias, up_row=up_row, up_bias=up_bias,
        parallel=bool(getattr(loaded.config, "use_parallel_residual", False)),
    )


def mlp_out_norm(loaded, i: int) -> Callable:
    """What layer i applies to its down projection's output before adding it to the residual."""
    return _module(decoder_layer(loaded, i), _layout(loaded).mlp_out_norm)


def apply_vec(fn: Callable, v: torch.Tensor) -> torch.Tensor:
    """fn (a norm, an activation) on a float32 CPU vector, run where its parameters live; float32 CPU back."""
    p = next(fn.parameters(), None) if isinstance(fn, nn.Module) else None
    x = v if p is None else v.to(device=p.device, dtype=p.dtype)
    with torch.inference_mode():
        return fn(x[None])[0].float().cpu()


def _get_attr(obj, path: str):
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def final_norm_and_head(loaded) -> tuple[Callable, torch.Tensor]:
    """(the final norm before the unembedding, the unembedding weight [vocab, hidden])."""
    base = loaded.model.base_model
    for name in ("norm", "ln_f", "final_layer_norm", "decoder.final_layer_norm", "language_model.norm"):
        try:
            norm = _get_attr(base, name)
            break
        except AttributeError:
            continue
    else:
        raise UnsupportedArchitecture(f"No final norm found in {type(loaded.model).__name__}.")
    return norm, loaded.model.get_output_embeddings().weight
