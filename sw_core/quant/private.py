"""A private copy of a loaded model that shares every tensor it does not replace.

Why a copy and not in-place quantization: the loaded model is shared by every caller and must
never change. `copy.deepcopy` with a memo that maps each parameter and buffer to itself copies
only the module objects (cheap), so the copy costs the memory of the replaced weights alone.
Hooks registered on the original (edits, scans) are dropped from the copy: their closures point
at the original modules; the copy gets its own on first use.
"""

from __future__ import annotations

import copy
import threading
import time

import torch
from torch import nn

from ..arch import down_projections
from ..loading import Loaded

_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_forward_hooks_with_kwargs",
               "_forward_pre_hooks_with_kwargs", "_forward_hooks_always_called",
               "_backward_hooks", "_backward_pre_hooks")


def private_copy(loaded: Loaded, new_weights: dict[str, torch.Tensor], tag: str) -> Loaded:
    """A new Loaded whose modules named in `new_weights` carry those weights; all else is shared."""
    start = time.perf_counter()
    model = loaded.model
    memo = {id(t): t for t in list(model.parameters()) + list(model.buffers())}
    clone = copy.deepcopy(model, memo)
    for m in clone.modules():
        for attr in _HOOK_DICTS:
            d = getattr(m, attr, None)
            if d:
                d.clear()
    for attr in [a for a in vars(clone) if a.startswith("_sw_")]:
        delattr(clone, attr)
    for name, w in new_weights.items():
        clone.get_submodule(name).weight = nn.Parameter(w, requires_grad=False)
    return Loaded(
        model=clone,
        tokenizer=loaded.tokenizer,
        ref=loaded.ref,
        model_type=loaded.model_type,
        layers=down_projections(clone),
        from_cache=loaded.from_cache,
        load_seconds=time.perf_counter() - start,
        source=f"{loaded.source} [{tag}]",
        lock=threading.RLock(),
    )
