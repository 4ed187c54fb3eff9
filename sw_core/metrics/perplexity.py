"""Perplexity of a text, with the standard Hugging Face strided sliding window.

Windows of `window` tokens start every `stride` tokens; in each window only the tokens not
scored by an earlier window count, so every token (after the first) is scored exactly once,
with at least `window - stride` tokens of context once the first window is past. Windows are
batched; the last, shorter window is right-padded, which under a causal mask cannot change the
logits of the real tokens, so no attention mask is needed.
"""

from __future__ import annotations

import math

import torch

from ..edits import Edit
from ..errors import BadInput
from ..forward import forward, next_token_nll
from ._forward import condition_logits, report

DEFAULT_WINDOW = 512


def _windows(n_tokens: int, window: int, stride: int) -> list[tuple[int, int, int]]:
    """(begin, end, first scored target) per window, the HF scheme."""
    spans, prev_end = [], 0
    for begin in range(0, n_tokens, stride):
        end = min(begin + window, n_tokens)
        spans.append((begin, end, max(prev_end, begin + 1)))
        prev_end = end
        if end == n_tokens:
            break
    return spans


def token_nll(loaded, ids: torch.Tensor, *, window: int = DEFAULT_WINDOW, stride: int | None = None,
              edit=None, batch_size: int = 4, progress=None) -> torch.Tensor:
    """Negative log-likelihood (nats, float32, CPU) of every scored token of ids [1, T], in order.

    Every token after the first is scored once, except (as in the HF loop) a window's first token
    when stride == window: nothing in its window precedes it.
    """
    return token_nll_under(loaded, ids, [edit], window=window, stride=stride, batch_size=batch_size,
                           progress=progress)[0]


def token_nll_under(loaded, ids: torch.Tensor, edits: list, *, window: int = DEFAULT_WINDOW,
                    stride: int | None = None, batch_size: int = 4, progress=None) -> torch.Tensor:
    """`token_nll` under each of `edits`: [C, scored tokens]. The conditions share each pass
    (per-row edits, branching at the first edited layer: `_forward.condition_logits`)."""
    stride = window // 2 if stride is None else stride
    if window < 2 or not 1 <= stride <= window:
        raise BadInput(f"window={window}, stride={stride}: need window >= 2 and 1 <= stride <= window.")
    if batch_size < 1:
        raise BadInput(f"batch_size={batch_size} must be at least 1.")
    seq = ids[0].cpu()
    n = seq.numel()
    if n < 2:
        raise BadInput("The text has fewer than 2 tokens: perplexity needs at least one token to predict.")
    spans = _windows(n, window, stride)
    chunks: list[torch.Tensor] = []
    pad = loaded.tokenizer.pad_token_id or 0
    for start in range(0, len(spans), batch_size):
        group = spans[start:start + batch_size]
        width = max(e - b for b, e, _ in group)
        batch = torch.full((len(group), width), pad, dtype=torch.long)
        for i, (b, e, _) in enumerate(group):
            batch[i, : e - b] = seq[b:e]
        lo = min(first - 1 - b for b, _, first in group)  # earliest position whose prediction is scored
        logits = condition_logits(loaded, batch, edits, positions=torch.arange(lo, width))  # [C, B, P, V]
        for i, (b, e, first) in enumerate(group):
            targets = seq[first:e]  # predicted from positions first-1 .. e-2
            chunks.append(next_token_nll(logits[:, i, first - 1 - b - lo: e - 1 - b - lo], targets.expand(len(edits), -1)))
        report(progress, min(start + batch_size, len(spans)), len(spans))
    return torch.cat(chunks, dim=1)


def perplexity(loaded, text: str, *, max_tokens: int | None = None, window: int = DEFAULT_WINDOW,
               stride: int | None = None, edit=None, batch_size: int = 4, progress=None) -> float:
    """exp(mean NLL) of `text` (its first `max_tokens` tokens) under `edit`; stride defaults to window // 2."""
    return perplexities(loaded, text, [edit], max_tokens=max_tokens, window=window, stride=stride,
                        batch_size=batch_size, progress=progress)[0]


def perplexities(loaded, text: str, edits: list, *, max_tokens: int | None = None, window: int = DEFAULT_WINDOW,
                 stride: int | None = None, batch_size: int = 4, progress=None) -> list[float]:
    """`perplexity` under each of `edits`, the conditions batched together."""
    if max_tokens is not None and max_tokens < 2:
        raise BadInput(f"max_tokens={max_tokens} must be at least 2.")
    ids = loaded.encode(text, max_tokens=max_tokens)
    nll = token_nll_under(loaded, ids, edits, window=window, stride=stride, batch_size=batch_size, progress=progress)
    return [float(math.exp(row.double().mean().item())) for row in nll]


ROW_BUDGET_BYTES = 1 << 30  # the logits of one batch of conditions stay under about 1 GiB


def rows_per_pass(loaded, tokens: int) -> int:
    """How many rows of `tokens` tokens one pass may hold: its float32 logits (and their
    log-softmax) within ROW_BUDGET_BYTES."""
    vocab = loaded.model.get_output_embeddings().weight.shape[0]
    return max(1, ROW_BUDGET_BYTES // (3 * 4 * tokens * vocab))


def nll_under_edits(loaded, ids: torch.Tensor, edits, *, batch_size: int | None = None,
                    progress=None) -> torch.Tensor:
    """NLL of every token after the first of ids [T] (or [1, T]), under each of `edits` (None:
    unedited): [len(edits), T - 1], float32 on the CPU.

    The conditions run as rows of one batch, each under its own edit (`Edit.per_row`), branching
    from one row at the first edited layer: one pass instead of one per condition where memory
    allows, else chunks of `batch_size` rows (default: `rows_per_pass`).
    """
    seq = ids.reshape(-1).cpu()
    if seq.numel() < 2:
        raise BadInput("The text has fewer than 2 tokens: perplexity needs at least one token to predict.")
    edits = list(edits)
    size = rows_per_pass(loaded, seq.numel()) if batch_size is None else batch_size
    if size < 1:
        raise BadInput(f"batch_size={size} must be at least 1.")
    out = []
    for lo in range(0, len(edits), size):
        group = edits[lo:lo + size]
        edit = group[0] if len(group) == 1 else Edit.per_row(group)
        # One row for every condition: the blocks before the first edited layer run once (`forward`).
        logits = forward(loaded, seq[None], edit=edit, positions=torch.arange(seq.numel() - 1))
        out.append(next_token_nll(logits, seq[1:].expand(len(group), -1)))
        report(progress, min(lo + size, len(edits)), len(edits))
    return torch.cat(out)

