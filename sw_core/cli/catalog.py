"""`python -m sw_core catalog [--model REF]`: published super weights, checked against a model."""

from __future__ import annotations

from ..catalog import all_entries, verify
from .common import add_model_args, load_from_args, table, write_json


def add_arguments(p) -> None:
    add_model_args(p)
    p.set_defaults(model=None)
    p.add_argument("--json", metavar="FILE", help="also write the entries (and checks) as JSON")


def _row(e) -> dict:
    return {"model": e.model, "layer": e.layer, "[row, col]": f"[{e.row}, {e.col}]", "source": e.source if len(e.source) <= 60 else e.source[:59] + "…"}


def run(args) -> int:
    if args.model is None:
        entries = all_entries()
        print(table([_row(e) for e in entries]))
        print("\n[row, col] = [output channel, input channel] of down_proj.weight (paper Table 2; "
              "its Fig. 3 caption swaps the words)")
        if args.json:
            write_json([e.to_dict() for e in entries], args.json)
        return 0
    loaded = load_from_args(args)
    checks = verify(loaded)
    if not checks:
        print(f"{loaded.name}: no catalogued coordinates for this model (or its instruct/base variants)")
    else:
        print(table([{**_row(c.entry), "match": c.match, "re-found": "yes" if c.refound else "NO"} for c in checks]))
        print(f"\n{sum(c.refound for c in checks)}/{len(checks)} catalogued coordinates re-found by the detector")
    if args.json:
        write_json([{**c.entry.to_dict(), "match": c.match, "refound": c.refound} for c in checks], args.json)
    return 0
