"""`python -m sw_core report --model M [--out DIR]`: the paper's analysis of one model, in one
self-contained report.html plus report.json (the data behind every figure). One line per section
on stderr, with its time."""

from __future__ import annotations

from ..errors import BadInput
from .common import add_model_args, load_from_args, progress


def add_arguments(p) -> None:
    from ..report.settings import (DEFAULT_BLOCK_TOKENS, DEFAULT_MAX_TOKENS, DEFAULT_QUESTIONS, DEFAULT_SCALES,
                                   DEFAULT_STOP_PROMPTS, DEFAULT_SWEEP_QUESTIONS, DEFAULT_TEXTS,
                                   DEFAULT_WEIGHT_SWEEP_MAX, DEFAULT_WEIGHT_SWEEP_QUESTIONS, DEFAULT_WEIGHT_SWEEP_SCALES,
                                   DEFAULT_WEIGHT_SWEEP_TOKENS, DEFAULT_WINDOW)

    add_model_args(p)
    p.add_argument("--out", default="report", help="folder for report.html and report.json (default ./report)")
    p.add_argument("--prompt", default=None, help="detection prompt (default: the paper's)")
    p.add_argument("--texts", nargs="+", default=list(DEFAULT_TEXTS), metavar="NAME",
                   help="shipped text names or .txt paths for Table 1 and the scale sweep")
    p.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS, help=f"tokens per text (default {DEFAULT_MAX_TOKENS})")
    p.add_argument("--window", type=int, default=DEFAULT_WINDOW, help=f"perplexity window (default {DEFAULT_WINDOW})")
    p.add_argument("--questions", type=int, default=DEFAULT_QUESTIONS, help=f"zero-shot questions for Table 1 (default {DEFAULT_QUESTIONS}; 0: skip)")
    p.add_argument("--sweep-questions", type=int, default=DEFAULT_SWEEP_QUESTIONS,
                   help=f"zero-shot questions per scale (default {DEFAULT_SWEEP_QUESTIONS}; 0: skip)")
    p.add_argument("--stop-prompts", type=int, default=DEFAULT_STOP_PROMPTS, help=f"stop-word prompts (default {DEFAULT_STOP_PROMPTS})")
    p.add_argument("--scales", type=float, nargs="+", default=list(DEFAULT_SCALES), metavar="F", help="scale factors (0 and 1 are always in)")
    p.add_argument("--weight-sweep-scales", type=float, nargs="+", default=list(DEFAULT_WEIGHT_SWEEP_SCALES), metavar="F",
                   help="scale factors when each super weight is scaled alone (0 and 1 are always in)")
    p.add_argument("--weight-sweep-tokens", type=int, default=DEFAULT_WEIGHT_SWEEP_TOKENS,
                   help=f"tokens per text for each super weight's own sweep (default {DEFAULT_WEIGHT_SWEEP_TOKENS})")
    p.add_argument("--weight-sweep-questions", type=int, default=DEFAULT_WEIGHT_SWEEP_QUESTIONS,
                   help=f"zero-shot questions per point of each super weight's own sweep (default {DEFAULT_WEIGHT_SWEEP_QUESTIONS}; 0: skip)")
    p.add_argument("--weight-sweep-max", type=int, default=DEFAULT_WEIGHT_SWEEP_MAX,
                   help=f"sweep at most this many super weights alone, the largest first (default {DEFAULT_WEIGHT_SWEEP_MAX}; 0: none)")
    p.add_argument("--blocks", nargs="+", default=None, metavar="B",
                   help="RTN block sizes: numbers, 'row', 'tensor' (default 64 128 256 512 row tensor)")
    p.add_argument("--block-tokens", type=int, default=DEFAULT_BLOCK_TOKENS, help=f"tokens per block-sweep point (default {DEFAULT_BLOCK_TOKENS})")
    p.add_argument("--no-validate", action="store_true", help="skip cross-prompt stability (the built-in prompts)")
    p.add_argument("--no-vocabulary", action="store_true", help="skip the mechanism's word shift")


def settings_from_args(args):
    from ..report import ReportSettings
    from ..report.settings import DEFAULT_BLOCKS

    blocks = DEFAULT_BLOCKS if args.blocks is None else tuple(_block(b) for b in args.blocks)
    kw = dict(texts=tuple(args.texts), max_tokens=args.max_tokens, window=args.window, questions=args.questions,
              sweep_questions=args.sweep_questions, stop_prompts=args.stop_prompts, scales=tuple(args.scales),
              weight_sweep_scales=tuple(args.weight_sweep_scales), weight_sweep_tokens=args.weight_sweep_tokens,
              weight_sweep_questions=args.weight_sweep_questions, weight_sweep_max=args.weight_sweep_max,
              blocks=blocks, block_tokens=args.block_tokens, validate_prompts=not args.no_validate,
              vocabulary=not args.no_vocabulary)
    if args.prompt:
        kw["prompt"] = args.prompt
    return ReportSettings(**kw).check()


def _block(text: str):
    if text in ("row", "tensor"):
        return text
    try:
        return int(text)
    except ValueError:
        raise BadInput(f"--blocks {text!r}: give whole numbers such as 64 128, or 'row' or 'tensor'.") from None


def say(section, done: int, total: int, elapsed: float) -> None:
    state = "done" if section.ran else f"could not run: {section.why_not}"
    progress(f"[{done}/{total}] {section.title}: {state} ({section.seconds:.1f} s; {elapsed:.1f} s in all)")


def run(args) -> int:
    from ..report import build_report, write_report

    settings = settings_from_args(args)  # bad settings fail before loading
    loaded = load_from_args(args)
    report = build_report(loaded, settings, progress=say)
    html_path, json_path = write_report(report, args.out)
    progress(f"wrote {html_path} and {json_path} in {report.seconds:.1f} s")
    return 0
