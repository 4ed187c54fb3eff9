"""`report_embedded`: the whole report of the embedded model, CPU seconds against the 5-minute goal,
beside one forward pass of the same model for scale (`bench/report_case.py` does the measuring)."""

from __future__ import annotations

import time

import torch

from sw_core.loading import EMBEDDED

from .report_case import GOAL_CPU_SECONDS, report_case
from .timing import BenchResult, Goal


def report_cases(ctx):
    """Embedded model only, and not in quick mode (it takes CPU-minutes)."""
    if ctx.quick or ctx.loaded.ref != EMBEDDED:
        return []
    ids = ctx.loaded.encode(ctx.prompt())
    cpu = time.process_time()
    with torch.no_grad():
        ctx.loaded.model(input_ids=ids, use_cache=False)
    forward_cpu = time.process_time() - cpu
    r = report_case(ctx.loaded)
    return [BenchResult(
        "report_embedded", r["cpu_s"], forward_cpu, unit="s", goal=Goal("value", "<=", GOAL_CPU_SECONDS),
        what="python -m sw_core report on the embedded model, default settings: CPU seconds (user + system)",
        baseline_what=f"one forward pass of {ids.shape[1]} tokens, CPU seconds",
        repeats=1, baseline_repeats=1, note=f"wall {r['wall_s']:.0f} s",
        extra={"sections_s": r["sections"], "wall_s": r["wall_s"]})]
