"""The hub path for real: hub ids loaded from a Hugging Face-compatible server on 127.0.0.1.

Each load runs in a fresh interpreter (huggingface_hub reads HF_ENDPOINT, HF_HOME and
HF_HUB_OFFLINE when it is imported) against the test's own server (tests/hub_server.py), with an
empty hub cache and an empty conversion cache. Nothing leaves 127.0.0.1.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from hub_server import Hub, Server
from model_folders import tiny_llama_folder

ROOT = Path(__file__).resolve().parents[1]
REPO, GATED, DROP = "tester/tiny-llama", "tester/gated-llama", "tester/flaky-llama"

# Loads each ref given on the command line; one JSON line per ref: what came back, or the error.
_CLIENT = r"""
import hashlib, json, sys, time, types
import huggingface_hub.file_download as fd
from sw_core.loading import load
# huggingface_hub pauses a second before each of its five retries of a cut-off download; the test
# checks what is left after the last one, not the pauses.
fd.time = types.SimpleNamespace(sleep=lambda seconds: None, time=time.time, monotonic=time.monotonic)
for ref in sys.argv[1:]:
    steps = []
    start = time.perf_counter()
    try:
        loaded = load(ref, device="cpu", progress=lambda s, d, t: steps.append([s, d, t]))
    except Exception as e:
        print(json.dumps({"ref": ref, "error": type(e).__name__, "message": str(e),
                          "seconds": time.perf_counter() - start}), flush=True)
        continue
    weights = {n: p.detach().float().tolist() for n, p in loaded.model.named_parameters() if n.endswith("down_proj.weight")}
    print(json.dumps({"ref": ref, "from_cache": loaded.from_cache, "source": loaded.source,
                      "dtype": str(loaded.dtype), "steps": steps, "down": weights,
                      "ids": loaded.encode("Hi there").tolist()}), flush=True)
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Three repos made here: a tiny bf16 Llama (public, gated, and one whose downloads break)."""
    folder = tmp_path_factory.mktemp("repo")
    tiny_llama_folder(folder, layers=2, dtype=torch.bfloat16)  # stored in bf16
    hub = Hub()
    hub.add_folder(REPO, folder)
    hub.add_folder(GATED, folder, gated=True)
    hub.add_folder(DROP, folder, drop=True, sha="d" * 40)
    with Server(hub) as url:
        yield hub, url, folder


def _run(url: str, home: Path, *refs, offline: bool = False) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE"))}
    env.update(HF_ENDPOINT=url, HF_HOME=str(home / "hf"), SW_CACHE=str(home / "sw"), PYTHONPATH=str(ROOT),
               HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_OFFLINE="1" if offline else "0",
               NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    proc = subprocess.run([sys.executable, "-c", _CLIENT, *refs], env=env, capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def _reference(folder: Path) -> dict:
    """The served bf16 weights, read with safetensors alone and cast to fp32 (what a load in fp32 must give)."""
    state = load_file(str(folder / "model.safetensors"))
    return {n: t.float() for n, t in state.items() if n.endswith("down_proj.weight")}


def _snapshot_files(home: Path, repo: str) -> list[Path]:
    snaps = home / "hf" / "hub" / f"models--{repo.replace('/', '--')}" / "snapshots"
    return sorted(p for p in snaps.rglob("*") if p.is_file()) if snaps.exists() else []


def _converted(home: Path) -> list[str]:
    root = home / "sw" / "converted"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_a_hub_id_downloads_with_progress_converts_once_and_loads_from_the_cache(served, tmp_path):
    hub, url, folder = served
    (first,) = _run(url, tmp_path, REPO)
    assert "error" not in first, first
    assert first["from_cache"] is False and first["source"] == REPO and first["dtype"] == "torch.float32"
    downloads = [s for s in first["steps"] if s[0] == "download"]
    weights = (folder / "model.safetensors").stat().st_size
    assert downloads and downloads[-1][1] == downloads[-1][2]  # the bar reached its end
    assert weights <= downloads[-1][2] <= sum(p.stat().st_size for p in folder.iterdir())  # it counted the weights' bytes
    assert any(s[0] == "cache" for s in first["steps"])  # bf16 on the hub, fp32 asked: converted and cached
    reference = _reference(folder)
    for name, values in first["down"].items():
        torch.testing.assert_close(torch.tensor(values), reference[name], rtol=0, atol=0)
    entries = _converted(tmp_path)
    assert len(entries) == 1 and hub.repos[REPO].sha in json.dumps(
        json.loads((tmp_path / "sw" / "converted" / entries[0] / "sw_manifest.json").read_text())["source"])

    served_files = len(hub.requests)
    (second,) = _run(url, tmp_path, REPO)
    assert second["from_cache"] is True and second["down"] == first["down"] and second["ids"] == first["ids"]
    assert not any(s[0] == "cache" for s in second["steps"]) and _converted(tmp_path) == entries
    assert not [r for r in hub.requests[served_files:] if "/resolve/" in r and r.startswith("GET")]  # nothing re-downloaded


def test_missing_gated_and_revision_refs_fail_clearly_and_write_nothing(served, tmp_path):
    hub, url, _ = served
    missing, gated, revision = _run(url, tmp_path, "tester/no-such-model", GATED, f"{REPO}@v1")
    assert missing["error"] == "ModelLoadError" and "'tester/no-such-model' was not found" in missing["message"]
    assert gated["error"] == "ModelLoadError" and "is gated" in gated["message"] and "HF_TOKEN" in gated["message"]
    assert revision["error"] == "BadInput" and f"give the id '{REPO}'" in revision["message"]
    assert not any(f"{REPO}/" in r for r in hub.requests if "@v1" in r)
    assert _converted(tmp_path) == [] and _snapshot_files(tmp_path, GATED) == []
    assert _snapshot_files(tmp_path, "tester/no-such-model") == []


def test_a_connection_dropped_mid_download_fails_clearly_then_resumes(served, tmp_path):
    hub, url, folder = served
    (broken,) = _run(url, tmp_path, DROP)
    assert broken["error"] == "ModelLoadError", broken
    assert f"Could not download the hub model '{DROP}'" in broken["message"] and "again" in broken["message"]
    snapshot = _snapshot_files(tmp_path, DROP)
    assert not [p for p in snapshot if p.suffix == ".safetensors"]  # the cut-off file is not in the snapshot
    for p in snapshot:  # what is there is whole
        assert p.read_bytes() == (folder / p.name).read_bytes()
    assert _converted(tmp_path) == []  # nothing converted, nothing half-written in the conversion cache
    assert not list(tmp_path.glob("sw/**/.*"))

    hub.repos[DROP].drop = False  # the network is back: the same command completes
    (fixed,) = _run(url, tmp_path, DROP)
    assert "error" not in fixed, fixed
    reference = _reference(folder)
    for name, values in fixed["down"].items():
        torch.testing.assert_close(torch.tensor(values), reference[name], rtol=0, atol=0)


def test_offline_fails_without_a_request(served, tmp_path):
    hub, url, _ = served
    before = len(hub.requests)
    (offline,) = _run(url, tmp_path, REPO, offline=True)
    assert offline["error"] == "ModelLoadError" and offline["message"].startswith("Offline (HF_HUB_OFFLINE is set)")
    assert len(hub.requests) == before  # the cache only: no request, so no retries to wait for


def test_an_unreachable_endpoint_counts_as_offline(served, tmp_path):
    import socket

    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (result,) = _run(f"http://127.0.0.1:{port}", tmp_path, REPO)
    assert result["error"] == "ModelLoadError"
    assert result["message"].startswith("Offline (no network: 127.0.0.1 cannot be reached)")
