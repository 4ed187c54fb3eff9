"""A verified detection of the paper's prompt (what `detect` runs by default: spike rules + the
perplexity check) against one plain forward pass of the verification text. The check's conditions
share one batched pass, so the whole detection costs a few forwards of that text. (The scans
scale with the prompt: on a 256-token prompt two scans alone cost about three such forwards.)"""

from __future__ import annotations

import torch

from sw_core.builtin_prompts import PAPER_PROMPT
from sw_core.detect import find_super_weights
from sw_core.verify import DEFAULT_TOKENS, default_text
from .timing import Goal, paired_median_seconds, timed_result


def detect_cases(ctx):
    loaded = ctx.loaded
    prompt = PAPER_PROMPT
    verify_ids = loaded.encode(default_text())[:, :DEFAULT_TOKENS]
    runs = []

    def detect():
        runs.append(find_super_weights(loaded, prompt))
        ctx.sync()

    det_t, fwd_t = paired_median_seconds(detect, lambda: plain_forward(ctx, verify_ids), ctx.repeats)
    d = runs[-1]
    groups = len({(w.activation.layer, w.activation.channel) for w in d.candidates()})
    return [timed_result(
        "detect_verified_vs_forward", det_t, fwd_t, unit="s", goal=Goal("ratio", "<=", 4.0),
        what=(f"find_super_weights on a {loaded.encode(prompt).shape[1]}-token prompt: {d.iterations} scan(s), "
              f"then perplexity on {verify_ids.shape[1]} tokens unedited + per group removed + control "
              f"({groups} group(s), one batch); found {len(d.super_weights)} verified"),
        baseline_what=f"model(input_ids) on the {verify_ids.shape[1]} tokens of the verification text, no hooks",
        extra={"scans": d.iterations, "groups": groups, "verified": len(d.super_weights),
               "activation_sources": len(d.activation_sources)},
    )]


@torch.no_grad()
def plain_forward(ctx, ids) -> None:
    ctx.loaded.model(input_ids=ids, use_cache=False)
    ctx.sync()
