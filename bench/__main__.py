"""`python -m bench [--quick] [--only GROUP ...] [--model REF] [--dtype D] --out bench` (`make bench`).

Every figure is a ratio against a baseline measured in the same run (medians of >= 5 repeats,
after a warm-up): writes OUT/results.json (name -> {value, baseline, ratio, goal, unit, ...}) and
OUT/results.md, and prints the Markdown table. The library's cases and the app's, in one run.
"""

from __future__ import annotations

import argparse
import sys

from sw_core.cli.common import add_model_args, load_from_args, progress
from sw_core.errors import BadInput, SuperWeightError
from sw_core.testing import TINY_TYPES, tiny_model

from .context import BenchContext
from .runner import GROUPS, markdown, run_bench, write_outputs


def add_arguments(p) -> None:
    add_model_args(p)
    p.add_argument("--out", default="bench", help="folder for results.json and results.md (default: bench)")
    p.add_argument("--quick", action="store_true", help="a fast smoke run: short inputs, slow groups skipped")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per figure (at least 5; default 5)")
    p.add_argument("--only", nargs="+", choices=GROUPS, metavar="GROUP",
                   help=f"run only these groups: {', '.join(GROUPS)}")


def _load(args):
    """(Loaded, a function that builds it again, or None for a plain reload)."""
    # "tiny-llama", "tiny-gpt2", ...: a random tiny model built in-process (no files needed).
    if args.model.startswith("tiny-"):
        kind = args.model[len("tiny-"):]
        if kind not in TINY_TYPES:
            raise BadInput(f"Unknown tiny model '{args.model}': use tiny-{' | tiny-'.join(TINY_TYPES)}.")
        return tiny_model(kind), lambda: tiny_model(kind)
    if args.only == ["app"] and not (args.device_map or args.memory_budget or args.trust_remote_code or args.allow_pickle):
        # The app's cases alone: load through the app's own cache, so the pages find this copy
        # instead of loading a second one (a 1.5B model twice would not fit a small machine).
        from .cases_app import load_shared

        return load_shared(args.model, args.device, args.dtype), None
    return load_from_args(args), None


def run(args) -> int:
    """Exit status 1 when a group failed while measuring (its error is in the report)."""
    if args.repeats < 5:
        raise BadInput(f"--repeats {args.repeats} is too few for a median on a noisy machine: use 5 or more.")
    loaded, reload = _load(args)
    ctx = BenchContext(loaded, quick=args.quick, repeats=args.repeats, tokens=64 if args.quick else 256,
                       reload=reload)
    result = run_bench(ctx, only=args.only, progress=progress)
    write_outputs(result, args.out)
    sys.stdout.write(markdown(result))
    return 1 if result.skipped else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return run(args)
    except SuperWeightError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
