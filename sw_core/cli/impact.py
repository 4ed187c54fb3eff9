"""`python -m sw_core impact --model REF`: the paper's Table 1 for this model.

Rows: original, super weights off, super weights off with the super activation restored, the
top-k other weights off (the control), optionally each super weight alone, and each --scale.
Columns: perplexity per text, zero-shot trivia accuracy, stop-word probability ratio.
"""

from __future__ import annotations

import dataclasses

from ..edits import Coord
from ..errors import BadInput
from .common import add_model_args, load_from_args, progress, table, write_json


def add_arguments(p) -> None:
    add_model_args(p)
    p.add_argument("--texts", nargs="+", default=["shakespeare", "britannica"], metavar="NAME",
                   help="shipped text names (shakespeare, britannica) or .txt paths")
    p.add_argument("--max-tokens", type=int, default=1024, help="tokens of each text to score (default 1024)")
    p.add_argument("--window", type=int, default=512, help="perplexity window in tokens (default 512)")
    p.add_argument("--stride", type=int, default=None, help="window stride (default window/2)")
    p.add_argument("--scale", type=float, nargs="+", default=[], metavar="F", help="also scale the super weights by F")
    p.add_argument("--weights", nargs="+", default=None, metavar="L:R:C",
                   help="super weights as layer:row:col, instead of detecting them")
    p.add_argument("--control-k", type=int, default=100, help="largest non-super weights turned off (default 100)")
    p.add_argument("--control-scope", choices=["matrix", "all"], default="matrix",
                   help="matrix: k per matrix holding a super weight; all: k per down projection")
    p.add_argument("--each", action="store_true", help="also one row per super weight turned off alone")
    p.add_argument("--stop-prompts", type=int, default=64, help="next-word prompts for the stop-word ratio (0: skip)")
    p.add_argument("--questions", type=int, default=None, help="trivia questions for zero-shot accuracy (default all 260; 0: skip)")
    p.add_argument("--batch-size", type=int, default=4, help="perplexity windows per forward pass")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the rows as JSON")


def parse_weights(specs: list[str]) -> list[Coord]:
    out = []
    for s in specs:
        parts = s.replace(",", ":").split(":")
        try:
            layer, row, col = (int(x) for x in parts)
        except ValueError:
            raise BadInput(f"Weight {s!r} is not layer:row:col, e.g. 11:507:1229.") from None
        out.append(Coord(layer, row, col))
    return out


def run(args) -> int:
    from .. import texts as shipped
    from ..metrics.impact import conditions, impact_rows

    if args.max_tokens is not None and args.max_tokens < 2:
        raise BadInput(f"--max-tokens {args.max_tokens}: score at least 2 tokens.")
    bodies = {name: shipped.text(name) for name in args.texts}
    chosen = parse_weights(args.weights) if args.weights else None  # refuse typos before loading
    loaded = load_from_args(args)
    if chosen:
        coords = chosen
    else:
        from ..detect import find_super_weights

        progress("detecting super weights ...")
        coords = find_super_weights(loaded).coords()
        if not coords:
            raise BadInput("No super weight was detected in this model: nothing to remove. "
                           "Pass --weights layer:row:col to test chosen weights.")
    progress("super weights: " + ", ".join(map(str, coords)))
    conds = conditions(loaded, coords, scales=args.scale, control_k=args.control_k,
                       control_scope=args.control_scope, each=args.each)
    rows = impact_rows(loaded, conds, texts=bodies, max_tokens=args.max_tokens, window=args.window,
                       stride=args.stride, zero_shot=args.questions, stop_prompts=args.stop_prompts,
                       batch_size=args.batch_size, progress=progress)
    flat = []
    for r in rows:
        d = {"condition": r.condition}
        d.update({f"ppl {k}": v for k, v in r.perplexity.items()})
        if r.zero_shot_accuracy is not None:
            d["zero-shot acc"] = r.zero_shot_accuracy
        if r.stop_mass_ratio is not None:
            d["stop words x"] = r.stop_mass_ratio
            d["next word x"] = r.target_ratio
        d["weights off"] = r.edited_weights
        d["s"] = round(r.seconds, 1)
        flat.append(d)
    print(f"model: {loaded.name}; super weights: {', '.join(map(str, coords))}")
    print(table(flat))
    if args.json:
        write_json({
            "model": loaded.name,
            "super_weights": [c.to_dict() for c in coords],
            "settings": {"texts": args.texts, "max_tokens": args.max_tokens, "window": args.window,
                         "stride": args.stride or args.window // 2, "control_k": args.control_k,
                         "control_scope": args.control_scope, "stop_prompts": args.stop_prompts,
                         "questions": args.questions},
            "rows": [dataclasses.asdict(r) for r in rows],
        }, args.json)
    return 0
