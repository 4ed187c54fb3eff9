"""`python -m bench.numbers` (`make numbers`): every measured table in README.md and docs/*.md.

    python -m bench.numbers --measure   # measure (embedded model, CPU), write docs/numbers/*.json, fill the docs
    python -m bench.numbers --memory    # also the four-session memory test of the public server (deploy.json)
    python -m bench.numbers             # fill the docs from the stored outputs only (no model runs)
    python -m bench.numbers --check     # exit 1 naming every block that differs from the stored outputs

The tables live between `<!-- numbers:NAME -->` markers (`numbers_render.py`); `tests/test_numbers.py`
runs the check, so a document that shows numbers other than the stored ones fails the tests.
"""

from __future__ import annotations

import argparse
import json
import sys

from . import numbers_render as render

COMMAND = "make numbers"


def _write(name: str, data: dict) -> None:
    render.NUMBERS.mkdir(parents=True, exist_ok=True)
    path = render.NUMBERS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(render.ROOT)}", file=sys.stderr)


def measure() -> None:
    import torch

    from sw_core.loading import load

    from . import numbers_measure as m

    torch.manual_seed(0)
    loaded = load("embedded", device="cpu", dtype="float32")
    det = m.detection(loaded)
    _write("app", m.app_numbers(loaded, det, COMMAND))
    _write("quantization", m.quantization_numbers(loaded, det, COMMAND))


def fill() -> list[str]:
    """Rewrite every document's blocks; returns the documents changed."""
    changed = []
    for doc in render.documents():
        text = doc.read_text(encoding="utf-8")
        new = render.filled(text)
        if new != text:
            doc.write_text(new, encoding="utf-8")
            changed.append(str(doc.relative_to(render.ROOT)))
    return changed


def check() -> list[str]:
    return [f"{doc.relative_to(render.ROOT)}: {name}" for doc in render.documents()
            for name in render.stale_blocks(doc.read_text(encoding="utf-8"))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.numbers", description=__doc__.split("\n")[0])
    ap.add_argument("--measure", action="store_true", help="measure on the embedded model first")
    ap.add_argument("--memory", action="store_true", help="also measure the public server's peak RSS (4 sessions)")
    ap.add_argument("--check", action="store_true", help="only report blocks that differ from the stored outputs")
    args = ap.parse_args(argv)
    if args.check:
        stale = check()
        for s in stale:
            print(f"stale: {s} (run `{COMMAND}`)", file=sys.stderr)
        return 1 if stale else 0
    if args.measure:
        measure()
    if args.memory:
        from .memory_check import measure_public_server

        _write("deploy", measure_public_server())
    for doc in fill():
        print(f"updated {doc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
