"""A verified detection (spike rules + perplexity check) against one plain forward pass."""

from __future__ import annotations

import torch

from sw_core.detect import find_super_weights
from .timing import Goal, paired_median_seconds, timed_result


def detect_cases(ctx):
    loaded = ctx.loaded
    prompt = ctx.prompt()
    ids = loaded.encode(prompt)
    runs = []

    def detect():
        runs.append(find_super_weights(loaded, prompt))
        ctx.sync()

    det_t, fwd_t = paired_median_seconds(detect, lambda: plain_forward(ctx, ids), ctx.repeats)
    d = runs[-1]
    groups = len({(w.activation.layer, w.activation.channel) for w in d.candidates()})
    return [timed_result(
        "detect_verified_vs_forward", det_t, fwd_t, unit="s", goal=Goal("ratio", "<=", 6.0),
        what=(f"find_super_weights on {ids.shape[1]} tokens: {d.iterations} scan(s), then perplexity on "
              f"{d.super_weights[0].impact.tokens if d.super_weights else 0} tokens unedited + per group "
              f"removed + control ({groups} group(s)); found {len(d.super_weights)} verified"),
        baseline_what="model(input_ids) on the same tokens, no hooks",
        extra={"scans": d.iterations, "groups": groups, "verified": len(d.super_weights),
               "activation_sources": len(d.activation_sources)},
    )]


@torch.no_grad()
def plain_forward(ctx, ids) -> None:
    ctx.loaded.model(input_ids=ids, use_cache=False)
    ctx.sync()
