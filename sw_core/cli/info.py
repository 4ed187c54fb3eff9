"""`python -m sw_core info --model REF`: what was loaded, from where, how fast."""

import json

from .common import add_model_args, load_from_args


def add_arguments(p) -> None:
    add_model_args(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args) -> int:
    info = load_from_args(args).info()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        width = max(map(len, info))
        for k, v in info.items():
            print(f"{k.ljust(width)}  {v}")
    return 0
