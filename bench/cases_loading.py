"""Time to a ready model: the fp32 cache vs dequantizing the embedded GGUF."""

from __future__ import annotations

import os
import shutil
import tempfile
import time

from sw_core.loading import EMBEDDED, load
from .timing import Goal, Timing, median_seconds, timed_result


def _gguf_load_seconds(device: str) -> float:
    """Load the embedded model once with an empty SW_CACHE (GGUF dequantized, cache written)."""
    tmp = tempfile.mkdtemp(prefix="sw-bench-cache-")
    old = os.environ.get("SW_CACHE")
    os.environ["SW_CACHE"] = tmp
    try:
        start = time.perf_counter()
        fresh = load(EMBEDDED, device=device)
        seconds = time.perf_counter() - start
        if fresh.from_cache:  # would mean the timing did not cover the GGUF path
            raise RuntimeError("expected a GGUF load into an empty cache, got a cache hit")
        del fresh
        return seconds
    finally:
        if old is None:
            os.environ.pop("SW_CACHE", None)
        else:
            os.environ["SW_CACHE"] = old
        shutil.rmtree(tmp, ignore_errors=True)


def ready_cases(ctx):
    """Only for the embedded model (other refs have no GGUF to compare with); skipped in quick mode."""
    if ctx.loaded.ref != EMBEDDED or ctx.quick:
        return []
    device = ctx.device

    def cached():
        fresh = load(EMBEDDED, device=device)
        assert fresh.from_cache
        del fresh

    cached_t = median_seconds(cached, ctx.repeats, warmup=1)
    gguf_t = Timing([_gguf_load_seconds(device)])  # ~20 s on 2 CPU cores: once is enough
    return [timed_result(
        "ready_cached_vs_gguf", cached_t, gguf_t, unit="s", goal=Goal("value", "<=", 1.0),
        what="load('embedded') from the fp32 safetensors cache",
        baseline_what="load('embedded') with an empty cache: GGUF Q4_1 dequantized, cache written (1 run)",
    )]
