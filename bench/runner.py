"""Run the bench groups, collect results, write `results.json` and `results.md`."""

from __future__ import annotations

import math
import platform
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .context import BenchContext
from .timing import BenchResult, old_objects_set_aside


def _groups():
    """(group name, module, function(ctx) -> list[BenchResult]), imported when the bench runs.

    The app's cases drive Streamlit, imported only inside those cases."""
    return [
        ("scan", "bench.cases_scan", "scan_cases"),
        ("detect", "bench.cases_detect", "detect_cases"),
        ("edits", "bench.cases_edits", "toggle_cases"),
        ("metrics", "bench.cases_metrics", "perplexity_cases"),
        ("loading", "bench.cases_loading", "ready_cases"),
        ("quant", "bench.cases_quant", "quant_cases"),
        ("generate", "bench.cases_generate", "generate_cases"),
        ("app", "bench.cases_app", "app_cases"),
        ("precompute", "bench.app_precompute", "precompute_cases"),
        ("report", "bench.cases_report", "report_cases"),
    ]


GROUPS = tuple(name for name, _, _ in _groups())


@dataclass
class BenchRun:
    results: list[BenchResult]
    skipped: dict[str, str] = field(default_factory=dict)  # group -> why
    environment: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {r.name: r.to_json() for r in self.results}


def environment(ctx: BenchContext) -> dict:
    device = ctx.device
    gpu = torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else None
    return {
        "model": ctx.loaded.name,
        "device": device,
        "gpu": gpu,
        "dtype": str(ctx.loaded.dtype).replace("torch.", ""),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {_cpu_count()} CPUs",
        "quick": ctx.quick,
        "repeats": ctx.repeats,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def run_bench(ctx: BenchContext, only: list[str] | None = None, progress=None) -> BenchRun:
    """Run every group (or those in `only`) and return the results.

    A group whose module does not import fails the bench (a broken install must not pass as a
    skipped figure); a group that raises while measuring is recorded as skipped with its error, so one broken capability
    does not hide the other figures."""
    import importlib

    say = progress or (lambda msg: None)
    run = BenchRun(results=[], environment=environment(ctx))
    groups = [(name, getattr(importlib.import_module(module_name), fn_name))
              for name, module_name, fn_name in _groups()]
    with old_objects_set_aside():  # one full collection for the whole run, not one per timing
        for name, measure in groups:
            if not only or name in only:
                _run_group(run, name, measure, ctx, say)
    return run


def _run_group(run: BenchRun, name: str, measure, ctx: BenchContext, say) -> None:
    """Run one group's `measure(ctx)` into `run`: its results, or its error as a skipped group."""
    say(f"[{name}] ...")
    start = time.perf_counter()
    try:
        group = measure(ctx)
    except Exception as e:  # noqa: BLE001 - record and go on with the other groups
        run.skipped[name] = f"{type(e).__name__}: {e}"
        say(f"[{name}] failed: {type(e).__name__}: {e}\n{traceback.format_exc()}")
        return
    for r in group:
        say(f"  {r.name}: {_fmt(r.value)} {r.unit} vs {_fmt(r.baseline)} {r.unit} -> ratio {_fmt(r.ratio)}")
    run.results.extend(group)
    say(f"[{name}] {time.perf_counter() - start:.1f} s")


def _fmt(x: float) -> str:
    if not isinstance(x, (int, float)) or not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    if abs(x) >= 1e5 or abs(x) < 1e-3:
        return f"{x:.3g}"
    return f"{x:.4g}"


def markdown(run: BenchRun) -> str:
    env = run.environment
    lines = [
        f"Model {env.get('model')} on {env.get('device')}"
        + (f" ({env['gpu']})" if env.get("gpu") else f" ({env.get('machine')}, {env.get('torch_threads')} torch threads)")
        + f", {env.get('dtype')}; torch {env.get('torch')}; medians of {env.get('repeats')} repeats after a warm-up"
        + ("; quick mode" if env.get("quick") else "") + f"; {env.get('date')}.",
        "",
        "| case | value | baseline | ratio | goal | met | value measures | baseline measures |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in run.results:
        met = "—" if r.met is None else ("yes" if r.met else "**no**")
        lines.append(
            f"| {r.name} | {_fmt(r.value)} {r.unit} | {_fmt(r.baseline)} {r.unit} | {_fmt(r.ratio)} | "
            f"{r.goal or '—'} | {met} | {r.what} | {r.baseline_what} |"
        )
    if run.skipped:
        lines += ["", "Skipped groups:"]
        lines += [f"- {name}: {why}" for name, why in run.skipped.items()]
    return "\n".join(lines) + "\n"


def write_outputs(run: BenchRun, out: str | Path) -> tuple[Path, Path]:
    from sw_core.cli.common import write_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "results.json", out / "results.md"
    write_json(run.to_json(), json_path)
    md_path.write_text(markdown(run))
    print(f"wrote {md_path}", file=sys.stderr)
    return json_path, md_path
