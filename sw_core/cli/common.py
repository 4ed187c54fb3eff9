"""Pieces every CLI command shares: model arguments, settings options, progress on stderr, tables, JSON output."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import sys
import tempfile
from pathlib import Path

from ..errors import BadInput


def add_model_args(p) -> None:
    p.add_argument("--model", default="embedded", help="'embedded' (default), a local folder or .gguf, or a hub id")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--dtype", default="auto", help="auto | float32 | bfloat16 | float16")
    p.add_argument("--device-map", default=None, help="'auto' spreads a large model over GPUs and CPU")
    p.add_argument("--trust-remote-code", action="store_true", help="run the model repo's own code (unsafe)")
    p.add_argument("--allow-pickle", action="store_true", help="allow pickled .bin weights (unsafe)")
    p.add_argument("--memory-budget", type=float, default=None, metavar="GB",
                   help="memory the model may use (default: what this machine has available now)")


_METAVARS = {float: "F", int: "N", str: "NAME"}  # one value of a several-valued option


def add_settings_args(p, cls) -> None:
    """One option per field of the settings dataclass `cls` (fields made by `sw_core.setting.setting`):
    a --kebab-case name, type and default from the field's default, the field's help; a tuple takes
    several values; a boolean is a flag that turns its default over (--no-name where it is on)."""
    for f in dataclasses.fields(cls):
        d = f.default
        text = f.metadata["help"].replace("%", "%%")  # argparse formats help with %
        if isinstance(d, bool):
            p.add_argument(_option(f), dest=f.name, action="store_false" if d else "store_true",
                           help=f"skip {text}" if d else text)
            continue
        # a field's own parse runs in read_settings: its refusal is the command's error, as check()'s are
        read = str if "parse" in f.metadata else type(d[0] if isinstance(d, tuple) else d)
        several = {"nargs": "+", "metavar": f.metadata.get("metavar", _METAVARS.get(read))}
        p.add_argument(_option(f), dest=f.name, type=read, default=d, help=f"{text} (default {_shown(d)})",
                       **(several if isinstance(d, tuple) else {}))


def read_settings(cls, args):
    """`cls` from the options `add_settings_args` made: lists become tuples, and a field's own parse
    reads the values given as text."""
    values = {}
    for f in dataclasses.fields(cls):
        value = getattr(args, f.name)
        if "parse" in f.metadata and value is not f.default:
            one = functools.partial(parsed, f.metadata["parse"], _option(f))
            value = [one(v) for v in value] if isinstance(value, list) else one(value)
        values[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)


def _option(f) -> str:
    kebab = f.name.replace("_", "-")
    return f.metadata.get("option", f"--no-{kebab}" if f.default is True else f"--{kebab}")


def parsed(parse, option: str, text: str):
    """parse(text), a refusal (ValueError) told as the option and the text it came from."""
    try:
        return parse(text)
    except ValueError as e:
        raise BadInput(f"{option} {text!r}: {e}") from None


def _shown(default) -> str:
    if isinstance(default, tuple):
        return " ".join(_shown(v) if isinstance(v, float) else str(v) for v in default)
    return f"{default:g}" if isinstance(default, float) else repr(default) if isinstance(default, str) else str(default)


def load_from_args(args):
    from ..loading import load

    progress(f"loading {args.model} ...")
    budget = getattr(args, "memory_budget", None)
    with Bars() as bars:
        loaded = load(
            args.model,
            device=args.device,
            dtype=args.dtype,
            device_map=args.device_map,
            trust_remote_code=args.trust_remote_code,
            allow_pickle=args.allow_pickle,
            memory_budget=None if budget is None else int(budget * 1e9),
            progress=bars,
        )
    if loaded.plan is not None:
        progress(f"memory plan: {loaded.plan.summary()}")
        for note in loaded.plan.notes:
            progress(f"memory plan: {note}")
    progress(f"loaded in {loaded.load_seconds:.2f} s" + (" (from cache)" if loaded.from_cache else ""))
    return loaded


# What each step of `sw_core.progress` is called on screen, and whether it counts bytes.
_STEPS = {"download": ("downloading", True), "convert": ("converting", False), "load": ("loading weights", False),
          "cache": ("writing the cache", True), "scan": ("scanning prompts", False),
          "verify": ("verifying (perplexity passes)", False), "perplexity": ("perplexity", False)}


class Bars:
    """A progress(step, done, total) callback that draws one tqdm bar per step on stderr, with ETA.

    A new step closes the previous step's bar. Use as a context manager so the last bar closes."""

    def __init__(self):
        self.step, self.bar = None, None

    def __call__(self, step: str, done: float, total: float | None) -> None:
        from tqdm.auto import tqdm

        if step != self.step:
            self.close()
            label, in_bytes = _STEPS.get(step, (step, False))
            self.step = step
            self.bar = tqdm(total=total, desc=label, file=sys.stderr, unit="B" if in_bytes else "it",
                            unit_scale=in_bytes, unit_divisor=1024 if in_bytes else 1000, mininterval=0.5,
                            dynamic_ncols=True, leave=True)
        if total is not None and self.bar.total != total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)

    def of(self, step: str):
        """The same bars as a (done, total) callback of one step (what scans and metrics call)."""
        return lambda done, total: self(step, done, total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.step, self.bar = None, None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


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
