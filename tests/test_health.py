"""The Docker image's pieces, and its start command serving /_stcore/health from this checkout.

No Docker engine runs here, so the test runs exactly the image's CMD (from the venv, on a free
localhost port, with SW_PUBLIC=1 as in the image) and its HEALTHCHECK command against it.
"""

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    """Arguments of every `NAME ...` instruction, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in joined.splitlines()
            if line.strip() and not line.lstrip().startswith("#") and line.split(None, 1)[0] == name]


def dockerfile_cmd() -> list[str]:
    (cmd,) = instructions("CMD")
    return json.loads(cmd)  # exec form: no shell between the container and streamlit


def env_values() -> dict[str, str]:
    env = {}
    for line in instructions("ENV"):
        for pair in shlex.split(line):
            key, _, value = pair.partition("=")
            env[key] = value
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_served_port_is_the_spaces_exposed_and_health_checked_one():
    """One port everywhere: the Space's `app_port` (README front matter), the CMD's --server.port,
    EXPOSE and the HEALTHCHECK URL; the CMD listens on every interface of the container."""
    cmd = dockerfile_cmd()
    port = cmd[cmd.index("--server.port") + 1]
    front = (ROOT / "README.md").read_text().split("---")[1]
    assert re.search(r"^app_port:\s*(\d+)$", front, re.M).group(1) == port
    assert instructions("EXPOSE") == [port]
    (hc,) = instructions("HEALTHCHECK")
    assert f"http://127.0.0.1:{port}/_stcore/health" in hc
    assert cmd[cmd.index("--server.address") + 1] == "0.0.0.0"  # reachable from outside the container
    assert (ROOT / cmd[cmd.index("run") + 1]).is_file()  # the script it serves exists (the server fixture runs it)


def test_base_torch_and_embedded_model_match_the_project_pins():
    args = dict(a.split("=", 1) for a in instructions("ARG") if "=" in a)
    assert args["BASE_IMAGE"] == "python:3.11-slim" and instructions("FROM") == ["${BASE_IMAGE}"]
    assert args["TORCH_INDEX"] == "https://download.pytorch.org/whl/cpu"
    torch_pin = re.search(r"^torch==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert args["TORCH_VERSION"] == torch_pin
    assert '--index-url "${TORCH_INDEX}" "torch==${TORCH_VERSION}"' in DOCKERFILE
    makefile_nodeps = re.search(r"^NODEPS := (.+)$", (ROOT / "Makefile").read_text(), re.M).group(1).split()
    assert args["NODEPS"].strip('"').split() == makefile_nodeps
    assert "pip install --no-deps ${NODEPS}" in DOCKERFILE
    assert "pip install -r /tmp/runtime-requirements.txt" in DOCKERFILE


def test_runs_as_uid_1000_with_writable_caches_built_at_build_time():
    assert any("--uid 1000" in r for r in instructions("RUN"))
    assert instructions("USER") == ["user"]
    env = env_values()
    assert env["HF_HOME"].startswith("/home/user/") and env["SW_CACHE"].startswith("/home/user/")
    assert env["SW_PUBLIC"] == "1"
    runs = instructions("RUN")
    user_at = DOCKERFILE.index("USER user")
    assert DOCKERFILE.index("python -m sw_core info") > user_at  # the cache belongs to the user
    assert any('mkdir -p "${HF_HOME}" "${SW_CACHE}"' in r for r in runs)


def test_dockerignore_keeps_local_state_out():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".venv", ".git", "**/__pycache__", ".pytest_cache", "tests/artifacts"} <= ignored
    assert "app.py" not in ignored and "sw_core" not in ignored and "assets" not in ignored
    assert "bench" in ignored  # tooling stays out of the product


def test_streamlit_config_keeps_xsrf_on_for_a_public_server():
    import tomllib

    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["enableXsrfProtection"] is True
    assert cfg["server"]["fileWatcherType"] == "none"
    assert cfg["browser"]["gatherUsageStats"] is False


def test_cache_build_step_runs():
    # The image's build step `python -m sw_core info --device cpu`, as the image runs it.
    out = subprocess.run([sys.executable, "-m", "sw_core", "info", "--device", "cpu", "--json"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["model"] == "SmolLM2-135M-Instruct" and info["layers"] == 30


@pytest.fixture(scope="module")
def server():
    """The image's CMD, run from this venv on a free localhost port, in public mode."""
    port = free_port()
    cmd = dockerfile_cmd()
    cmd[cmd.index("--server.port") + 1] = str(port)
    cmd[cmd.index("--server.address") + 1] = "127.0.0.1"  # not on every interface of this machine
    assert cmd[0] == "streamlit"
    argv = [sys.executable, "-m", "streamlit"] + cmd[1:]
    env = {**os.environ, "SW_PUBLIC": "1", "HF_HUB_OFFLINE": "1",
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield port, proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode("utf-8", "replace")


def test_health_endpoint_answers_ok(server):
    port, proc = server
    url = f"http://127.0.0.1:{port}/_stcore/health"
    for _ in range(240):  # up to about 120 s for the server to start
        assert proc.poll() is None, f"streamlit exited with {proc.returncode}: {proc.stdout.read()}"
        try:
            status, body = _get(url)
            break
        except OSError:
            time.sleep(0.5)
    else:
        pytest.fail("no answer on /_stcore/health after 240 tries, 0.5 s apart")
    assert (status, body.strip()) == (200, "ok")
    status, page = _get(f"http://127.0.0.1:{port}/")
    assert status == 200 and "<html" in page.lower()


def test_the_images_healthcheck_command_passes(server):
    port, proc = server
    test_health_endpoint_answers_ok(server)  # the server is up
    (hc,) = instructions("HEALTHCHECK")
    command = hc.split(" CMD ", 1)[1].replace("7860", str(port))
    argv = shlex.split(command)
    assert argv[0] == "python"
    done = subprocess.run([sys.executable] + argv[1:], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert proc.poll() is None
    # ...and it fails where nothing listens (a closed port), so a dead server is reported.
    closed = shlex.split(hc.split(" CMD ", 1)[1].replace("7860", str(free_port())))
    assert subprocess.run([sys.executable] + closed[1:], capture_output=True, timeout=30).returncode != 0
