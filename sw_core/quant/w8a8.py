"""Simulated W8A8: INT8 weights (per output channel) and INT8 inputs of every decoder linear layer.

Simulated ("fake") quantization: values are rounded to the INT8 grid and read back as floats, so
the arithmetic error is the real one while the matmul stays a float matmul on any device.
Activations are quantized symmetrically with one scale per tensor (absmax of the whole input)
or per token (absmax of each token's row), in a forward pre-hook on each linear layer.

Super-activation aware (the paper's Sec. 5.1): at each massive input channel (the super
weights' input channels: layer 11 down_proj 1229 and 1487 on the embedded model) the value is
replaced by the median before the scale is computed, and the original value is restored after
quantizing, so one activation of ~1e3 no longer sets the step of all the others.

Why hooks on a private copy (`private.py`): the hooks are permanent and unconditional there, so
they cannot leak into the shared model; the copy shares every tensor except the INT8 weights.
"""

from __future__ import annotations

import torch

from .settings import QuantSetting

QMAX = 127


def int8_per_channel(w: torch.Tensor) -> torch.Tensor:
    """Symmetric INT8 fake quantization of a [out, in] weight, one scale per output row."""
    x = w.detach().to(torch.float32)
    scale = (x.abs().amax(1, keepdim=True) / QMAX).clamp_min_(1e-12)
    return (x / scale).round_().clamp_(-QMAX, QMAX).mul_(scale)


def int8_activation(x: torch.Tensor, granularity: str, hold: list[int] | None = None) -> torch.Tensor:
    """Symmetric INT8 fake quantization of an input [..., in]; `hold` channels kept exact."""
    y = x.to(torch.float32)
    saved = None
    if hold:
        saved = y[..., hold].clone()
        y = y.clone()
        if granularity == "token":
            y[..., hold] = y.median(dim=-1, keepdim=True).values.expand(*y.shape[:-1], len(hold))
        else:
            y[..., hold] = y.median()
    if granularity == "token":
        scale = y.abs().amax(-1, keepdim=True) / QMAX
    else:
        scale = y.abs().amax() / QMAX
    scale = scale.clamp_min(1e-12)
    q = (y / scale).round_().clamp_(-QMAX, QMAX).mul_(scale)
    if saved is not None:
        q[..., hold] = saved
    return q.to(x.dtype)


def weights(targets) -> dict[str, torch.Tensor]:
    """name -> INT8-per-channel weight in the module's own layout and dtype."""
    out = {}
    for t in targets:
        w = t.weight_view()
        q = int8_per_channel(w).to(w.dtype)
        out[t.name] = q.t().contiguous() if t.transposed else q
    return out


def held_channels(layers, coords) -> dict[str, list[int]]:
    """Down projection name -> the super weights' input channels (the massive activations)."""
    out: dict[str, list[int]] = {}
    for c in coords:
        chans = out.setdefault(layers[c.layer].name, [])
        if c.col not in chans:
            chans.append(c.col)
    return out


def install(model, targets, setting: QuantSetting, hold: dict[str, list[int]]) -> list:
    """Register the activation-quantizing pre-hooks on `model` (a private copy); returns handles."""
    handles = []
    for t in targets:
        module = model.get_submodule(t.name)
        chans = sorted(hold.get(t.name, [])) if setting.aware else None
        handles.append(module.register_forward_pre_hook(_hook(setting.granularity, chans)))
    return handles


def _hook(granularity: str, chans):
    def pre_hook(module, args):
        return (int8_activation(args[0], granularity, chans), *args[1:])

    return pre_hook
