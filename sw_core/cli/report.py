"""`python -m sw_core report --model M [--out DIR]`: the paper's analysis of one model, in one
self-contained report.html plus report.json (the data behind every figure). One line per section
on stderr, with its time."""

from __future__ import annotations

from .common import add_model_args, add_settings_args, load_from_args, progress, read_settings


def add_arguments(p) -> None:
    from ..report import ReportSettings

    add_model_args(p)
    p.add_argument("--out", default="report", help="folder for report.html and report.json (default ./report)")
    add_settings_args(p, ReportSettings)


def settings_from_args(args):
    from ..report import ReportSettings

    return read_settings(ReportSettings, args).check()


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
