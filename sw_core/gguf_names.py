"""GGUF conversion without rebuilding the same tensor-name table for every module of the model.

Why: transformers maps GGUF tensor names to its own by walking the model's modules, and asks
`gguf.get_tensor_name_map(arch, layers)` again in every module it visits (397 times for the
embedded model), each time building the whole table for every layer: 5.5 of the 19 s the
embedded model's conversion took. The table depends only on (arch, layers) and is only read, so
`built_once()` hands out one table per pair while a conversion runs, then restores the function.
"""

from __future__ import annotations

import functools
import threading
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0  # conversions running now (threads may convert at once): the last one restores


@contextmanager
def built_once():
    """Within the block, `gguf.get_tensor_name_map` returns one shared table per (arch, layers)."""
    global _depth
    import gguf

    with _lock:
        if _depth == 0:
            gguf._sw_original_name_map = gguf.get_tensor_name_map
            gguf.get_tensor_name_map = functools.lru_cache(maxsize=None)(gguf.get_tensor_name_map)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gguf.get_tensor_name_map = gguf._sw_original_name_map
                del gguf._sw_original_name_map
