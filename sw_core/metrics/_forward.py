"""Batched forward passes for the metrics: next-token and continuation log-probabilities.

Every pass goes through `sw_core.forward.forward` (the edit is entered around each pass, never
across a `yield`). Batches are right-padded: under a causal mask a pad token placed after the real
ones cannot change their logits, so no attention mask is needed.
"""

from __future__ import annotations

import torch

from ..forward import forward


def logits_of(loaded, ids: torch.Tensor, edit=None, positions: torch.Tensor | None = None) -> torch.Tensor:
    """Float32 logits of ids [B, T] under `edit` (see `forward` for `positions`)."""
    return forward(loaded, ids, edit=edit, positions=positions)


def right_padded(loaded, sequences: list[list[int]]) -> torch.Tensor:
    """Token id lists -> LongTensor [B, max_len], padded on the right."""
    pad = loaded.tokenizer.pad_token_id or 0
    width = max(len(s) for s in sequences)
    batch = torch.full((len(sequences), width), pad, dtype=torch.long)
    for i, s in enumerate(sequences):
        batch[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
    return batch


def next_token_log_probs(loaded, prompts: list[list[int]], edit=None, *, batch_size: int = 8,
                         progress=None) -> torch.Tensor:
    """log P(next token | prompt) for each prompt: [N, V] float32 on the CPU."""
    rows = []
    for start in range(0, len(prompts), batch_size):
        group = prompts[start:start + batch_size]
        last = torch.tensor([[len(s) - 1] for s in group])
        logits = logits_of(loaded, right_padded(loaded, group), edit, positions=last)  # [B, 1, V]
        rows.append(logits[:, 0].log_softmax(-1).cpu())
        report(progress, min(start + batch_size, len(prompts)), len(prompts))
    return torch.cat(rows)


def continuation_log_probs(loaded, pairs: list[tuple[list[int], list[int]]], edit=None, *,
                           batch_size: int = 16, progress=None) -> list[tuple[float, int]]:
    """(sum of log P(continuation tokens | context), number of continuation tokens) per pair."""
    out: list[tuple[float, int] | None] = [None] * len(pairs)
    # Similar lengths together: less padding. Results go back in the callers' order.
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        group = [pairs[i] for i in idx]
        lo = min(len(ctx) for ctx, _ in group) - 1  # the first position that predicts a continuation token
        hi = max(len(ctx) + len(cont) for ctx, cont in group) - 1
        logp = logits_of(loaded, right_padded(loaded, [ctx + cont for ctx, cont in group]), edit,
                         positions=torch.arange(lo, hi)).log_softmax(-1).cpu()  # [B, hi - lo, V]
        for i, (ctx, cont) in zip(idx, group):
            pos = torch.arange(len(ctx) - 1, len(ctx) + len(cont) - 1) - lo
            out[i] = (float(logp[idx.index(i), pos, torch.as_tensor(cont)].sum()), len(cont))
        report(progress, min(start + batch_size, len(order)), len(order))
    return out  # type: ignore[return-value]


def report(progress, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)
