"""Pieces every CLI command shares: model arguments, progress on stderr, tables, JSON output."""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from pathlib import Path


def add_model_args(p) -> None:
    p.add_argument("--model", default="embedded", help="'embedded' (default), a local folder or .gguf, or a hub id")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--dtype", default="auto", help="auto | float32 | bfloat16 | float16")
    p.add_argument("--device-map", default=None, help="'auto' spreads a large model over GPUs and CPU")
    p.add_argument("--trust-remote-code", action="store_true", help="run the model repo's own code (unsafe)")
    p.add_argument("--allow-pickle", action="store_true", help="allow pickled .bin weights (unsafe)")


def load_from_args(args):
    from ..loading import load

    progress(f"loading {args.model} ...")
    loaded = load(
        args.model,
        device=args.device,
        dtype=args.dtype,
        device_map=args.device_map,
        trust_remote_code=args.trust_remote_code,
        allow_pickle=args.allow_pickle,
    )
    progress(f"loaded in {loaded.load_seconds:.2f} s" + (" (from cache)" if loaded.from_cache else ""))
    return loaded


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fmt(value) -> str:
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"
    return str(value)


def table(rows: list[dict], columns: list[str] | None = None) -> str:
    """A plain-text table of dicts, columns aligned."""
    if not rows:
        return "(none)"
    columns = columns or list(rows[0])
    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = lambda vals: "  ".join(v.rjust(w) for v, w in zip(vals, widths))  # noqa: E731
    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in cells])


def write_json(obj, path: str | os.PathLike) -> None:
    """Write JSON atomically (temporary file, then rename): never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=2, default=_jsonable)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    progress(f"wrote {path}")


def _jsonable(o):
    import dataclasses

    if dataclasses.is_dataclass(o):
        return dataclasses.asdict(o)
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, (set, tuple)):
        return list(o)
    return str(o)
