"""The absolute position of the first token of the forward pass running now (0 without a KV cache).

Why: an activation pin names a token position of the *sequence*. A forward call only sees its own
tokens: with a KV cache, a decode step runs one new token whose index inside the call is 0, while
its position in the sequence is the number of cached tokens. A pin applied at "index 0 of the
call" would overwrite every generated token (issue: restore undone during generation).

How: one forward pre-hook on the module that runs the decoder layers (`model.model`,
`transformer`, ...), registered once at load by `sw_core.instrument`, reads the call's
`cache_position` if given (older transformers), else the length of the cache it is handed (before
any layer appends to it), and stores it in a ContextVar for the pins to read. A post-hook
(always called, also on an exception) puts it back to 0.
"""

from __future__ import annotations

import contextvars

_OFFSET: contextvars.ContextVar[int] = contextvars.ContextVar("sw_position_offset", default=0)
_CACHE_NAMES = ("cache", "past_key_values")


def offset() -> int:
    """Absolute position of the current forward call's first token."""
    return _OFFSET.get()


def cache_length(cache) -> int:
    """Tokens already held by a KV cache (a Cache object or the legacy tuple of (k, v) pairs)."""
    if cache is None:
        return 0
    if hasattr(cache, "get_seq_length"):
        return int(cache.get_seq_length())
    if isinstance(cache, (tuple, list)) and cache and cache[0] is not None:
        return int(cache[0][0].shape[-2])
    return 0


def call_offset(kwargs: dict) -> int:
    position = kwargs.get("cache_position")
    if position is not None and getattr(position, "numel", lambda: 0)():
        return int(position.reshape(-1)[0])
    for name in _CACHE_NAMES:
        if kwargs.get(name) is not None:
            return cache_length(kwargs[name])
    return 0


def on_stack_start(module, args, kwargs) -> None:
    """Pre-hook on the decoder stack (registered by `sw_core.instrument`): this call's offset."""
    _OFFSET.set(call_offset(kwargs))


def on_stack_end(module, args, kwargs, output) -> None:
    """Post-hook on the decoder stack, always called (also on an exception): back to 0."""
    _OFFSET.set(0)
