"""One forward pass under an edit: the shared helper every metric uses.

The edit lives in a ContextVar, so it is entered around each forward pass (never across a
`yield`): two interleaved callers on the same model each see only their own edit.
"""

from __future__ import annotations

import torch

from ..edits import applied


def logits_of(loaded, ids: torch.Tensor, edit=None) -> torch.Tensor:
    """Logits [B, T, V] (float32, on the input device) for token ids [B, T] under `edit`."""
    ids = ids.to(loaded.input_device)
    with torch.inference_mode(), applied(loaded, edit):
        out = loaded.model(input_ids=ids, use_cache=False)
    return out.logits.float()


def report(progress, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)
