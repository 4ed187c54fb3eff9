"""Bench cases for work computed ahead (explorer/precompute.py): what a click costs with and without it.

Each function returns {case: seconds} (median of `repeats`), measured on the real app through AppTest:
- app_classroom_toggle_precomputed: "Remove the super weight" once the work ahead has finished (goal <= 1 s)
- app_classroom_toggle_cold: the same click with nothing computed ahead (goal <= 3 s under load)
- app_super_weights_toggle_precomputed: one super weight switched off, computed ahead (goal <= 1.5 s)
`under_load(case, sessions=4)` runs a case while `sessions` other visitors keep the job queue busy
(perplexity of a different edit each, as the memory check's four sessions do), and names it "... under load".

    python -m bench.app_precompute            # prints the cases as JSON, idle and under load
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from pathlib import Path

from .cases_app import forget_computed, precompute

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
GOALS = {"app_classroom_toggle_precomputed": 1.0, "app_classroom_toggle_cold": 3.0,
         "app_super_weights_toggle_precomputed": 1.5}


def _page(page: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=900)
    at.run()
    at.switch_page(page).run()
    if at.exception:
        raise RuntimeError(f"the page raised: {at.exception}")
    return at


def _wait_ahead(limit: float = 900) -> None:
    for t in threading.enumerate():
        if t.name.startswith("precompute "):
            t.join(limit)


def _timed(click) -> float:
    t = time.perf_counter()
    at = click()
    seconds = time.perf_counter() - t
    if at.exception:
        raise RuntimeError(f"the page raised: {at.exception}")
    return seconds


def _median_click(page: str, click, precomputed: bool, repeats: int) -> float:
    """Median seconds of `click` on a fresh `page` (work ahead on or off), nothing cached before."""
    times = []
    for _ in range(repeats):
        # The last click's page started its work ahead again (every AppTest is one session): let it
        # end first, or it would go on after the caches are cleared and skip what it had already read.
        _wait_ahead()
        forget_computed()
        with precompute(precomputed):
            at = _page(page)
            _wait_ahead()
            times.append(_timed(lambda: click(at)))
    return statistics.median(times)


def classroom_toggle(repeats: int = 3, precomputed: bool = True) -> dict[str, float]:
    name = "app_classroom_toggle_precomputed" if precomputed else "app_classroom_toggle_cold"
    return {name: _median_click("app_pages/classroom.py", lambda at: at.button(key="class_button").click().run(),
                                precomputed, repeats)}


def super_weights_toggle(repeats: int = 3) -> dict[str, float]:
    click = lambda at: at.toggle(key="sw_on_11_507_1229").set_value(False).run()  # noqa: E731
    return {"app_super_weights_toggle_precomputed": _median_click("app_pages/super_weights.py", click, True, repeats)}


def under_load(case, sessions: int = 4, think: float = 1.0, **kw) -> dict[str, float]:
    """`case(**kw)` while `sessions` visitors each compute perplexity under a different edit, pausing
    `think` seconds between two (a person reading the result; work computed ahead runs in the gaps)."""
    from sw_core.edits import Coord, Edit
    from sw_core.loading import load
    from sw_core import texts
    from sw_core.metrics import perplexity

    from explorer import jobs

    loaded = load("embedded")
    body = texts.text("britannica", max_chars=2048)
    stop = threading.Event()

    def visitor(k: int) -> None:
        i = 0
        while not stop.is_set():
            edit = Edit.of({Coord(11, 507, 1229): 0.1 * ((k + i) % 20)})
            with jobs.heavy_job(f"load visitor {k}"):
                perplexity(loaded, body, max_tokens=256, edit=edit)
            i += 1
            stop.wait(think)

    threads = [threading.Thread(target=visitor, args=(k,), daemon=True) for k in range(sessions)]
    for t in threads:
        t.start()
    try:
        return {f"{name} under load": s for name, s in case(**kw).items()}
    finally:
        stop.set()
        for t in threads:
            t.join()


def all_cases(repeats: int = 3, sessions: int = 4) -> dict[str, float]:
    out: dict[str, float] = {}
    for case, kw in ((classroom_toggle, {"precomputed": True}), (classroom_toggle, {"precomputed": False}),
                     (super_weights_toggle, {})):
        out.update(case(repeats=repeats, **kw))
        out.update(under_load(case, sessions=sessions, repeats=repeats, **kw))
    return out


def precompute_cases(ctx):
    """The bench group: each case idle and under four busy visitors, embedded model only, not in
    quick mode; the idle click is the baseline of the one under load."""
    from sw_core.loading import EMBEDDED

    from .timing import BenchResult, Goal

    if ctx.quick or ctx.loaded.ref != EMBEDDED:
        return []
    seconds = all_cases(repeats=max(3, ctx.repeats // 2))
    return [BenchResult(f"{name} under load", seconds[f"{name} under load"], seconds[name], unit="s",
                        goal=Goal("value", "<=", goal), what=f"{name}, while 4 other visitors keep the queue busy",
                        baseline_what=f"{name} on an idle server", repeats=max(3, ctx.repeats // 2),
                        baseline_repeats=max(3, ctx.repeats // 2))
            for name, goal in GOALS.items() if name in seconds and f"{name} under load" in seconds]


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sessions", type=int, default=4)
    args = ap.parse_args()
    print(json.dumps(all_cases(args.repeats, args.sessions), indent=1))
