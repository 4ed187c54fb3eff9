"""Tooling, outside the product: it imports the library and the app, and nothing imports it.

Benchmarks: every figure is a ratio against a baseline measured in the same run. Why ratios: the
machines this runs on are shared and noisy; an absolute time from one run says little, but
"scan / plain forward" measured back to back on the same input stays meaningful.

- `python -m bench` (`make bench`): each `cases_*.py` module measures one group of cases and
  returns `BenchResult`s (`cases_app.py`: the app's, driving Streamlit); `runner.py` runs the
  groups and writes `results.json` and `results.md`.
- `python -m bench.numbers` (`make numbers`): the measured tables in README.md and docs/
  (`numbers_measure.py`, `numbers_render.py`, `memory_check.py`).
- `bench/gpu/` (`make gpu-check`) and `bench/peers/` (`make bench-peers`, `make bench-scaling`).
"""
