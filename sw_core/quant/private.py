"""A private copy of a loaded model that shares every tensor it does not replace.

Why a copy and not in-place quantization: the loaded model is shared by every caller and must
never change. `copy.deepcopy` with a memo that maps each parameter and buffer to itself copies
only the module objects (cheap), so the copy costs the memory of the replaced weights alone.
The copy keeps the scan / edit hooks (`sw_core.instrument`): they read the weight of the module
they are called with, so on the copy they edit and record the copy's own weights.
"""

from __future__ import annotations

import copy
import time

import torch
from torch import nn

from ..loading import Loaded, wrap


def private_copy(loaded: Loaded, new_weights: dict[str, torch.Tensor], tag: str) -> Loaded:
    """A new Loaded whose modules named in `new_weights` carry those weights; all else is shared.
    A name that is a parameter, not a module ("...experts.down_proj"), replaces that parameter."""
    start = time.perf_counter()
    model = loaded.model
    memo = {id(t): t for t in list(model.parameters()) + list(model.buffers())}
    clone = copy.deepcopy(model, memo)  # hooks and the instrumented mark come along
    for name, w in new_weights.items():
        owner, attr = _owner(clone, name)
        setattr(owner, attr, nn.Parameter(w, requires_grad=False))
    return wrap(clone, loaded.tokenizer, ref=loaded.ref, source=f"{loaded.source} [{tag}]",
                from_cache=loaded.from_cache, start=start)


def _owner(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    try:
        return model.get_submodule(name), "weight"
    except AttributeError:  # a parameter: its module and its attribute name
        parent, _, attr = name.rpartition(".")
        return model.get_submodule(parent), attr
