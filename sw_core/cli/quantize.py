"""`python -m sw_core quantize --model REF`: naive vs super-weight-aware quantization, side by side.

Rows: full precision, RTN naive and aware, W8A8 naive and aware, bitsandbytes LLM.int8 and NF4
(plus --extra rows). Columns: perplexity per text, optionally zero-shot trivia accuracy, and the
super weights' values after quantization.
"""

from __future__ import annotations

import time

from ..errors import BadInput
from ..quant.settings import GRANULARITIES, parse_block, table_rows, table_settings
from ..texts import PROSE
from .common import add_model_args, load_from_args, parsed, progress, table, write_json


def add_arguments(p) -> None:
    add_model_args(p)
    p.add_argument("--bits", type=int, default=4, help="RTN bits, 2-8 (default 4)")
    p.add_argument("--block", default="64", help="RTN block: weights per scale along a row, a power of two such as 32, 64, 128 (a row's last "
                   "block is shorter where the block does not divide the row), 'row' or 'tensor' (default 64)")
    p.add_argument("--clip-z", default=None, help="RTN clipping at mean +- Z*std per block; 'search' picks Z (default: none)")
    p.add_argument("--modules", default=None, help="RTN/W8A8 only on linear layers whose name contains this (default: all)")
    p.add_argument("--granularity", choices=GRANULARITIES, default="tensor", help="W8A8 activation scales")
    p.add_argument("--threshold", type=float, default=6.0, help="LLM.int8 outlier threshold (default 6.0)")
    p.add_argument("--modes", nargs="+", default=None, metavar="MODE",
                   help=f"rows to run, from: {' '.join(table_rows(every=True))} (default: {' '.join(table_rows())})")
    p.add_argument("--texts", nargs="+", default=[PROSE], metavar="NAME",
                   help="shipped text names (shakespeare, britannica) or .txt paths")
    p.add_argument("--max-tokens", type=int, default=512, help="tokens of each text to score (default 512)")
    p.add_argument("--zero-shot", action="store_true", help="also zero-shot trivia accuracy (slower)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the rows as JSON (key 'rows')")


def parse_clip(text):
    if text is None or text == "search":
        return text
    try:
        return float(text)
    except ValueError:
        raise BadInput(f"--clip-z {text!r}: give a number of standard deviations such as 3, or 'search'.") from None


def settings_from_args(args) -> list:
    """(row name, QuantSetting) per --modes row, built now: bad bits/blocks fail before loading."""
    if args.max_tokens < 2:
        raise BadInput(f"--max-tokens {args.max_tokens}: score at least 2 tokens.")
    return table_settings(args.modes, bits=args.bits, block=parsed(parse_block, "--block", args.block),
                          clip_z=parse_clip(args.clip_z), modules=args.modules, granularity=args.granularity,
                          threshold=args.threshold)


def run(args) -> int:
    from .. import texts as shipped
    from ..detect import find_super_weights
    from ..metrics import perplexity, zero_shot_accuracy
    from ..quant import quantized, resolved_setting, super_weight_values

    settings = settings_from_args(args)
    bodies = {name: shipped.text(name) for name in args.texts}
    loaded = load_from_args(args)
    progress("detecting super weights ...")
    detection = find_super_weights(loaded)
    progress("super weights: " + (", ".join(str(c) for c in detection.coords()) or "none found"))
    rows = []
    for mode, setting in settings:
        progress(f"{setting.label} ...")
        start = time.perf_counter()
        setting = resolved_setting(loaded, setting, detection.coords() if setting.aware else [])
        q = quantized(loaded, setting, detection)
        seconds = time.perf_counter() - start
        row = {"mode": mode, "label": setting.label, "setting": setting,
               "quantize_seconds": round(seconds, 3),
               "perplexity": {name: perplexity(q, body, max_tokens=args.max_tokens) for name, body in bodies.items()},
               "super_weights": super_weight_values(q, detection, loaded)}
        if setting.clip_z is not None:
            row["clip_z"] = setting.clip_z
        if args.zero_shot:
            row["zero_shot"] = zero_shot_accuracy(q).accuracy
        rows.append(row)
        del q
    print(table([_flat(r) for r in rows]))
    if args.json:
        write_json({"model": loaded.name, "super_weights": [str(c) for c in detection.coords()],
                    "max_tokens": args.max_tokens, "rows": rows}, args.json)
    return 0


def _flat(row: dict) -> dict:
    out = {"mode": row["label"]}
    for name, ppl in row["perplexity"].items():
        out[f"ppl {name}"] = ppl
    if "zero_shot" in row:
        out["zero-shot"] = row["zero_shot"]
    out["super weights after"] = " ".join(f"{v.quantized:.4g}" for v in row["super_weights"]) or "-"
    out["quantize s"] = row["quantize_seconds"]
    return out
