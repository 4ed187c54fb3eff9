"""Perplexity: sw_core.metrics.perplexity's throughput vs the textbook Hugging Face loop."""

from __future__ import annotations

import math

import torch

from sw_core.metrics.perplexity import DEFAULT_WINDOW, perplexity
from .timing import BenchResult, Goal, paired_median_seconds


def plain_loop_nll(loaded, ids: torch.Tensor, window: int, stride: int) -> tuple[float, int]:
    """(mean NLL, windows run), the way the Hugging Face perplexity guide computes it: one window per call, the
    model given `labels` (context tokens masked with -100), loss weighted by scored tokens."""
    n = ids.shape[1]
    total, count, prev_end, windows = 0.0, 0, 0, 0
    for begin in range(0, n, stride):
        end = min(begin + window, n)
        chunk = ids[:, begin:end]
        labels = chunk.clone()
        labels[:, : chunk.shape[1] - (end - prev_end)] = -100  # context only: scored earlier
        valid = int((labels[:, 1:] != -100).sum())  # the model shifts labels by one
        with torch.no_grad():
            loss = loaded.model(input_ids=chunk, labels=labels, use_cache=False).loss
        total += float(loss) * valid
        count += valid
        prev_end, windows = end, windows + 1
        if end == n:
            break
    return total / count, windows


def perplexity_cases(ctx):
    loaded = ctx.loaded
    window = 128 if ctx.quick else DEFAULT_WINDOW
    tokens = 256 if ctx.quick else 1024
    stride = window // 2
    prompt = ctx.prompt(tokens)
    ids = loaded.encode(prompt)
    scored = ids.shape[1] - 1

    def ours():
        perplexity(loaded, prompt, window=window, stride=stride)
        ctx.sync()

    def plain():
        plain_loop_nll(loaded, ids, window, stride)
        ctx.sync()

    ours_t, plain_t = paired_median_seconds(ours, plain, ctx.repeats)
    # Same windows, same tokens: the two must agree, or the throughput comparison is moot.
    ours_ppl = perplexity(loaded, prompt, window=window, stride=stride)
    plain_nll, windows = plain_loop_nll(loaded, ids, window, stride)
    plain_ppl = math.exp(plain_nll)
    return [BenchResult(
        "perplexity_vs_plain_loop", scored / ours_t.median, scored / plain_t.median, unit="tokens/s",
        goal=Goal("ratio", ">=", 0.95), repeats=ours_t.repeats, baseline_repeats=plain_t.repeats,
        what=f"sw_core.metrics.perplexity, {scored} scored tokens, window {window}, stride {stride} "
             f"({windows} windows, batched)",
        baseline_what="a plain loop calling model(input_ids, labels=...) per window (HF guide)",
        extra={"perplexity": ours_ppl, "plain_loop_perplexity": plain_ppl},
    )]
