"""A GGUF conversion that reads the file's header once and builds each tensor-name table once.

Why: transformers parses the whole GGUF header (every token of the vocabulary and every merge,
one small numpy view each) once for the config, once for the weights and once for the tokenizer,
and maps tensor names by asking `gguf.get_tensor_name_map(arch, layers)` again in every module it
visits (397 times for the embedded model), each time building the table for every layer. Within
`once()`, `gguf.GGUFReader` hands out one parsed reader per file and `get_tensor_name_map` one
table per (arch, layers); both are only read. The library's own functions are back after the
block (the last of several conversions running at once restores them).
"""

from __future__ import annotations

import functools
import os
import threading
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0  # conversions running now
_originals: dict = {}


def _shared_reader(original):
    readers: dict = {}
    readers_lock = threading.Lock()

    def reader(path, mode="r"):
        key = (os.fspath(path), mode)
        with readers_lock:
            if key not in readers:
                readers[key] = original(path, mode)
            return readers[key]

    return reader


@contextmanager
def once():
    """Within the block, a GGUF file's header is parsed once and each tensor-name table built once."""
    global _depth
    import gguf

    with _lock:
        if _depth == 0:
            _originals.update(reader=gguf.GGUFReader, names=gguf.get_tensor_name_map)
            gguf.GGUFReader = _shared_reader(gguf.GGUFReader)
            gguf.get_tensor_name_map = functools.lru_cache(maxsize=None)(gguf.get_tensor_name_map)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:  # the readers (and their open file maps) go with the wrapper
                gguf.GGUFReader = _originals.pop("reader")
                gguf.get_tensor_name_map = _originals.pop("names")
