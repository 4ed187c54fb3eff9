"""Generation speed: our streamed generation (edit-aware, in a worker thread) vs a plain
transformers `model.generate` call, greedy, same prompt and length."""

from __future__ import annotations

import torch

from sw_core.generate import stream_tokens
from .timing import BenchResult, Goal, paired_median_seconds


def generate_cases(ctx):
    loaded = ctx.loaded
    new_tokens = 16 if ctx.quick else 48
    prompt = ctx.prompt(16)
    ids = loaded.encode(prompt)
    pad = loaded.tokenizer.pad_token_id if loaded.tokenizer.pad_token_id is not None else loaded.tokenizer.eos_token_id
    got: dict[str, list[int]] = {}

    def ours():
        got["ours"] = list(stream_tokens(loaded, prompt, max_new_tokens=new_tokens, stop_at_eos=False))
        ctx.sync()

    def plain_hf():
        with torch.no_grad():  # eos_token_id=[]: never stop early, both sides make new_tokens tokens
            out = loaded.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                                        do_sample=False, eos_token_id=[], pad_token_id=pad)
        got["hf"] = out[0, ids.shape[1]:].tolist()
        ctx.sync()

    ours_t, hf_t = paired_median_seconds(ours, plain_hf, ctx.repeats)
    return [BenchResult(
        name="generate_vs_hf", value=new_tokens / ours_t.median, baseline=new_tokens / hf_t.median,
        unit="tokens/s", goal=Goal("ratio", ">=", 0.9),
        what=f"sw_core.generate.stream_tokens, greedy, {new_tokens} new tokens after a {ids.shape[1]}-token prompt",
        baseline_what="model.generate(ids, do_sample=False) on the same prompt and length",
        repeats=ours_t.repeats, baseline_repeats=hf_t.repeats,
        extra={"same_tokens": got["ours"] == got["hf"], "new_tokens": new_tokens},
    )]
