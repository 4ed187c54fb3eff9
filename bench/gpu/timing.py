"""Timing and memory helpers shared by the parts of the check (CPU or CUDA alike)."""

from __future__ import annotations

import gc
import time

import torch

from bench.context import BenchContext, bench_text
from bench.timing import median_seconds, paired_median_seconds


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def free(device: str) -> None:
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def seconds(fn, device: str) -> tuple[float, object]:
    """Wall seconds of one call of fn (GPU work included), and its result."""
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


def paired(fn, baseline_fn, device: str, repeats: int) -> tuple[float, float]:
    """Median seconds of fn and of baseline_fn, timed alternately (a slow phase hits both)."""
    def synced(f):
        return lambda: (f(), sync(device))

    a, b = paired_median_seconds(synced(fn), synced(baseline_fn), repeats)
    return a.median, b.median


def per_call(fn, device: str, repeats: int, inner: int) -> float:
    return median_seconds(lambda: (fn(), sync(device)), repeats, warmup=1, inner=inner).median


def peak_bytes(fn, device: str) -> int | None:
    """Peak GPU memory fn allocates above what was allocated before it (None off CUDA)."""
    if not device.startswith("cuda"):
        return None
    free(device)
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()  # the peak restarts from what is allocated now
    fn()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated()
    return peak - before


def text_of(loaded, tokens: int) -> str:
    """A prefix of the bench's text (the shipped Britannica article, else its built-in paragraph,
    repeated) of at most `tokens` tokens, at a word boundary."""
    body = bench_text()
    while len(body) < 8 * tokens:  # enough words for any tokenizer
        body += " " + body
    return BenchContext(loaded, tokens=tokens, text=body).prompt()


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b in (None, 0) else a / b
