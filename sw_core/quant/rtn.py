"""Weight-only round-to-nearest (RTN) quantization, block-wise, naive or super-weight aware.

Asymmetric with a float offset, as GGUF's Q4_1: each block of `block` consecutive weights along
the input dimension keeps its min m and step d = (max - min) / (2^bits - 1); a weight becomes
q = round((w - m) / d) in 0..2^bits-1 and reads back as q * d + m, so every weight inside
[min, max] is off by at most d / 2. Vectorised: a matrix is reshaped to [blocks, block] and each
step is one tensor operation, with no Python loop over blocks.

Super-weight aware (the paper's Sec. 5.2): the super weights are held out of each block's
statistics (min, max, mean, std) and written back in full precision after quantization, so one
outlier no longer stretches its block's step. Optional clipping of each block at mean +- z*std
shrinks the step further; z can be searched on calibration text (lowest output reconstruction
error X (W - Wq)^T summed over layers, as the paper chooses its clipping by reconstruction error).
"""

from __future__ import annotations

import torch

from ..errors import BadInput
from .settings import QuantSetting

Z_GRID = (2.0, 3.0, 4.0, 6.0, 8.0, None)  # None = no clipping


def block_size(block, out_features: int, in_features: int) -> int:
    """Weights per block for a matrix [out, in] (a block wider than a row is the whole row).

    A number that does not divide the row is fine: each row's last block is shorter (a ragged
    block, as bitsandbytes' blockwise quantization has at the end of a tensor), so 64, 128, 256
    and 512 work on every width.
    """
    if block == "row":
        return in_features
    if block == "tensor":
        return out_features * in_features
    return min(block, in_features)


def _blocks(w: torch.Tensor, block, hold_out: torch.Tensor | None):
    """(x [blocks, size] float32, excluded [blocks, size] bool or None, padded row width).

    Each row is padded to whole blocks; the padding is excluded from every statistic (like a
    held-out weight) and cut off again by `_unblocked`.
    """
    out_f, in_f = w.shape
    size = block_size(block, out_f, in_f)
    x = w.detach().to(torch.float32)
    width = in_f if block == "tensor" else -(-in_f // size) * size
    pad = width - in_f
    if pad:
        x = torch.nn.functional.pad(x, (0, pad))
    excluded = hold_out
    if pad:
        excluded = torch.zeros(out_f, width, dtype=torch.bool, device=x.device)
        excluded[:, in_f:] = True
        if hold_out is not None:
            excluded[:, :in_f] |= hold_out
    return x.reshape(-1, size), (None if excluded is None else excluded.reshape(-1, size)), width


def _unblocked(x: torch.Tensor, out_f: int, in_f: int, width: int) -> torch.Tensor:
    return x.reshape(out_f, width)[:, :in_f]


def fake_quantize(w: torch.Tensor, bits: int, block, *, clip_z: float | None = None,
                  hold_out: torch.Tensor | None = None) -> torch.Tensor:
    """Quantize and dequantize a [out, in] weight; returns a new float32 tensor of the same shape.

    hold_out: a bool mask [out, in] of weights kept out of the statistics and restored exactly.
    """
    out_f, in_f = w.shape
    qmax = (1 << bits) - 1
    orig, mask, width = _blocks(w, block, hold_out)
    x = orig if clip_z is None else _clipped(orig, clip_z, mask)
    lo, hi = _range(x, mask)
    step = ((hi - lo) / qmax).clamp_min_(1e-12)
    # One new tensor, then in-place passes: allocations, not arithmetic, dominate on a CPU.
    out = torch.sub(x, lo)
    out.div_(step).round_().clamp_(0, qmax).mul_(step).add_(lo)
    if mask is not None:
        out = torch.where(mask, orig, out)  # held-out weights exactly; padding is cut off below
    return _unblocked(out, out_f, in_f, width).contiguous()


def _range(x: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Each block's (min, max) [blocks, 1] over the weights not excluded by `mask`."""
    if mask is None:
        return x.amin(1, keepdim=True), x.amax(1, keepdim=True)
    lo = torch.where(mask, torch.inf, x).amin(1, keepdim=True)
    hi = torch.where(mask, -torch.inf, x).amax(1, keepdim=True)
    return torch.nan_to_num(lo, posinf=0.0), torch.nan_to_num(hi, neginf=0.0)


def _clipped(x: torch.Tensor, z: float, mask: torch.Tensor | None) -> torch.Tensor:
    """Clip each block (row of x) to mean +- z*std, statistics taken over the non-held-out weights."""
    if mask is None:
        # Two passes by hand: torch.std_mean is 9-17x slower on rows of 32-576 weights (CPU, torch 2.13)
        mean = x.mean(1, keepdim=True)
        std = (x - mean).pow_(2).mean(1, keepdim=True).sqrt_()
    else:
        keep = (~mask).to(x.dtype)
        n = keep.sum(1, keepdim=True).clamp_min_(1)
        mean = (x * keep).sum(1, keepdim=True) / n
        std = (((x - mean) * keep) ** 2).sum(1, keepdim=True).div_(n).sqrt_()
    return torch.clamp(x, mean - z * std, mean + z * std)


def step_sizes(w: torch.Tensor, bits: int, block, hold_out: torch.Tensor | None = None) -> torch.Tensor:
    """Each block's step d (no clipping), one per block in row-major order: the error bound is d / 2."""
    x, mask, _ = _blocks(w, block, hold_out)
    lo, hi = _range(x, mask)
    return ((hi - lo) / ((1 << bits) - 1)).reshape(-1)


def hold_out_masks(layers, coords) -> dict[str, torch.Tensor]:
    """Down projection name (an expert's: "<experts>.down_proj[<e>]") -> bool mask [out, in]
    marking the super weights in it."""
    from .targets import expert_target_name

    masks = {}
    for c in coords:
        p = layers[c.layer]
        name = p.name if c.expert is None else expert_target_name(p.name, "down_proj", c.expert)
        m = masks.setdefault(name, torch.zeros(p.out_features, p.in_features, dtype=torch.bool,
                                               device=p.weight_view().device))
        m[c.row, c.col] = True
    return masks


def quantized_weights(targets, setting: QuantSetting, masks: dict, clip_z=None) -> dict[str, torch.Tensor]:
    """name -> new weight in the module's own layout and dtype (nothing is written). Expert
    targets are gathered into a new copy of their fused parameter, under its qualified name."""
    out = {}
    for t in targets:
        w = t.weight_view()
        mask = masks.get(t.name) if setting.aware else None
        q = fake_quantize(w, setting.bits, setting.block, clip_z=clip_z, hold_out=mask).to(w.dtype)
        if hasattr(t, "expert"):
            out.setdefault(t.param_name, t.fused().detach().clone())[t.expert] = q
        else:
            out[t.name] = q.t().contiguous() if t.transposed else q
    return out


@torch.no_grad()
def search_clip_z(targets, setting: QuantSetting, masks: dict, inputs: dict[str, torch.Tensor],
                  grid=Z_GRID) -> tuple[float | None, dict]:
    """The z in `grid` with the lowest summed relative output error over the targets.

    inputs: name -> calibration inputs [tokens, in] of that linear layer; targets without any
    (an expert's matrices: no module of their own records inputs) do not vote.
    Returns (best z, {z: error}).
    """
    errors = {z: 0.0 for z in grid}
    for t in targets:  # each target's output energy once, not once per z (the sums add in the same order)
        if t.name not in inputs:
            continue
        x = inputs[t.name].to(torch.float32)
        w = t.weight_view().to(torch.float32)
        mask = masks.get(t.name) if setting.aware else None
        ref = x @ w.t()
        energy = (ref**2).sum().clamp_min(1e-12)
        for z in grid:
            dq = fake_quantize(w, setting.bits, setting.block, clip_z=z, hold_out=mask)
            errors[z] += float(((x @ (w - dq).t()) ** 2).sum() / energy)
    best = min(errors, key=errors.get)
    return best, errors
