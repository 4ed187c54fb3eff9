"""`python -m sw_core detect --model REF [--prompt TEXT ...] [--no-verify] [--json FILE]`: super weights, data-free."""

from __future__ import annotations

import dataclasses

from ..detect import Rules, find_super_weights
from ..verify import DEFAULT_MIN_IMPACT, DEFAULT_TOKENS
from ..grouping import grouped_rows
from .common import Bars, add_model_args, add_settings_args, load_from_args, read_settings, table, write_json


def add_arguments(p) -> None:
    add_model_args(p)
    p.add_argument("--prompt", action="append", default=None,
                   help="text to scan (repeat for several; default: the paper's prompt)")
    add_settings_args(p, Rules)
    p.add_argument("--no-verify", action="store_true",
                   help="skip the perplexity check: every candidate is reported, marked unverified")
    p.add_argument("--verify-tokens", type=int, default=DEFAULT_TOKENS,
                   help=f"tokens of shipped text for the perplexity check (default {DEFAULT_TOKENS})")
    p.add_argument("--min-impact", type=float, default=DEFAULT_MIN_IMPACT,
                   help=f"a super weight group multiplies perplexity by at least this, and this x the control (default {DEFAULT_MIN_IMPACT:g})")
    p.add_argument("--each", action="store_true",
                   help="also measure each weight of a group alone (2 more perplexity passes per group, 1 per weight)")
    p.add_argument("--all", action="store_true",
                   help="one row per weight (default: one row per layer and output row, its columns listed)")
    p.add_argument("--json", metavar="FILE", help="also write the detection as JSON (always every weight)")


def run(args) -> int:
    rules = read_settings(Rules, args).check()  # bad rules fail before loading
    loaded = load_from_args(args)
    with Bars() as bars:
        d = find_super_weights(loaded, args.prompt, **dataclasses.asdict(rules), verify=not args.no_verify,
                               verify_tokens=args.verify_tokens, min_impact=args.min_impact, each=args.each,
                               progress=bars.of("scan"), verify_progress=bars.of("verify"))
    state = "verified" if d.verified else "NOT verified (--no-verify)"
    print(f"{d.model}: {len(d.super_weights)} super weight(s), {len(d.activation_sources)} activation source(s), "
          f"from {len(d.prompts)} prompt(s), {state}")
    candidates = d.candidates()
    if candidates and args.all:
        print(table([_row(w) for w in candidates]))
    elif candidates:
        rows = grouped_rows(d)
        if len(rows) < len(candidates):
            print(f"{len(candidates)} weights in {len(rows)} (layer, row) groups; --all lists every weight")
        print(table(rows))
    else:
        print(f"none found: the largest spike is {d.max_spike_ratio:.3g}x the typical layer "
              f"(threshold {d.threshold:g}x)")
    if d.late_spikes:
        print("\nspikes that are not super weights:")
        print(table([{
            "layer": s.layer, "channel": s.channel, "token": s.token, "value": s.value, "ratio": s.ratio,
            "label": s.label, "size with SW off": "-" if s.shrink is None else f"{s.shrink:.2f}x",
        } for s in d.late_spikes]))
    if d.weak_spikes:
        print("\nspikes left out:")
        print(table([{"layer": s.layer, "channel": s.channel, "token": s.token, "value": s.value,
                      "ratio": s.ratio, "scan": s.iteration, "why": s.reason,
                      "impact check": s.verdict or "-"} for s in d.weak_spikes]))
    if args.json:
        write_json(d.to_dict(), args.json)
    return 0


def _row(w) -> dict:
    i = w.impact
    return {
        "layer": w.layer, "[row, col]": f"[{w.row}, {w.col}]", "verdict": w.verdict, "value": w.value,
        "spike": w.activation.value, "channel": w.activation.channel, "token": w.activation.token,
        "ratio": w.spike_ratio, "share": w.share,
        "ppl x (removed)": "-" if i is None else i.ppl_ratio, "ppl x (control)": "-" if i is None else i.control_ratio,
        "ppl x (alone)": "-" if w.alone is None else w.alone["ppl_ratio"], "prompts": len(w.prompts),
    }
