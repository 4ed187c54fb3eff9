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

from ..errors import BadInput
from ._forward import logits_of, report

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
        logp = logits_of(loaded, batch, edit, positions=torch.arange(lo, width)).log_softmax(-1).cpu()
        for i, (b, e, first) in enumerate(group):
            targets = seq[first:e]  # predicted from positions first-1 .. e-2
            pred = logp[i, first - 1 - b - lo: e - 1 - b - lo]
            chunks.append(-pred.gather(-1, targets[:, None])[:, 0])
        report(progress, min(start + batch_size, len(spans)), len(spans))
    return torch.cat(chunks)


def perplexity(loaded, text: str, *, max_tokens: int | None = None, window: int = DEFAULT_WINDOW,
               stride: int | None = None, edit=None, batch_size: int = 4, progress=None) -> float:
    """exp(mean NLL) of `text` (its first `max_tokens` tokens) under `edit`; stride defaults to window // 2."""
    ids = loaded.encode(text)
    if max_tokens is not None:
        if max_tokens < 2:
            raise BadInput(f"max_tokens={max_tokens} must be at least 2.")
        ids = ids[:, :max_tokens]
    nll = token_nll(loaded, ids, window=window, stride=stride, edit=edit, batch_size=batch_size, progress=progress)
    return float(math.exp(nll.double().mean().item()))


