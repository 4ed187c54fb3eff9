"""Reading a linear layer's weight as [out, in], whatever holds it: nn.Linear, GPT-2's Conv1D
(stored [in, out]), a layer accelerate offloaded under a device map (its parameter is on 'meta'
outside its own forward), or a bitsandbytes int8 / 4-bit layer (dequantized on read).

These take the module itself, so a hook can read the weight of the module it is called with
(a deep copy of a model keeps working hooks).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .errors import UnsupportedArchitecture


def stored_weight(module: nn.Module) -> torch.Tensor:
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


def weight_view_of(module: nn.Module, transposed: bool) -> torch.Tensor:
    """The stored weight as a [out, in] view (no copy). Quantized layers: see `dense_weight_of`."""
    w = stored_weight(module)
    return w.t() if transposed else w


def dense_weight_of(module: nn.Module, transposed: bool) -> torch.Tensor:
    """The weight as a floating [out, in] tensor, dequantizing bitsandbytes layers."""
    w = stored_weight(module)
    if w.dtype.is_floating_point:
        return w.t() if transposed else w
    return _dequantize_bnb(module)


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
    import bitsandbytes.functional as bnbf

    state = copy.copy(quant_state)
    absmax = state.absmax.T.reshape(-1).to(torch.float32)  # packed as [in / block, out]
    state.original_nested = False  # the packed absmax is already plain floats
    qweight, state = bnbf._convert_weight_packed_for_cpu_inverse(data, state)
    state = copy.copy(state)
    state.absmax, state.nested, state.dtype = absmax, False, torch.float32
    return qweight, state
