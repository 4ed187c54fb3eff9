"""`make bench`'s app case: time from an edit on the Super weights page to updated numbers (AppTest).

It lives with the app, not in sw_core, because it imports streamlit (`explorer/bench.py` runs it).
"""

from __future__ import annotations

import time
from pathlib import Path

from sw_core.bench.timing import BenchResult
from sw_core.loading import EMBEDDED

APP = Path(__file__).resolve().parents[1] / "app.py"
PAGE = "app_pages/super_weights.py"
SCALES = (0.0, 0.5, 1.5, 2.0, 2.5, 3.0)  # each a new edit: no cached number can answer it


def _metric(at, label: str) -> str:
    for m in at.metric:
        if m.label == label:
            return m.value
    raise RuntimeError(f"the page shows no metric {label!r}: {[m.label for m in at.metric]}")


def _timed_run(widget_change, at) -> float:
    start = time.perf_counter()
    widget_change().run()
    seconds = time.perf_counter() - start
    if at.exception:
        raise RuntimeError(f"the page raised: {at.exception}")
    return seconds


def app_cases(ctx):
    """Embedded model only (the app's default model); skipped in quick mode."""
    if ctx.quick or ctx.loaded.ref != EMBEDDED:
        return []
    if not APP.is_file():
        raise ImportError(f"{APP} not found: the app is not part of this installation")
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=600)
    at.run()
    at.switch_page(PAGE).run()  # loads the model, detects, computes the original numbers
    if at.exception:
        raise RuntimeError(f"the page raised: {at.exception}")
    toggles = [t for t in at.toggle if t.key and t.key.startswith("sw_on_")]
    if not toggles:
        raise RuntimeError("the Super weights page shows no super-weight toggle")
    key = toggles[0].key
    slider_key = key.replace("sw_on_", "sw_scale_")

    noop = []
    for _ in range(ctx.repeats):  # the page's fixed cost: a rerun where every number is cached
        noop.append(_timed_run(lambda: at, at))

    toggle_off = _timed_run(lambda: at.toggle(key=key).set_value(False), at)
    shown_off = _metric(at, "Perplexity, edited")
    cached = _timed_run(lambda: at.toggle(key=key).set_value(True), at)  # back to a seen state
    edits = [toggle_off]
    seen = {shown_off}
    for scale in SCALES[1:ctx.repeats]:
        edits.append(_timed_run(lambda s=scale: at.slider(key=slider_key).set_value(s), at))
        seen.add(_metric(at, "Perplexity, edited"))
    if len(seen) < len(edits):
        raise RuntimeError(f"the edited perplexity did not change with each edit: {sorted(seen)}")
    import statistics

    return [BenchResult(
        "app_toggle_to_numbers", statistics.median(edits), statistics.median(noop), unit="s",
        goal=None, repeats=len(edits), baseline_repeats=len(noop),
        what="AppTest, Super weights page: a toggle / scale change until perplexity, zero-shot, "
             "stop words and next tokens are redrawn (new edit each time)",
        baseline_what="a rerun of the same page with nothing changed (all numbers cached)",
        extra={"toggle_back_to_cached_s": cached, "edits_s": edits},
    )]
