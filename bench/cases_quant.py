"""Quantization: RTN of the whole model against one copy of the same weights; bitsandbytes
int8 / NF4 forward passes against the fp32 forward pass."""

from __future__ import annotations

import logging
import warnings

import torch

from sw_core.quant import QuantSetting, quantized
from sw_core.quant.targets import decoder_linears
from .timing import Goal, paired_median_seconds, timed_result


def quant_cases(ctx):
    return rtn_cases(ctx) + ([] if ctx.quick else bnb_cases(ctx))


def rtn_cases(ctx):
    loaded = ctx.loaded
    targets = decoder_linears(loaded.model, loaded.layers)
    n_weights = sum(t.weight_view().numel() for t in targets)
    coords = [ctx.coord()]

    def copy_weights():
        # The floor for any method that writes new weights: read and write each one once.
        copies = {t.name: t.weight_view().to(torch.float32).clone() for t in targets}
        ctx.sync()
        del copies

    block = next((b for b in (128, 64, 32) if _divides(targets, b)), "row")  # the paper uses 128
    cases = {  # name -> (setting, goal in seconds: a Quantization page choice answers at once)
        "rtn_whole_model": (QuantSetting("rtn", bits=4, block=block), 0.5),
        "rtn_whole_model_aware": (QuantSetting("rtn", bits=4, block=block, aware=True), 0.5),
        "rtn_clipped_whole_model": (QuantSetting("rtn", bits=4, block=block, clip_z=3.0), 0.5),
        # six RTNs and one calibration pass: what the page's "search" clipping costs
        "rtn_clip_search_whole_model": (QuantSetting("rtn", bits=4, block=block, clip_z="search"), 5.0),
    }
    results = []
    for name, (setting, goal) in cases.items():
        def rtn(setting=setting):
            q = quantized(loaded, setting, coords)
            ctx.sync()
            del q

        rtn_t, copy_t = paired_median_seconds(rtn, copy_weights, ctx.repeats)
        results.append(timed_result(
            name, rtn_t, copy_t, unit="s", goal=Goal("value", "<=", goal),
            what=f"quantized(loaded, {setting.label}): every decoder linear, {n_weights / 1e6:.1f} M weights",
            baseline_what="cloning the same weights once (float32)",
        ))
    return results


def _divides(targets, block: int) -> bool:
    return all(t.weight_view().shape[1] % block == 0 for t in targets)


def bnb_cases(ctx):
    """bitsandbytes forward vs fp32 forward on the same tokens (the quantized load is not timed)."""
    # bitsandbytes logs a warning on every 8-bit matmul of a float32 input: thousands of lines.
    logger = logging.getLogger("bitsandbytes")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        return _bnb_cases(ctx)
    finally:
        logger.setLevel(level)


def _bnb_cases(ctx):
    loaded = ctx.loaded
    ids = ctx.ids()
    results = []
    for mode in ("bnb-int8", "bnb-nf4"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # bitsandbytes warns on every call about input casts
            qloaded = quantized(loaded, QuantSetting(mode))
        qids = ids.to(qloaded.input_device)

        def q_forward():
            with torch.no_grad():
                qloaded.model(input_ids=qids, use_cache=False)
            ctx.sync()

        def fp_forward():
            with torch.no_grad():
                loaded.model(input_ids=ids, use_cache=False)
            ctx.sync()

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            q_t, fp_t = paired_median_seconds(q_forward, fp_forward, ctx.repeats)
        results.append(timed_result(
            f"{mode.replace('-', '_')}_forward_vs_fp32", q_t, fp_t, unit="s",
            what=f"forward of {ids.shape[1]} tokens, {QuantSetting(mode).label} on {qloaded.input_device}",
            baseline_what=f"the same forward, unquantized ({str(loaded.dtype).replace('torch.', '')})",
            note="no goal: bitsandbytes kernels trade speed for memory, and differ by device",
        ))
    return results
