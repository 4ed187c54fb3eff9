"""Quantized copies of the shared model, kept within a process-wide byte budget, and their perplexity.

Why bytes and not a count: one copy of a down-projections-only setting costs ~0.1 GB on the
embedded model, one of every linear layer ~0.4 GB, a bitsandbytes reload the whole model; a
count bounds none of that. The library does not cache (the caller decides what to keep): this
module keeps the most recently used copies whose own tensors (those not shared with the
original) fit in `budget_bytes()`, evicting the least recently used first. A copy larger than
the whole budget is returned but not kept. `SW_QUANT_CACHE_MB` sets the budget (default 1024 MB,
256 MB in public mode).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from . import limits
from .computed import PPL_TEXT, PPL_TOKENS, cached, perplexity
from .jobs import queued
from .session import model_key

DEFAULT_BUDGET_MB = 1024  # two all-layer copies of the embedded model (the page compares two settings)
# Public mode: down-projection copies (~0.1 GB) are kept, an all-layer one (~0.4 GB) is rebuilt when
# needed again (0.2 s), so four sessions stay under 2x the model + 1 GB (docs/deploy.md).
PUBLIC_BUDGET_MB = 256

_lock = threading.Lock()
_copies: OrderedDict = OrderedDict()  # key -> (Loaded, bytes), least recently used first
_building: dict = {}  # key -> Lock: one build per key, the others wait for it and reuse it


def budget_bytes() -> int:
    mb = limits.env_int("SW_QUANT_CACHE_MB", minimum=0)  # 0: keep no copy
    if mb is None:
        mb = PUBLIC_BUDGET_MB if limits.is_public() else DEFAULT_BUDGET_MB
    return mb << 20


def own_bytes(copy, original) -> int:
    """Bytes of the tensors `copy` holds that `original` does not share with it."""
    def tensors(m):
        return list(m.parameters()) + list(m.buffers())

    shared = {t.data_ptr() for t in tensors(original.model)}
    seen, total = set(), 0
    for t in tensors(copy.model):
        ptr = t.data_ptr()
        if ptr not in shared and ptr not in seen:
            seen.add(ptr)
            total += t.numel() * t.element_size()
    return total


def kept() -> dict:
    """{"copies": n, "bytes": total, "budget": budget} (for tests and the bench)."""
    with _lock:
        return {"copies": len(_copies), "bytes": sum(b for _, b in _copies.values()), "budget": budget_bytes()}


def clear() -> None:
    with _lock:
        _copies.clear()


def _get(key):
    with _lock:
        hit = _copies.get(key)
        if hit is not None:
            _copies.move_to_end(key)
            return hit[0]
    return None


def _keep(key, copy, size: int) -> None:
    budget = budget_bytes()
    with _lock:
        if size > budget:
            return  # used by this run, never kept
        _copies[key] = (copy, size)
        while sum(b for _, b in _copies.values()) > budget:
            _copies.popitem(last=False)


def quantized_model(loaded, setting, coords: tuple):
    """The quantized copy of the shared model (the shared model itself is never changed)."""
    from sw_core.quant import quantized

    key = (model_key(loaded), setting, tuple(coords))
    hit = _get(key)
    if hit is not None:
        return hit
    with _lock:
        build_lock = _building.setdefault(key, threading.Lock())
    with build_lock:  # a second session asking for the same copy waits here, then finds it kept
        hit = _get(key)
        if hit is not None:
            return hit
        try:
            with queued(f"quantize {setting.label}"):
                copy = quantized(loaded, setting, list(coords))
        finally:
            with _lock:
                _building.pop(key, None)
        if copy is not loaded:
            _keep(key, copy, own_bytes(copy, loaded))
        return copy


@cached(64)
def quant_perplexity(loaded, setting, coords: tuple, max_tokens: int = PPL_TOKENS) -> float:
    q = quantized_model(loaded, setting, coords)  # queues on its own: not nested below
    return perplexity(q, None, PPL_TEXT, max_tokens)
