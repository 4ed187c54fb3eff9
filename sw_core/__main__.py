"""`python -m sw_core COMMAND ...`: each command lives in `sw_core/cli/<command>.py`."""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import SuperWeightError

# command -> (module, one-line help); modules are imported only when their command runs.
COMMANDS = {
    "info": ("sw_core.cli.info", "load a model and describe it"),
    "detect": ("sw_core.cli.detect", "find super weights from one forward pass"),
    "catalog": ("sw_core.cli.catalog", "published super weights, checked against a model"),
    "impact": ("sw_core.cli.impact", "the paper's Table 1: what removing super weights does"),
    "quantize": ("sw_core.cli.quantize", "naive vs super-weight-aware quantization"),
    "explain": ("sw_core.cli.explain", "how a super weight works: pathway, persistence, attention, vocabulary"),
    "screen": ("sw_core.cli.screen", "rank candidate weights by measured perplexity impact"),
    "report": ("sw_core.cli.report", "the paper's analysis of one model: report.html + report.json"),
    "cache": ("sw_core.cli.cache", "list or clear the converted models cached in $SW_CACHE"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sw_core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    argv = sys.argv[1:] if argv is None else argv
    wanted = argv[0] if argv and argv[0] in COMMANDS else None
    modules = {}
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == wanted:  # import only the module that runs: keeps --help and start-up fast
            modules[name] = importlib.import_module(module_name)
            modules[name].add_arguments(p)
    args = parser.parse_args(argv)
    try:
        return int(modules[args.command].run(args) or 0)
    except SuperWeightError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
