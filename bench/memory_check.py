"""The public server's peak memory under four sessions at once (`python -m bench.numbers --memory`).

One `streamlit run app.py` with SW_PUBLIC=1; four browser pages (Playwright + chromium, as the
browser test) each open every page, in rotated order so different computations overlap, including
two quantization pairs (4 quantized copies) and both super weights off. The server's peak resident
memory is the kernel's high-water mark, /proc/<pid>/status VmHWM, read when all sessions are done.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SESSIONS = 4
PAGES = ["/", "/super_weights?sw=11.507.1229%3D0%2C11.507.1487%3D0", "/quantization",
         "/quantization?qa=rtn%3Bblock%3D128&qb=rtn%3Bblock%3D128%3Baware%3D1", "/classroom", "/catalog"]
WAIT_MS = 900_000
# As the Dockerfile sets them: few malloc arenas for the script threads, and large tensors always
# in their own mappings, so a freed quantized copy goes back to the system instead of fragmenting the heap.
MALLOC = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "1048576"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def _start_server(port: int) -> subprocess.Popen:
    env = {**os.environ, "SW_PUBLIC": "1", "HF_HUB_OFFLINE": "1", **MALLOC}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "127.0.0.1"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(240):
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status == 200:
                return proc
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise RuntimeError("streamlit did not start")


def _idle(page) -> None:
    page.wait_for_timeout(1500)
    page.wait_for_function("() => { const e = document.querySelector('[data-test-script-state]');"
                           " return e && e.getAttribute('data-test-script-state') !== 'running'; }", timeout=WAIT_MS)


def measure_public_server() -> dict:
    from playwright.sync_api import sync_playwright

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = _start_server(port)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", headless=True,
                                        args=["--no-sandbox", "--disable-gpu"])
            pages = [browser.new_context().new_page() for _ in range(SESSIONS)]
            failures = 0
            for step in range(len(PAGES)):
                for i, page in enumerate(pages):  # all four start, then all four finish: they overlap
                    page.goto(url + PAGES[(i + step) % len(PAGES)], wait_until="commit", timeout=WAIT_MS)
                for page in pages:
                    _idle(page)
                    failures += page.locator('[data-testid="stException"]').count()
            browser.close()
        peak_kib = _kib(server.pid, "VmHWM")
    finally:
        server.terminate()
        server.wait(timeout=60)
    model_mb = _fp32_model_mb()
    return {"peak_rss_mb": peak_kib / 1024, "exceptions_seen": failures, "malloc": MALLOC, "model_mb": model_mb, "bound_mb": 2 * model_mb + 1024,
            "sessions": SESSIONS, "pages": [p.split("?")[0] or "/" for p in PAGES],
            "how": f"`streamlit run app.py` with SW_PUBLIC=1, {SESSIONS} headless chromium pages opening every page "
                   "at once (quantization twice: the lesson and RTN block 128 over all layers); VmHWM of the server",
            "command": "python -m bench.numbers --memory"}


def _fp32_model_mb() -> float:
    from sw_core.loading import load

    loaded = load("embedded", device="cpu", dtype="float32")
    unique = {t.data_ptr(): t for t in loaded.model.state_dict().values()}  # tied embeddings count once
    return sum(t.numel() * t.element_size() for t in unique.values()) / 2**20


if __name__ == "__main__":
    import json

    print(json.dumps(measure_public_server(), indent=2))
