"""Benchmarks against peer tools (TransformerLens, nnsight) and the scaling study.

Run with `make bench-peers` / `make bench-scaling`: they need `.venv-peers` (requirements-peers.txt),
kept apart so the app's own environment stays lean.
"""
