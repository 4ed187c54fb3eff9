"""Per-architecture adapters: where each layer's MLP output ("down") projection lives.

The table is explicit, one row per Hugging Face `model_type`, in the spirit of transformers'
one-model-one-file code: no generic attribute search that guesses wrong on a new model.

Convention used everywhere in the project: a coordinate is `[row, col]` = `[output channel,
input channel]` of the projection's weight seen as `[out_features, in_features]`. That is the
storage layout of `nn.Linear`; GPT-2's `Conv1D` stores `[in, out]`, so its view is transposed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .errors import UnsupportedArchitecture


@dataclass(frozen=True)
class ArchSpec:
    """Where the decoder layers are, and the down projection inside each layer."""

    layers_paths: tuple[str, ...]  # tried in order: attribute paths from the CausalLM model
    down_proj: str  # attribute path inside one layer
    transposed: bool = False  # weight stored [in, out] (GPT-2 Conv1D)


_LLAMA_LIKE = ArchSpec(("model.layers",), "mlp.down_proj")

ARCHITECTURES: dict[str, ArchSpec] = {
    "llama": _LLAMA_LIKE,
    "mistral": _LLAMA_LIKE,
    "qwen2": _LLAMA_LIKE,
    "qwen3": _LLAMA_LIKE,
    "phi3": _LLAMA_LIKE,  # fused gate_up_proj; the down projection is a plain Linear
    "olmo": _LLAMA_LIKE,
    "olmo2": _LLAMA_LIKE,
    "gemma": _LLAMA_LIKE,
    "gemma2": _LLAMA_LIKE,
    "gemma3_text": _LLAMA_LIKE,
    "gemma3": ArchSpec(("model.language_model.layers", "language_model.model.layers"), "mlp.down_proj"),
    "gpt2": ArchSpec(("transformer.h",), "mlp.c_proj", transposed=True),
    "gpt_neox": ArchSpec(("gpt_neox.layers",), "mlp.dense_4h_to_h"),
    "opt": ArchSpec(("model.decoder.layers",), "fc2"),
}


def supported_list() -> str:
    return ", ".join(sorted(ARCHITECTURES))


def spec_for(model_type: str) -> ArchSpec:
    try:
        return ARCHITECTURES[model_type]
    except KeyError:
        raise UnsupportedArchitecture(
            f"Architecture '{model_type}' is not supported: no adapter says where its MLP down "
            f"projection is. Supported: {supported_list()}."
        ) from None


def _get(obj, path: str):
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass
class DownProj:
    """One layer's MLP output projection, with its weight seen as [out, in]."""

    layer: int
    name: str  # qualified module name inside the model, e.g. "model.layers.11.mlp.down_proj"
    module: nn.Module
    transposed: bool

    @property
    def out_features(self) -> int:
        return self.weight_view().shape[0]

    @property
    def in_features(self) -> int:
        return self.weight_view().shape[1]

    def weight_view(self) -> torch.Tensor:
        """The stored weight as a [out, in] view (no copy). Quantized layers: see `dense_weight`."""
        w = _stored_weight(self.module)
        return w.t() if self.transposed else w

    def dense_weight(self) -> torch.Tensor:
        """The weight as a floating [out, in] tensor, dequantizing bitsandbytes layers."""
        w = _stored_weight(self.module)
        if w.dtype.is_floating_point:
            return w.t() if self.transposed else w
        return _dequantize_bnb(self.module)

    @property
    def bias(self) -> torch.Tensor | None:
        return getattr(self.module, "bias", None)


def _stored_weight(module: nn.Module) -> torch.Tensor:
    """module.weight, or, for a layer accelerate offloaded to CPU/disk under a device map (its
    parameter sits on 'meta' outside its own forward), the offloaded copy its hook loads from."""
    w = module.weight
    if not w.is_meta:
        return w
    hook = getattr(module, "_hf_hook", None)
    for h in getattr(hook, "hooks", None) or [hook]:  # a SequentialHook holds several
        weights_map = getattr(h, "weights_map", None)
        if weights_map is not None and "weight" in weights_map:
            return weights_map["weight"]
    return w


def _dequantize_bnb(module: nn.Module) -> torch.Tensor:
    """Dequantize a bitsandbytes Linear8bitLt / Linear4bit weight to a float [out, in] tensor."""
    import bitsandbytes.functional as bnbf

    w = module.weight
    quant_state = getattr(w, "quant_state", None)
    if quant_state is not None:  # Params4bit (NF4 / FP4)
        data = w.data
        if getattr(quant_state, "packing_format_for_cpu", False):
            data, quant_state = _unpack_cpu_4bit(data, quant_state)
        return bnbf.dequantize_4bit(data, quant_state).to(torch.float32)
    scb = getattr(w, "SCB", None)
    if scb is None:
        scb = getattr(getattr(module, "state", None), "SCB", None)
    if scb is None:
        raise UnsupportedArchitecture(
            f"Cannot read the weight of {type(module).__name__}: it is quantized in a way this "
            "project does not dequantize (supported: float, bitsandbytes int8, NF4, FP4)."
        )
    return w.data.to(torch.float32) * scb.to(torch.float32).unsqueeze(1) / 127.0


def _unpack_cpu_4bit(data: torch.Tensor, quant_state):
    """Undo bitsandbytes' CPU repacking (done at the first CPU forward) on copies, for reading only.

    bitsandbytes' own inverse edits the state in place and leaves absmax transposed (and bf16);
    here it runs on a shallow copy and absmax is put back in block order.
    """
    import copy

    import bitsandbytes.functional as bnbf

    state = copy.copy(quant_state)
    absmax = state.absmax.T.reshape(-1).to(torch.float32)  # packed as [in / block, out]
    state.original_nested = False  # the packed absmax is already plain floats
    qweight, state = bnbf._convert_weight_packed_for_cpu_inverse(data, state)
    state = copy.copy(state)
    state.absmax, state.nested, state.dtype = absmax, False, torch.float32
    return qweight, state


def model_type_of(model: nn.Module) -> str:
    return getattr(model.config, "model_type", type(model).__name__)


def down_projections(model: nn.Module) -> list[DownProj]:
    """Every decoder layer's down projection, in layer order."""
    spec = spec_for(model_type_of(model))
    layers = None
    for path in spec.layers_paths:
        try:
            layers = _get(model, path)
            prefix = path
            break
        except AttributeError:
            continue
    if layers is None:
        raise UnsupportedArchitecture(
            f"{type(model).__name__} (model_type '{model_type_of(model)}') has none of the layer "
            f"lists {list(spec.layers_paths)}; it may be a variant this project does not support. "
            f"Supported: {supported_list()}."
        )
    return [
        DownProj(i, f"{prefix}.{i}.{spec.down_proj}", _get(layer, spec.down_proj), spec.transposed)
        for i, layer in enumerate(layers)
    ]
