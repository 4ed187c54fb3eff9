"""The scan: its time against a plain forward pass, its memory against hooks that keep tensors."""

from __future__ import annotations

import sys

import torch

from ..scan import scan
from .timing import BenchResult, Goal, paired_median_seconds, timed_result


def retained_bytes(obj, _seen=None) -> int:
    """Bytes held by `obj` and everything it references (tensors by storage, Python objects by
    sys.getsizeof), each object counted once."""
    seen = set() if _seen is None else _seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size() + sys.getsizeof(obj)
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(retained_bytes(k, seen) + retained_bytes(v, seen) for k, v in obj.items())
    elif isinstance(obj, (list, tuple, set, frozenset)):
        size += sum(retained_bytes(v, seen) for v in obj)
    elif hasattr(obj, "__dict__"):
        size += retained_bytes(vars(obj), seen)
    return size


def full_tensor_hook_bytes(loaded, ids: torch.Tensor) -> int:
    """What the paper's detection code keeps: every down projection's whole input and output."""
    kept = []

    def hook(module, inputs, output):
        kept.append(inputs[0].detach())
        kept.append(output.detach())

    handles = [p.module.register_forward_hook(hook) for p in loaded.layers]
    try:
        with torch.no_grad():
            loaded.model(input_ids=ids, use_cache=False)
    finally:
        for h in handles:
            h.remove()
    return retained_bytes(kept)


def scan_cases(ctx):
    loaded = ctx.loaded
    prompt = ctx.prompt()
    ids = loaded.encode(prompt)

    def do_scan():
        scan(loaded, prompt)
        ctx.sync()

    def forward():
        with torch.no_grad():
            loaded.model(input_ids=ids, use_cache=False)
        ctx.sync()

    scan_t, fwd_t = paired_median_seconds(do_scan, forward, ctx.repeats)
    tokens = ids.shape[1]
    result = scan(loaded, prompt)
    results = [
        timed_result(
            "scan_vs_forward", scan_t, fwd_t, unit="s", goal=Goal("ratio", "<=", 1.10),
            what=f"sw_core.scan.scan on {tokens} tokens (hooks on every layer, maxima only)",
            baseline_what="model(input_ids) on the same tokens, no hooks",
        ),
        BenchResult(
            "scan_memory_vs_full_hooks", retained_bytes(result), full_tensor_hook_bytes(loaded, ids),
            unit="bytes", goal=Goal("ratio", "<=", 0.05), repeats=1, baseline_repeats=1,
            what=f"bytes the Scan result holds ({loaded.num_layers} layers x {tokens} tokens)",
            baseline_what="bytes kept by hooks that store every down projection's input and output",
            note="deterministic: counted, not timed",
        ),
    ]
    if ctx.device.startswith("cuda"):
        results.append(_cuda_peak_case(ctx, do_scan, forward, loaded, ids))
    return results


def _cuda_peak_case(ctx, do_scan, forward, loaded, ids):
    """Peak GPU memory of a scan over that of a plain forward pass (transient buffers included)."""
    def peak(fn) -> int:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base

    return BenchResult(
        "scan_peak_gpu_memory_vs_forward", float(peak(do_scan)), float(peak(forward)), unit="bytes",
        goal=Goal("ratio", "<=", 1.10), repeats=1, baseline_repeats=1,
        what="peak GPU bytes allocated during a scan, above the model",
        baseline_what="the same for a plain forward pass",
    )
