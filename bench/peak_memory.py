"""Peak CPU memory of a scan and of a plain forward pass, measured in a fresh process.

How: Linux keeps a process's peak resident set size ("VmHWM" in /proc/self/status) and resets it
when "5" is written to /proc/self/clear_refs. The child process loads the model, warms both calls
up on a short input, then for each length: reset the peak, run the call, read the peak, minus the
resident size just before. It runs with glibc's `MALLOC_MMAP_THRESHOLD_=65536`, so every large
tensor is its own mmap and goes back to the OS when freed: the resident size follows the live
tensors, and one call's freed memory cannot hide the next call's peak. (tracemalloc does not see
torch's CPU allocations; the torch profiler reports per-operator allocations, not a peak.)

Child: `python -m bench.peak_memory` with a JSON request on stdin, a JSON answer on stdout.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

_CLEAR_REFS = Path("/proc/self/clear_refs")


def supported() -> bool:
    return sys.platform.startswith("linux") and os.access(_CLEAR_REFS, os.W_OK)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_bytes(fn) -> int:
    """Peak resident bytes while `fn()` runs, above the resident bytes just before it."""
    gc.collect()
    before = _status_kib("VmRSS")
    _CLEAR_REFS.write_text("5")
    fn()
    return (_status_kib("VmHWM") - before) * 1024


def measure(ref: str, dtype: str, layers: int, threads: int, prompts: dict[str, str]) -> dict:
    """In a fresh process: {name: {"tokens": T, "forward": bytes, "forward_keep1": bytes, "scan": bytes}}
    for each named prompt (forward: all logits; forward_keep1: logits_to_keep=1)."""
    request = json.dumps({"ref": ref, "dtype": dtype, "layers": layers, "threads": threads, "prompts": prompts})
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "HF_HUB_OFFLINE": "1"}
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-m", "bench.peak_memory"], input=request,
                          capture_output=True, text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"peak-memory child failed: {proc.stderr[-1500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _load(ref: str, dtype: str, layers: int):
    if ref.startswith("tiny-"):
        from sw_core.testing import tiny_model

        return tiny_model(ref[len("tiny-"):], layers=layers)
    from sw_core.loading import load

    return load(ref, device="cpu", dtype=dtype)


def _child() -> None:
    import torch

    from sw_core.scan import scan

    req = json.loads(sys.stdin.read())
    torch.set_num_threads(req["threads"])
    loaded = _load(req["ref"], req["dtype"], req["layers"])

    def forward(prompt, **kw):
        with torch.no_grad():
            loaded.model(input_ids=loaded.encode(prompt), use_cache=False, **kw)

    for fn in (forward, lambda p: scan(loaded, p)):  # warm-up: lazy initialisations
        fn("warm up")
    out = {}
    for name, prompt in req["prompts"].items():
        out[name] = {
            "tokens": int(loaded.encode(prompt).shape[1]),
            "forward": peak_bytes(lambda: forward(prompt)),
            "forward_keep1": peak_bytes(lambda: forward(prompt, logits_to_keep=1)),
            "scan": peak_bytes(lambda: scan(loaded, prompt)),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    _child()
