"""Continuation log-probabilities with each shared context run once (a shared prefix in the KV cache).

A multiple-choice question scores every choice after the same context. Instead of running the
context again with each choice, the contexts run once, with a KV cache: the last context
position's logits give every choice's first token, and the choices' later tokens run on top of
the cache, each choice row reading its own context's cached rows (`sw_core.kv_rows`).

Contexts of equal token length share a pass (no padding inside the cache); choice rows are
grouped by token length (no padding either) and run without their last token (nothing after
it is scored). The conditions are per-row edits of branching passes (`forward`), the same
conditions in the context pass and in the choice passes that read its cache; pins use absolute
positions, which continue from the cache length (`sw_core.positions`).
"""

from __future__ import annotations

import itertools

import torch

from ..errors import BadInput
from ..forward import forward
from ..kv_rows import new_cache, rows_for
from ._forward import conditions_per_pass, group_edit, report


def shared_prefix_log_probs(loaded, pairs: list[tuple[list[int], list[int]]], edits: list, *,
                            batch_size: int = 16, progress=None) -> list[list[tuple[float, int]]] | None:
    """Per edit, per pair: (sum of log P(continuation tokens | context), number of them), as
    `continuation_log_probs_under`; None when the model's cache is not a plain per-layer
    key/value cache (`kv_rows.new_cache`). `batch_size`: contexts per context pass, choice rows
    per choice pass."""
    if new_cache(loaded) is None:
        return None
    if any(not ctx for ctx, _ in pairs):
        raise BadInput("A continuation needs at least one context token before it.")
    followers: dict[tuple[int, ...], list[int]] = {}  # context -> the pairs that continue it
    for i, (ctx, _) in enumerate(pairs):
        followers.setdefault(tuple(ctx), []).append(i)
    batches = []
    for _, same in itertools.groupby(sorted(followers, key=len), key=len):
        same = list(same)
        batches += [same[lo:lo + batch_size] for lo in range(0, len(same), batch_size)]
    per_pass = conditions_per_pass(loaded, batch_size, 1)  # the context pass keeps one position per row
    out: list[list] = [[None] * len(pairs) for _ in edits]
    done = 0
    for contexts in batches:
        follow = [(k, i) for k, ctx in enumerate(contexts) for i in followers[ctx]]  # (context row, pair)
        for lo in range(0, len(edits), per_pass):
            totals = _score(loaded, contexts, follow, pairs, edits[lo:lo + per_pass], batch_size)
            for c, row in enumerate(totals.tolist()):
                for (_, i), total in zip(follow, row):
                    out[lo + c][i] = (total, len(pairs[i][1]))
        done += len(follow)
        report(progress, done, len(pairs))
    return out


def _score(loaded, contexts, follow, pairs, edits: list, batch_size: int) -> torch.Tensor:
    """[C, len(follow)]: each follower's summed log-probability under each of `edits`."""
    b, width = len(contexts), len(contexts[0])
    cache = new_cache(loaded)
    last = forward(loaded, torch.tensor(contexts), edit=group_edit(edits, b), cache=cache,
                   positions=torch.tensor([width - 1]))
    first = last.view(len(edits), b, -1).log_softmax(-1).cpu()  # [C, B, V]: every choice's first token
    totals = torch.zeros(len(edits), len(follow))
    for j, (k, i) in enumerate(follow):
        if pairs[i][1]:
            totals[:, j] = first[:, k, pairs[i][1][0]]
    length = lambda j: len(pairs[follow[j][1]][1])  # noqa: E731
    longer = sorted((j for j in range(len(follow)) if length(j) > 1), key=length)
    for n, same in itertools.groupby(longer, key=length):
        same = list(same)
        size = min(batch_size, conditions_per_pass(loaded, len(edits), n - 1))  # rows whose logits fit
        for lo in range(0, len(same), size):
            rows = same[lo:lo + size]
            conts = torch.tensor([pairs[follow[j][1]][1] for j in rows])  # [R, n]
            kv = rows_for(cache, b, torch.tensor([follow[j][0] for j in rows]))
            # The last token predicts nothing scored: it does not run.
            logits = forward(loaded, conts[:, :-1], edit=group_edit(edits, len(rows)), cache=kv)
            logp = logits.view(len(edits), len(rows), n - 1, -1).log_softmax(-1).cpu()  # [C, R, n - 1, V]
            totals[:, rows] += logp.gather(-1, conts[None, :, 1:, None].expand(len(edits), -1, -1, 1))[..., 0].sum(-1)
    return totals
