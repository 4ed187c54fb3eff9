"""Work computed ahead: the Classroom's button answers from the cache, background jobs yield to visitors,
and a visitor who moves on cancels what was being computed for them."""

import threading
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from explorer import jobs, precompute

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture(autouse=True)
def work_ahead_on(monkeypatch):
    monkeypatch.setenv("SW_PRECOMPUTE", "1")  # the suite turns it off elsewhere (tests/conftest.py)


def _precompute_threads():
    return [t for t in threading.enumerate() if t.name.startswith("precompute ")]


def _opened(page: str):
    """`page` in a fresh session, its first run drawn; the work it started ahead still running."""
    at = AppTest.from_file(APP, default_timeout=600)
    at.run()
    at.switch_page(page).run()
    assert not at.exception
    return at


def _work_ahead_done() -> None:
    for t in _precompute_threads():
        t.join(timeout=600)


def test_the_classroom_button_runs_no_heavy_job_once_its_lesson_was_computed_ahead(heavy_jobs):
    at = _opened("app_pages/classroom.py")
    _work_ahead_done()
    started = heavy_jobs()
    at.button(key="class_button").click().run()
    assert not at.exception
    assert started == []  # perplexity, next word, stop words and both texts: all from the cache
    ppl = {m.label: m.value for m in at.metric}
    assert float(ppl["Perplexity, now"]) > 3 * float(ppl["Perplexity, original"])  # and the lesson is shown
    at.toggle(key="class_all").set_value(True).run()
    assert started == [] and not at.exception  # the all-weights state too


def test_a_background_job_waits_for_visitors_and_never_makes_one_wait(monkeypatch):
    monkeypatch.setenv("SW_MAX_CONCURRENT_JOBS", "1")  # one visitor fills the queue
    order, fg_running, bg_started = [], threading.Event(), threading.Event()
    release = threading.Event()

    def foreground(name):
        with jobs.heavy_job(name):
            order.append(f"start {name}")
            fg_running.set()
            release.wait(5)

    def background():
        with jobs.in_background(), jobs.heavy_job("ahead"):
            order.append("start ahead")
            bg_started.set()
            release.wait(5)

    a = threading.Thread(target=foreground, args=("visitor 1",))
    a.start()
    fg_running.wait(5)
    b = threading.Thread(target=background)
    b.start()
    time.sleep(2 * jobs.POLL_SECONDS)
    assert "start ahead" not in order  # a visitor's job runs: the work ahead waits
    release.set()
    a.join(5)
    bg_started.wait(5)
    assert order == ["start visitor 1", "start ahead"]
    release.clear()
    c = threading.Thread(target=foreground, args=("visitor 2",))
    c.start()
    deadline = time.monotonic() + 5
    while "start visitor 2" not in order and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "start visitor 2" in order  # admitted while the background job still runs
    release.set()
    b.join(5)
    c.join(5)
    assert jobs.queue_state()["background_jobs"] == [] and jobs.queue_state()["running"] == 0


def test_a_new_page_cancels_the_work_ahead_for_the_old_one(monkeypatch):
    monkeypatch.setattr(precompute, "_session_id", lambda: "visitor")
    done, gate = [], threading.Event()

    def slow(name):
        def task():
            gate.wait(5)
            done.append(name)
        return task

    first = precompute.ahead("classroom", [slow("a1"), slow("a2"), slow("a3")])
    assert precompute.ahead("classroom", [slow("again")]) is None  # a rerun of the same page keeps it
    second = precompute.ahead("super weights", [lambda: done.append("b1")])
    gate.set()
    first.join(5)
    second.join(5)
    assert "a1" in done and "a2" not in done and "a3" not in done  # stopped between two tasks
    assert "b1" in done and "again" not in done


def test_the_mechanism_vocabulary_is_measured_ahead_and_its_toggle_runs_no_heavy_job(heavy_jobs):
    """The app's slowest view (the vocabulary: 32 texts scored twice) is computed while the page shows
    steps 1-3, on one core; switching it on then reads the cache."""
    at = _opened("app_pages/mechanism.py")
    assert [t.name.split("|")[0] for t in _precompute_threads()] == ["precompute mechanism"]
    _work_ahead_done()
    started = heavy_jobs()
    at.toggle(key="mech_vocab").set_value(True).run()
    assert not at.exception and started == []
    titles = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("the words it pushes" in t for t in titles)
