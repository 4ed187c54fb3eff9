"""`make bench`'s app cases: what a teacher waits for, measured on the real app.

- app_classroom_toggle: Classroom, "Remove the super weight" until every number and both texts are drawn
- app_super_weights_toggle: Super weights page, one weight switched off until everything is redrawn
- app_first_heatmap: a fresh `streamlit run app.py` until a browser shows the Activations heatmap

Each toggle is timed on its first computation (the original model's numbers already on the page,
the edited ones computed): between repeats the computed caches are cleared and the page is rerun
untimed. It lives with the app, not in sw_core, because it imports streamlit.

Any model: `python -m bench --only app --model DIR --dtype bfloat16` opens the app on that model
(its URL parameters, as a user's link would). The bench loads the model through the app's own
cache (`load_shared`), so the app and the bench hold one copy; the heatmap case, last, releases it
before its fresh server loads the model again. One toggle case alone, on the embedded model:
`python -m bench.cases_app app_classroom_toggle --repeats 5` (JSON, CPU seconds and load included).
"""

from __future__ import annotations

import os
import resource
import statistics
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

from bench.timing import BenchResult, Goal
from sw_core.loading import EMBEDDED

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"


def load_shared(ref: str, device: str = "auto", dtype: str = "auto"):
    """The model as the app loads it (its `st.cache_resource` entry): the app's pages then find it loaded."""
    from explorer import session

    return session.load_model(*session.resolved_request(ref, device, dtype))


def url_params(loaded) -> dict:
    """The app's URL parameters that open it on `loaded` (none for the embedded model on its defaults)."""
    if loaded is None or loaded.ref == EMBEDDED:
        return {}
    return {"model": loaded.ref, "dtype": str(loaded.dtype).replace("torch.", "")}


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


def _metric(at, label: str) -> str:
    for m in at.metric:
        if m.label == label:
            return m.value
    raise RuntimeError(f"the page shows no metric {label!r}: {[m.label for m in at.metric]}")


def _run(at, change=None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one script run; raises if the page raised."""
    wall, cpu = time.perf_counter(), time.process_time()
    (change() if change else at).run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if at.exception:
        raise RuntimeError(f"the page raised: {at.exception}")
    return wall, cpu


@contextmanager
def precompute(on: bool):
    """Work ahead on or off (SW_PRECOMPUTE) for the body: a cold click must not find it done ahead."""
    before = os.environ.get("SW_PRECOMPUTE")
    os.environ["SW_PRECOMPUTE"] = "1" if on else "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("SW_PRECOMPUTE", None)
        else:
            os.environ["SW_PRECOMPUTE"] = before


def forget_computed() -> None:
    """Clear every computed number (not the model, not the detection): the next edit is a first one."""
    from explorer import cached

    for f in (cached.perplexity, cached.stopwords, cached.next_distribution, cached.continuation,
              cached.zero_shot):
        f.clear()


def _toggle_case(name, page, set_intact, set_edited, numbers, goal, what, repeats, params):
    """Median time of `set_edited` on `page` after the intact page is drawn, with the numbers it must change."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=1800)
    at.query_params.update(params)
    at.run()
    at.switch_page(page).run()
    if at.exception:
        raise RuntimeError(f"the page raised: {at.exception}")
    noop, walls, cpus = [], [], []
    for _ in range(repeats):
        forget_computed()
        _run(at, lambda: set_intact(at))  # the originals, computed untimed
        before = [_metric(at, n) for n in numbers], [c.value for c in at.code]
        noop.append(_run(at)[0])  # the page's fixed cost: a rerun where every number is cached
        wall, cpu = _run(at, lambda: set_edited(at))
        after = [_metric(at, n) for n in numbers], [c.value for c in at.code]
        unchanged = [n for n, a, b in zip(numbers, before[0], after[0]) if a == b]
        if unchanged or len(after[1]) < 2 or after[1][-1] == after[1][-2]:
            raise RuntimeError(f"{name}: the edit did not redraw {unchanged or 'the edited text'}")
        walls.append(wall)
        cpus.append(cpu)
    return BenchResult(
        name, statistics.median(walls), statistics.median(noop), unit="s", goal=goal, repeats=len(walls),
        baseline_repeats=len(noop), what=what,
        baseline_what="a rerun of the same page with nothing changed (every number cached)",
        note=f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs while measuring",
        extra={"walls_s": walls, "cpu_s": statistics.median(cpus), "model": params.get("model", EMBEDDED),
               "peak_rss_bytes": _peak_rss_bytes()})


def _classroom_click(at):
    return at.button(key="class_button").click()


def classroom_case(repeats: int, params: dict | None = None) -> BenchResult:
    def intact(at):  # the button says "Remove" again: click it back if the last repeat left it removed
        return _classroom_click(at) if at.session_state["class_removed"] else at

    return _toggle_case(
        "app_classroom_toggle", "app_pages/classroom.py", intact, _classroom_click,
        # A random large model's stop-word share is 0% with or without its plant (the page shows
        # whole percents): there the perplexity and the texts show that the edit was computed.
        ["Perplexity, now"] + ([] if params else ["Stop words' share"]), Goal("value", "<=", 3.0),
        "AppTest, Classroom: 'Remove the super weight' until perplexity, stop-word share, the next-word chart "
        "and both generated texts are drawn (edited numbers computed for the first time)", repeats, params or {})


def _first_weight_toggle(at):
    """The page's first per-weight toggle (the strongest super weight's: detections are sorted so)."""
    keys = [t.key for t in at.toggle if (t.key or "").startswith("sw_on_")]
    if not keys:
        raise RuntimeError("the Super weights page shows no weight toggle: this model has no verified super weight")
    return at.toggle(key=keys[0])


def super_weights_case(repeats: int, params: dict | None = None) -> BenchResult:
    return _toggle_case(
        "app_super_weights_toggle", "app_pages/super_weights.py", lambda at: _first_weight_toggle(at).set_value(True),
        lambda at: _first_weight_toggle(at).set_value(False), ["Perplexity, edited"], Goal("value", "<=", 5.0),
        "AppTest, Super weights page: switch the first super weight off until perplexity, stop words, next tokens "
        "and both generated texts are drawn (edited numbers computed for the first time)", repeats, params or {})


def first_heatmap_case(repeats: int, params: dict | None = None) -> BenchResult:
    """Seconds from `streamlit run app.py` to the Activations heatmap drawn in headless chromium."""
    import shutil
    import socket
    import subprocess
    import sys
    import urllib.request

    from playwright.sync_api import sync_playwright

    params = params or {}
    wait_s = 120 if not params else 1800  # a large model loads and scans in the server first
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(chromium):
        raise RuntimeError("chromium is not installed: run `make browser`")

    def cpu_seconds(pid: int) -> float:
        """CPU seconds the server has used (user + system): about what an idle machine would take."""
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def one(browser) -> tuple[float, float, float]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        page_url = f"{url}/?{urlencode(params)}" if params else url
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
                                 "--server.port", str(port), "--server.address", "127.0.0.1",
                                 "--browser.gatherUsageStats", "false"], cwd=ROOT,
                                env={**os.environ, "HF_HUB_OFFLINE": "1"},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).status == 200:
                        break
                except OSError:
                    if time.perf_counter() - start > 120:
                        raise RuntimeError("streamlit did not start within 120 s") from None
                    time.sleep(0.05)
            up = time.perf_counter() - start
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(page_url, timeout=120_000)
            page.locator(".js-plotly-plot .heatmaplayer").first.wait_for(timeout=wait_s * 1000)
            drawn = time.perf_counter() - start
            cpu = cpu_seconds(proc.pid) if Path(f"/proc/{proc.pid}/stat").exists() else float("nan")
            page.close()
            return drawn, up, cpu
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            one(browser)  # warm-up: the OS file cache holds torch and the model afterwards
            runs = [one(browser) for _ in range(repeats)]
        finally:
            browser.close()
    return BenchResult(
        "app_first_heatmap", statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs),
        unit="s", goal=Goal("value", "<=", 8.0), repeats=len(runs), baseline_repeats=len(runs),
        what="`streamlit run app.py` (warm model cache) until headless chromium shows the Activations heatmap",
        baseline_what="the same start until the server answers its health check (no page yet)",
        note=f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs while measuring",
        extra={"runs_s": [r[0] for r in runs], "server_cpu_s": statistics.median(r[2] for r in runs),
               "model": params.get("model", EMBEDDED)})


CASES = {"app_classroom_toggle": classroom_case, "app_super_weights_toggle": super_weights_case,
         "app_first_heatmap": first_heatmap_case}


def app_cases(ctx):
    """The app opened on the bench's model (the embedded one by default); skipped in quick mode."""
    if ctx.quick or ctx.loaded.source == "in-process":  # a model built in this process: the app cannot open it
        return []
    if not APP.is_file():
        raise ImportError(f"{APP} not found: the app is not part of this installation")
    import gc
    import sys

    params = url_params(ctx.loaded)
    results, failed = [], []
    for name, case in CASES.items():  # one case failing (e.g. no chromium) keeps the others' figures
        if name == "app_first_heatmap" and params:  # its server loads the model: release this process's copy
            from explorer import session

            session.load_model.clear()
            ctx.loaded = None
            gc.collect()
        try:
            with precompute(False):  # a cold click: nothing computed ahead by the page's own work
                results.append(case(ctx.repeats, params))
        except Exception as e:  # noqa: BLE001 - reported, and the group fails if nothing was measured
            failed.append(f"{name}: {type(e).__name__}: {e}")
            print(f"app bench case failed: {failed[-1]}", file=sys.stderr)
    if failed and not results:
        raise RuntimeError("; ".join(failed))
    return results


if __name__ == "__main__":
    # One case alone, on the embedded model, work ahead off: `python -m bench.cases_app app_classroom_toggle`.
    import argparse
    import json

    ap = argparse.ArgumentParser(description="one app case alone (the embedded model, nothing computed ahead)")
    ap.add_argument("case", choices=[c for c in CASES if c != "app_first_heatmap"])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with precompute(False):
        print(json.dumps({args.case: CASES[args.case](args.repeats).to_json()}, indent=1))
