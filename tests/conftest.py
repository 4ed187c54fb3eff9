"""Shared fixtures: the embedded model is loaded once per test session; everything runs offline."""

import hashlib
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
# No work computed ahead: in a test it only competes with the next test for the cores (each page
# visit would compute every edit's numbers and texts in the background). tests/test_app_precompute.py
# turns it on for the tests of that work.
os.environ.setdefault("SW_PRECOMPUTE", "0")

# One process on the machine: all cores. Under pytest-xdist (`make test` runs one worker per core)
# or several suites at once: one thread each, which is much faster than oversubscribed cores.
_DEFAULT_THREADS = 1 if os.environ.get("PYTEST_XDIST_WORKER") else max(1, min(2, os.cpu_count() or 1))
_THREADS = int(os.environ.get("SW_TEST_THREADS", "0")) or _DEFAULT_THREADS
# Set before torch is imported: OpenMP reads it once, and every thread but the one that calls
# torch.set_num_threads runs that many (a test's own threads, AppTest's script thread); the
# processes tests start (the browser's app server, fresh CLI runs) inherit it. Set, not defaulted:
# xdist's workers inherit the value their parent process set for itself (2 on 2 cores).
os.environ["OMP_NUM_THREADS"] = str(_THREADS)

import time  # noqa: E402

import pytest  # noqa: E402
import streamlit.testing.v1.local_script_runner as _local_runner  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(_THREADS)


def _wait_for_the_script_run(runner, timeout: float = 3) -> None:
    """Streamlit's AppTest waits for a script run by looking every millisecond: beside a run's
    torch work on a 2-core machine, that costs 8-10% of an AppTest test's CPU. Every 20 ms here,
    the same end otherwise (on a timeout: the run stopped, then the same error)."""
    start = time.time()
    while time.time() - start < timeout:
        if runner.script_stopped():
            return
        time.sleep(0.02)
    runner.request_stop()
    runner.join()
    raise RuntimeError(f"AppTest script run timed out after {timeout}(s)")


_local_runner.require_widgets_deltas = _wait_for_the_script_run


@pytest.fixture(scope="session")
def embedded():
    """The embedded SmolLM2-135M-Instruct, fp32 on the CPU, shared by every test: never mutate it."""
    from sw_core.loading import load

    return load("embedded", device="cpu")


def weights_digest(model) -> str:
    """SHA-256 over every parameter and buffer's bytes: equal digests mean bit-identical weights."""
    h = hashlib.sha256()
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        h.update(name.encode())
        # reshape: 0-dim buffers (Gemma); the array itself is hashed, not a bytes copy of it (0.44 -> 0.30 s for 135M)
        h.update(t.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy())
    return h.hexdigest()


@pytest.fixture
def digest():
    return weights_digest


@pytest.fixture
def heavy_jobs(monkeypatch):
    """Call it to start counting the app's heavy jobs: it returns the list of the names of the jobs
    started from then on (it grows as they start)."""
    def count() -> list[str]:
        from explorer import jobs

        started, real = [], jobs.heavy_job
        monkeypatch.setattr(jobs, "heavy_job", lambda name, on_wait=None: started.append(name) or real(name, on_wait))
        return started

    return count
