"""The scan: its time against a plain forward pass (32 / 256 / 2,048 tokens), its peak memory
against a plain forward that keeps one position of logits, its result against hooks that keep tensors."""

from __future__ import annotations

import dataclasses
import sys

import torch

from sw_core.scan import scan
from . import peak_memory
from .timing import BenchResult, Goal, paired_median_seconds, timed_result

LENGTHS = (32, 256, 2048)  # the lengths issue "a scan cheaper than a forward pass" names
TIME_GOAL = Goal("ratio", "<=", 0.85)
MEMORY_GOAL = Goal("ratio", "<=", 0.05)  # peak over a logits_to_keep=1 forward, as a share of the weights


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


def prompt_of(ctx, tokens: int) -> str:
    """A prefix of the bench text (repeated when too short) of about `tokens` tokens."""
    reps = 1
    while True:
        prompt = dataclasses.replace(ctx, text=" ".join([ctx.text] * reps)).prompt(tokens)
        if ctx.loaded.encode(prompt).shape[1] >= 0.95 * tokens or reps >= 64:
            return prompt
        reps *= 2


def _lengths(ctx) -> list[int]:
    return [ctx.tokens] if ctx.quick else sorted({*LENGTHS, ctx.tokens})


def scan_time_case(ctx, tokens: int) -> BenchResult:
    loaded = ctx.loaded
    prompt = prompt_of(ctx, tokens)
    ids = loaded.encode(prompt)

    def do_scan():
        scan(loaded, prompt)
        ctx.sync()

    def forward():
        with torch.no_grad():
            loaded.model(input_ids=loaded.encode(prompt), use_cache=False)
        ctx.sync()

    scan_t, fwd_t = paired_median_seconds(do_scan, forward, ctx.repeats)
    return timed_result(
        "scan_vs_forward" if tokens == ctx.tokens else f"scan_vs_forward_{tokens}", scan_t, fwd_t,
        unit="s", goal=TIME_GOAL,
        what=f"sw_core.scan.scan on {ids.shape[1]} tokens (decoder blocks only, maxima recorded)",
        baseline_what="model(input_ids) on the same text (tokenizing included on both sides)",
    )


def scan_memory_case(ctx) -> BenchResult | None:
    """Peak CPU memory of a scan above that of a logits_to_keep=1 forward, over the weights' bytes."""
    loaded = ctx.loaded
    if ctx.quick or ctx.device != "cpu" or not peak_memory.supported():  # a fresh process: seconds
        return None
    prompts = {str(n): prompt_of(ctx, n) for n in _lengths(ctx)}
    dtype = str(loaded.dtype).replace("torch.", "")
    got = peak_memory.measure(loaded.ref, dtype, loaded.num_layers, torch.get_num_threads(), prompts)
    weights = sum(p.numel() * p.element_size() for p in loaded.model.parameters())
    longest = got[str(max(_lengths(ctx)))]
    return BenchResult(
        "scan_peak_memory_vs_weights", float(longest["scan"] - longest["forward_keep1"]), float(weights),
        unit="bytes", goal=MEMORY_GOAL, repeats=1, baseline_repeats=1,
        what=f"peak RSS of a scan minus that of model(..., logits_to_keep=1), {longest['tokens']} tokens",
        baseline_what="bytes of the model's weights",
        note="fresh process; peak resident size reset through /proc/self/clear_refs (see bench/peak_memory.py)",
        extra={"by_length": got},
    )


def scan_cases(ctx):
    loaded = ctx.loaded
    results = [scan_time_case(ctx, n) for n in _lengths(ctx)]
    memory = scan_memory_case(ctx)
    if memory is not None:
        results.append(memory)
    prompt = ctx.prompt()
    ids = loaded.encode(prompt)
    result = scan(loaded, prompt)
    results.append(BenchResult(
        "scan_memory_vs_full_hooks", retained_bytes(result), full_tensor_hook_bytes(loaded, ids),
        unit="bytes", goal=Goal("ratio", "<=", 0.05), repeats=1, baseline_repeats=1,
        what=f"bytes the Scan result holds ({loaded.num_layers} layers x {ids.shape[1]} tokens)",
        baseline_what="bytes kept by hooks that store every down projection's input and output",
        note="deterministic: counted, not timed",
    ))
    if ctx.device.startswith("cuda"):
        results.append(_cuda_peak_case(ctx, loaded, prompt, ids))
    return results


def _cuda_peak_case(ctx, loaded, prompt, ids):
    """Peak GPU memory of a scan over that of a plain forward pass (transient buffers included)."""
    def do_scan():
        scan(loaded, prompt)

    def forward():
        with torch.no_grad():
            loaded.model(input_ids=ids, use_cache=False, logits_to_keep=1)

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
        baseline_what="the same for a plain forward pass keeping one position of logits",
    )
