"""The one forward pass: `forward(loaded, ids, edit=..., record=...)`, used by every reader of logits
or activations in the library (scan, metrics, screening, verification, mechanism).

The edit and the recorder live in ContextVars (`sw_core.hooks`), entered around this one pass and
never across a `yield`: two interleaved callers on the same model each see only their own.

Gradients: `torch.no_grad()`, chosen once here. Not `inference_mode`: its tensors cannot be
updated in place outside an inference-mode block, and what a pass returns (recorded inputs that
calibration accumulates into, rows that detection scales, logits) is used by ordinary code
afterwards; on these CPU-bound passes inference_mode saves nothing measurable over no_grad.

Batches are right-padded by the callers: under a causal mask a pad token placed after the real
ones cannot change their logits, so no attention mask is needed and the super activation stays on
token 0.
"""

from __future__ import annotations

import contextlib
import inspect

import torch

from .edits import INHERIT, applied
from .errors import BadInput
from .hooks import Recorder, branching, first_edited_layer, recording
from .instrument import check_instrumented


def _keeps_logits(model) -> bool:
    """Whether the model class takes logits_to_keep (asked of its signature: catching a TypeError
    around the forward pass would also hide errors raised inside hooks)."""
    return "logits_to_keep" in inspect.signature(model.forward).parameters


def forward(loaded, ids: torch.Tensor, *, edit=None, record: Recorder | None = None, head: bool = True,
            positions: torch.Tensor | None = None, cache=None):
    """Run token ids [B, T] once under `edit` (None: unedited; INHERIT: the caller's), with `record`
    the active recorder (None: nothing recorded).

    head=False runs the decoder stack only (embeddings, blocks, final norm: what a recorder reads)
    and returns nothing: the vocabulary-sized LM head is a large share of a small model's cost.
    head=True returns float32 logits on the input device: [B, T, V] for positions=None, else
    [B, P, V] for a 1-D [P] (the same positions of every row) or a 2-D [B, P] (per row); only
    those positions go through the head.
    An edit with one edit per batch row (`Edit.per_row`) needs a batch of that many rows, or of B
    rows when it holds C x B edits: condition c of sequence b is row c B + b, and the blocks before
    the first edited layer run once for every condition (the batch branches there,
    `sw_core.hooks.branching`); 2-D positions are then given per sequence ([B, P]).
    cache: a transformers KV cache the pass reads (ids continue its tokens) and extends in place;
    None runs without one. Under a branching edit its layers from the first edited one on hold
    the C x B branched rows, the earlier ones B (`sw_core.kv_rows`).
    """
    check_instrumented(loaded)
    ids = ids.to(loaded.input_device)
    branch = contextlib.nullcontext()
    if edit is not None and edit is not INHERIT and edit.rows and len(edit.rows) != ids.shape[0]:
        copies, rest = divmod(len(edit.rows), ids.shape[0])
        if rest:
            raise BadInput(f"The edit holds {len(edit.rows)} per-row edits for a batch of {ids.shape[0]} rows: "
                           "give one per row, or a whole number of conditions per row.")
        if positions is not None and positions.dim() == 2:
            positions = positions.repeat(copies, 1)
        first = first_edited_layer(edit)
        if first is None:  # no row is edited: the B rows stand for every copy
            out = forward(loaded, ids, record=record, head=head, cache=cache,
                          positions=None if positions is None else positions[:ids.shape[0]])
            return None if out is None else out.repeat(copies, *([1] * (out.dim() - 1)))
        branch = branching(first, copies)
    kv = {"use_cache": False} if cache is None else {"use_cache": True, "cache": cache}
    with torch.no_grad(), applied(loaded, edit), recording(record), branch:
        if not head:
            _, stack = loaded.arch.stack(loaded.model)
            stack(input_ids=ids, **kv)
            return None
        if positions is None:
            return loaded.model(input_ids=ids, **kv).logits.float()
        positions = positions.to(ids.device)
        if _keeps_logits(loaded.model):
            return loaded.model(input_ids=ids, logits_to_keep=positions, **kv).logits.float()
        full = loaded.model(input_ids=ids, **kv).logits.float()  # slice them below
    if positions.dim() == 1:
        return full[:, positions]
    return full.gather(1, positions[..., None].expand(-1, -1, full.shape[-1]))


def next_token_nll(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The one NLL: -log P(target) of each position, float32 on the CPU. logits [..., P, V] are the
    predictions of targets [..., P] (already shifted: position p predicts targets[p])."""
    logp = logits.float().log_softmax(-1)
    return -logp.gather(-1, targets.to(logp.device)[..., None])[..., 0].cpu()
