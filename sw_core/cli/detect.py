"""`python -m sw_core detect --model REF [--prompt TEXT ...] [--json FILE]`: super weights, data-free."""

from __future__ import annotations

from ..detect import DEFAULT_MAX_ITERATIONS, DEFAULT_SHARE, DEFAULT_THRESHOLD, find_super_weights
from .common import add_model_args, load_from_args, progress, table, write_json


def add_arguments(p) -> None:
    add_model_args(p)
    p.add_argument("--prompt", action="append", default=None,
                   help="text to scan (repeat for several; default: the paper's prompt)")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                   help=f"spike: layer max |out| >= this x the median layer (default {DEFAULT_THRESHOLD:g})")
    p.add_argument("--share", type=float, default=DEFAULT_SHARE,
                   help=f"smallest share of the spike one weight must carry (default {DEFAULT_SHARE:g})")
    p.add_argument("--max-iterations", type=int, default=DEFAULT_MAX_ITERATIONS)
    p.add_argument("--json", metavar="FILE", help="also write the detection as JSON")


def run(args) -> int:
    loaded = load_from_args(args)
    d = find_super_weights(loaded, args.prompt, threshold=args.threshold, share=args.share,
                           max_iterations=args.max_iterations,
                           progress=lambda done, total: progress(f"prompt {done}/{total} scanned"))
    print(f"{d.model}: {len(d.super_weights)} super weight(s) from {len(d.prompts)} prompt(s)")
    if d.found:
        print(table([{
            "layer": w.layer, "[row, col]": f"[{w.row}, {w.col}]", "value": w.value,
            "spike": w.activation.value, "channel": w.activation.channel, "token": w.activation.token,
            "ratio": w.spike_ratio, "share": w.share, "prompts": len(w.prompts),
        } for w in d.super_weights]))
    else:
        print(f"none found: the largest spike is {d.max_spike_ratio:.3g}x the median layer "
              f"(threshold {d.threshold:g}x)")
    if d.late_spikes:
        print("\nspikes that are not super weights:")
        print(table([{
            "layer": s.layer, "channel": s.channel, "token": s.token, "value": s.value, "ratio": s.ratio,
            "label": s.label, "ratio without SW": s.ratio_without_super_weights if s.ratio_without_super_weights is not None else "-",
        } for s in d.late_spikes]))
    if args.json:
        write_json(d.to_dict(), args.json)
    return 0
