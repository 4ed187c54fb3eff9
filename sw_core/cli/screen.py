"""`python -m sw_core screen --model REF [--top N]`: candidate weights ranked by measured perplexity cost.

Candidates: the detector's super weights plus the largest |W| of each early down projection; each
one is removed alone and the short text's perplexity measured, all in batched passes.
"""

from __future__ import annotations

from ..texts import PROSE
from .common import add_model_args, load_from_args, progress, table, write_json


def add_arguments(p) -> None:
    add_model_args(p)
    p.add_argument("--top", type=int, default=10, help="rows to print (default 10)")
    p.add_argument("--per-layer", type=int, default=2, help="largest |W| per early down projection (default 2)")
    p.add_argument("--layers", type=int, default=None, help="early layers to take them from (default: first half)")
    p.add_argument("--max-tokens", type=int, default=64, help="tokens of the text to score (default 64)")
    p.add_argument("--text", default=PROSE, help=f"shipped text name or .txt path (default {PROSE})")
    p.add_argument("--batch-size", type=int, default=8, help="candidates per forward pass (default 8)")
    p.add_argument("--compare", action="store_true", help="also time one pass per candidate, for the speed-up")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the ranking as JSON")


def run(args) -> int:
    import dataclasses

    from .. import texts
    from ..detect import find_super_weights
    from ..errors import BadInput
    from ..screening import candidates, screen

    if args.top < 1:
        raise BadInput(f"--top {args.top}: print at least one row.")
    body = texts.text(args.text)
    loaded = load_from_args(args)
    progress("detecting super weights ...")
    detected = find_super_weights(loaded).coords()
    cands = candidates(loaded, detected, per_layer=args.per_layer, layers=args.layers)
    progress(f"screening {len(cands)} candidates ...")
    s = screen(loaded, cands, text=body, max_tokens=args.max_tokens, batch_size=args.batch_size, compare=args.compare)
    print(f"model: {s.model}; {len(s.rows)} candidates on {s.tokens} tokens of {args.text}; "
          f"unedited perplexity {s.baseline_ppl:.4g}")
    print(table(s.table(args.top)))
    print(f"\n{s.forwards} batched passes of up to {s.batch_size} rows: {s.seconds:.2f} s", end="")
    if s.speedup is not None:
        print(f"; one pass per candidate: {s.sequential_seconds:.2f} s ({s.speedup:.2f}x slower)")
    else:
        print()
    if args.json:
        write_json({"model": s.model, "tokens": s.tokens, "baseline_ppl": s.baseline_ppl,
                    "rows": [dataclasses.asdict(r) for r in s.rows], "forwards": s.forwards,
                    "batch_size": s.batch_size, "seconds": s.seconds,
                    "sequential_seconds": s.sequential_seconds}, args.json)
    return 0
