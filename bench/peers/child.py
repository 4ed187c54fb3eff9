"""One fresh process for one tool: the peak memory of its maxima job at one prompt length
(TOKENS), or, with TOKENS = "cold", the time from process start to its first result. Prints one
JSON line.

Usage (the parent sets SW_PEERS_T0 = time.time() just before starting it):
    python -m bench.peers.child TOOL PROMPTS.json TOKENS|cold
"""

from __future__ import annotations

import json
import os
import sys
import time


def main(tool_name: str, prompts_file: str, tokens: str) -> dict:
    t0 = float(os.environ.get("SW_PEERS_T0") or time.time())
    import torch

    torch.set_num_threads(1)
    from bench.peers.measure import peak_over
    from bench.peers.tools import make, plain_tokenizer

    with open(prompts_file) as f:
        prompts = json.load(f)
    tool = make(tool_name)
    tok = tool.loaded.tokenizer if tool_name == "ours" else plain_tokenizer()

    def ids_of(prompt):
        return torch.tensor([tok(prompt)["input_ids"]])

    warm = prompts["warm"]
    tool.maxima(warm, ids_of(warm))  # the first forward of a cold process
    cold = time.time() - t0
    if tokens == "cold":
        return {"tool": tool_name, "cold_start_s": cold}
    prompt = prompts[tokens]
    ids = ids_of(prompt)
    _, peak, _ = peak_over(lambda: tool.maxima(prompt, ids))
    return {"tool": tool_name, "tokens": ids.shape[1], "peak_bytes": peak}


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:4])))
