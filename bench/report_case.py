"""The report on the embedded model: wall and CPU seconds (goal: 5 CPU-minutes).

CPU seconds are the process's user + system time over every thread (`time.process_time`), so the
number does not depend on how busy the machine is. `python -m bench.report_case [--quick]` prints
the result as JSON; `report_case(...)` returns it for the bench.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

GOAL_CPU_SECONDS = 300.0  # the report's goal on the embedded model, CPU


def report_case(loaded=None, *, quick: bool = False, out_dir: str | None = None) -> dict:
    """Build and write the embedded model's report; {wall_s, cpu_s, goal_cpu_s, sections: {key: s}}.
    quick: the small settings of the tests (a smoke run, not the measured case)."""
    from sw_core.loading import load
    from sw_core.report import ReportSettings, build_report, write_report
    from sw_core.report.settings import quick_settings

    loaded = loaded or load("embedded", device="cpu")
    settings = quick_settings() if quick else ReportSettings()
    wall, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        report = build_report(loaded, settings)
        write_report(report, out_dir or tmp)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"case": "report_embedded", "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "goal_cpu_s": GOAL_CPU_SECONDS,
            "within_goal": cpu <= GOAL_CPU_SECONDS, "quick": quick,
            "sections": {s.key: round(s.seconds, 2) for s in report.sections}}


if __name__ == "__main__":
    print(json.dumps(report_case(quick="--quick" in sys.argv), indent=1))
