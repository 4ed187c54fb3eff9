"""KV caches whose batch rows can be picked: one pass over shared contexts, then many continuations.

A plain cache holds, per layer, keys and values [rows, heads, tokens, dim] (transformers'
DynamicCache of full or sliding-window layers). Its rows can be gathered into a new cache, e.g.
each context's row repeated once per continuation that follows it.

Under a branching edit (`sw_core.hooks.branching`, C conditions of B sequences) a layer before the
first edited one holds the B sequences' rows, a later one the C x B branched rows (c B + b). A
layer's row count says which: that is how `rows_for` picks per layer.
"""

from __future__ import annotations

import copy

import torch


def _plain_layer_types() -> tuple[type, ...]:
    from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

    return DynamicLayer, DynamicSlidingWindowLayer


def new_cache(loaded):
    """An empty cache of the model's own layout, or None when it is not a plain per-layer
    key/value cache (linear-attention or other state: its rows cannot simply be gathered)."""
    from transformers import DynamicCache

    cache = DynamicCache(config=loaded.model.config)
    plain = _plain_layer_types()
    if not cache.layers or any(type(layer) not in plain for layer in cache.layers):
        return None
    return cache


def rows_for(cache, sequences: int, pick: torch.Tensor):
    """A new cache whose row r is row pick[r] of the `sequences` cached ones; a branched layer
    (C x `sequences` rows) gives rows c R + r = its rows c `sequences` + pick[r]. `cache` itself
    is left as it was (a pass extends the cache it is given)."""
    out = copy.copy(cache)
    out.layers = []
    for layer in cache.layers:
        new = copy.copy(layer)  # keeps a sliding layer's length bookkeeping
        if layer.is_initialized and layer.keys is not None and layer.keys.numel():
            rows = layer.keys.shape[0]
            if rows % sequences:
                raise RuntimeError(f"A cache layer holds {rows} rows, not a multiple of {sequences} sequences.")
            index = torch.cat([c * sequences + pick for c in range(rows // sequences)]).to(layer.keys.device)
            new.keys, new.values = layer.keys[index], layer.values[index]
        out.layers.append(new)
    return out
