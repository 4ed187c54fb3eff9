"""The Report page's work: one report at a time per slot, built through the job queue.

A report takes CPU-minutes, so on top of the queue's own bound (`jobs.heavy_job`) the process
builds at most `limits.max_report_jobs` at once (1 on a public server, which also builds only the
quick depth); a visitor over the limit is told to come back instead of waiting in line for minutes.
"""

from __future__ import annotations

from contextlib import contextmanager

from sw_core.report import SECTIONS, ReportSettings, build_report
from sw_core.report.settings import quick_settings

from . import cached, jobs
from .public import is_public

DEPTHS = {"full": "full: the default settings, a few CPU-minutes on the embedded model",
          "quick": "quick: fewer tokens, questions, scales and blocks, about a CPU-minute"}


def depths() -> list[str]:
    """The depths this server offers: a public one builds quick reports only."""
    return ["quick"] if is_public() else list(DEPTHS)


@contextmanager
def report_slot():
    """Hold one of the report slots for the body; yields False (and holds nothing) when all are taken."""
    slots = cached.report_slots()
    if not slots.acquire(blocking=False):
        yield False
        return
    try:
        yield True
    finally:
        slots.release()


def build(loaded, detection, depth: str, *, on_section=None, on_wait=None):
    """The report of `loaded` at `depth` ("quick" or "full"), through the job queue; reuses `detection`."""
    if depth not in depths():
        raise ValueError(f"depth {depth!r} is not offered here: use one of {', '.join(depths())}.")
    settings = quick_settings() if depth == "quick" else ReportSettings()
    with jobs.heavy_job("report", on_wait=on_wait):
        return build_report(loaded, settings, detection=detection, progress=on_section)


SECTION_COUNT = len(SECTIONS)
