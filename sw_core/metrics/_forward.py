"""Forward passes under an edit: the shared helpers every metric uses.

The edit lives in a ContextVar, so it is entered around each forward pass (never across a
`yield`): two interleaved callers on the same model each see only their own edit.

Batches are right-padded: under a causal mask a pad token placed after the real ones cannot
change their logits, so no attention mask is needed and the super activation stays on token 0.
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
        logits = logits_of(loaded, right_padded(loaded, group), edit)
        last = torch.tensor([len(s) - 1 for s in group], device=logits.device)
        rows.append(logits[torch.arange(len(group), device=logits.device), last].log_softmax(-1).cpu())
        report(progress, min(start + batch_size, len(prompts)), len(prompts))
    return torch.cat(rows)


def continuation_log_probs(loaded, pairs: list[tuple[list[int], list[int]]], edit=None, *,
                           batch_size: int = 16, progress=None) -> list[tuple[float, int]]:
    """(sum of log P(continuation tokens | context), number of continuation tokens) per pair."""
    out: list[tuple[float, int]] = []
    for start in range(0, len(pairs), batch_size):
        group = pairs[start:start + batch_size]
        seqs = [ctx + cont for ctx, cont in group]
        logp = logits_of(loaded, right_padded(loaded, seqs), edit).log_softmax(-1).cpu()
        for i, (ctx, cont) in enumerate(group):
            pos = torch.arange(len(ctx) - 1, len(ctx) + len(cont) - 1)
            out.append((float(logp[i, pos, torch.as_tensor(cont)].sum()), len(cont)))
        report(progress, min(start + batch_size, len(pairs)), len(pairs))
    return out


def report(progress, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)
