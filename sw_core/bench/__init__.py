"""Benchmarks: every figure is a ratio against a baseline measured in the same run.

Why ratios: the machines this runs on are shared and noisy; an absolute time from one run says
little, but "scan / plain forward" measured back to back on the same input stays meaningful.
Each `cases_*.py` module measures one group of cases and returns `BenchResult`s; `runner.py` runs
the groups, and writes `results.json` and `results.md`. CLI: `python -m sw_core bench`.
"""
