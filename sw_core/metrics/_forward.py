"""Batched forward passes for the metrics: next-token and continuation log-probabilities.

Every pass goes through `sw_core.forward.forward` (the edit is entered around each pass, never
across a `yield`). Batches are right-padded: under a causal mask a pad token placed after the real
ones cannot change their logits, so no attention mask is needed.
"""

from __future__ import annotations

import torch

from ..edits import Edit
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


LOGITS_BUDGET_BYTES = 3 << 29  # the float32 logits of one pass, and their log-softmax, within ~1.5 GiB


def condition_logits(loaded, ids: torch.Tensor, edits: list, positions: torch.Tensor | None = None) -> torch.Tensor:
    """Float32 logits of ids [B, T] under each of `edits` (None: unedited): [C, B, P, V].

    The conditions run as per-row edits of branching passes (`forward`): the blocks before the
    first edited layer run once per sequence, not once per condition; as many conditions per pass
    as their logits fit in LOGITS_BUDGET_BYTES.
    """
    b = ids.shape[0]
    per_pass = conditions_per_pass(loaded, b, ids.shape[1] if positions is None else positions.shape[-1])
    out = []
    for lo in range(0, len(edits), per_pass):
        group = edits[lo:lo + per_pass]
        logits = forward(loaded, ids, edit=group_edit(group, b), positions=positions)
        out.append(logits.view(len(group), b, *logits.shape[1:]))
    return torch.cat(out)


def conditions_per_pass(loaded, rows: int, positions: int) -> int:
    """How many conditions one pass of `rows` rows may measure: the logits of `positions` positions
    per row, and their log-softmax, within LOGITS_BUDGET_BYTES."""
    vocab = loaded.model.get_output_embeddings().weight.shape[0]
    return max(1, LOGITS_BUDGET_BYTES // (8 * rows * positions * vocab))


def group_edit(edits: list, rows: int):
    """The edit of one pass measuring `edits` on a batch of `rows` rows: condition c of row b is
    branched row c rows + b (`forward`); a single condition needs no per-row edit."""
    return edits[0] if len(edits) == 1 else Edit.per_row([e for e in edits for _ in range(rows)])


def next_token_log_probs(loaded, prompts: list[list[int]], edit=None, *, batch_size: int = 8,
                         progress=None) -> torch.Tensor:
    """log P(next token | prompt) for each prompt: [N, V] float32 on the CPU."""
    return next_token_log_probs_under(loaded, prompts, [edit], batch_size=batch_size, progress=progress)[0]


def next_token_log_probs_under(loaded, prompts: list[list[int]], edits: list, *, batch_size: int = 8,
                               progress=None) -> torch.Tensor:
    """log P(next token | prompt) for each prompt under each edit: [C, N, V] float32 on the CPU."""
    rows = []
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths together: less padding
    for start in range(0, len(order), batch_size):
        group = [prompts[i] for i in order[start:start + batch_size]]
        last = torch.tensor([[len(s) - 1] for s in group])
        logits = condition_logits(loaded, right_padded(loaded, group), edits, positions=last)  # [C, B, 1, V]
        rows.append(logits[:, :, 0].log_softmax(-1).cpu())
        report(progress, min(start + batch_size, len(prompts)), len(prompts))
    return torch.cat(rows, dim=1)[:, torch.tensor(order).argsort()]  # back in the callers' order


def continuation_log_probs(loaded, pairs: list[tuple[list[int], list[int]]], edit=None, *,
                           batch_size: int = 16, progress=None) -> list[tuple[float, int]]:
    """(sum of log P(continuation tokens | context), number of continuation tokens) per pair."""
    return continuation_log_probs_under(loaded, pairs, [edit], batch_size=batch_size, progress=progress)[0]


def continuation_log_probs_under(loaded, pairs: list[tuple[list[int], list[int]]], edits: list, *,
                                 batch_size: int = 16, progress=None) -> list[list[tuple[float, int]]]:
    """Per edit, per pair: (sum of log P(continuation tokens | context), number of them)."""
    out: list[list] = [[None] * len(pairs) for _ in edits]
    # Similar lengths together: less padding. Results go back in the callers' order.
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        group = [pairs[i] for i in idx]
        lo = min(len(ctx) for ctx, _ in group) - 1  # the first position that predicts a continuation token
        hi = max(len(ctx) + len(cont) for ctx, cont in group) - 1
        logp = condition_logits(loaded, right_padded(loaded, [ctx + cont for ctx, cont in group]), edits,
                                positions=torch.arange(lo, hi)).log_softmax(-1).cpu()  # [C, B, hi - lo, V]
        for k, (i, (ctx, cont)) in enumerate(zip(idx, group)):
            pos = torch.arange(len(ctx) - 1, len(ctx) + len(cont) - 1) - lo
            picked = logp[:, k, pos, torch.as_tensor(cont)].sum(-1)  # [C]
            for c in range(len(edits)):
                out[c][i] = (float(picked[c]), len(cont))
        report(progress, min(start + batch_size, len(order)), len(order))
    return out


def report(progress, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)
