"""Toggling a super weight: the hook-based edit vs the alternatives (deep copy, reload)."""

from __future__ import annotations

import copy

import torch

from sw_core.edits import Edit, applied, off
from .timing import Goal, median_seconds, paired_median_seconds, timed_result


def toggle_cases(ctx):
    loaded = ctx.loaded
    edit = off(ctx.coord())

    def toggle():
        with applied(loaded, edit):
            pass

    inner = 200 if ctx.quick else 2000
    toggle_t = median_seconds(toggle, ctx.repeats, warmup=1, inner=inner)

    def deepcopy_model():
        clone = copy.deepcopy(loaded.model)
        del clone

    copy_t = median_seconds(deepcopy_model, ctx.repeats, warmup=1)
    results = [
        timed_result(
            "toggle_vs_deepcopy", toggle_t, copy_t, unit="ms", scale=1e3, goal=Goal("value", "<=", 1.0),
            what="enter + exit `applied(loaded, off(coord))` (one super weight toggled)",
            baseline_what="copy.deepcopy(model) (what an in-place edit on a private copy costs)",
        )
    ]
    if not ctx.quick:
        def reload():
            fresh = ctx.load_again()
            del fresh

        reload_t = median_seconds(reload, ctx.repeats, warmup=1)
        results.append(timed_result(
            "toggle_vs_reload", toggle_t, reload_t, unit="ms", scale=1e3, goal=Goal("value", "<=", 1.0),
            what="enter + exit `applied(loaded, off(coord))`",
            baseline_what=f"loading {loaded.ref!r} again (from the local cache when there is one)",
        ))
    results.append(edited_forward_case(ctx, edit))
    return results


def edited_forward_case(ctx, edit: Edit):
    """A forward pass under an edit vs the same forward pass without one (the hook's cost)."""
    model, ids = ctx.loaded.model, ctx.ids()

    def plain():
        with torch.no_grad():
            model(ids)
        ctx.sync()

    def edited():
        with applied(ctx.loaded, edit), torch.no_grad():
            model(ids)
        ctx.sync()

    edited_t, plain_t = paired_median_seconds(edited, plain, ctx.repeats)
    return timed_result(
        "edited_forward_vs_forward", edited_t, plain_t, unit="s", goal=Goal("ratio", "<=", 1.10),
        what=f"forward of {ids.shape[1]} tokens with one super weight off (hook recomputes one row)",
        baseline_what="the same forward with no edit",
    )
