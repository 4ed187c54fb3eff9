"""The bench: a quick run writes the documented schema, every ratio is finite (no timing asserts)."""

import json
import math

import pytest

from bench.context import BenchContext
from bench.runner import markdown, run_bench, write_outputs
from bench.timing import Goal, Timing, median_seconds, paired_median_seconds
from sw_core.testing import tiny_model

FIELDS = {"value", "baseline", "ratio", "goal", "unit"}


def _check_schema(data: dict) -> None:
    assert isinstance(data, dict) and data
    for name, entry in data.items():
        assert FIELDS <= set(entry), name
        for key in ("value", "baseline", "ratio"):
            assert isinstance(entry[key], float) and math.isfinite(entry[key]), (name, key, entry[key])
        assert entry["baseline"] > 0, name
        assert entry["ratio"] == pytest.approx(entry["value"] / entry["baseline"]), name
        assert entry["goal"] is None or entry["goal"].split()[0] in ("value", "ratio"), name
        assert entry["repeats"] >= 1 and entry["baseline_repeats"] >= 1


def test_median_seconds_counts_every_repeat_after_warmup(monkeypatch):
    import bench.timing

    collections = []  # a full collection of the test process's heap costs ~0.3 s: counted, not run
    monkeypatch.setattr(bench.timing.gc, "collect", lambda: collections.append(1))
    calls = []
    t = median_seconds(lambda: calls.append(1), repeats=5, warmup=2, inner=3)
    assert t.repeats == 5 and len(calls) == 2 + 5 * 3 and len(collections) == 1 + 5  # once whole, then before each repeat
    a, b = paired_median_seconds(lambda: calls.append("a"), lambda: calls.append("b"), repeats=5, warmup=1)
    assert a.repeats == b.repeats == 5
    assert calls[17:] == ["a", "b"] * 6  # warm-up pair, then strictly alternating


def test_goal_reads_the_named_field():
    assert Goal("ratio", "<=", 1.1).met_by(value=100.0, ratio=1.0)
    assert not Goal("value", "<=", 1.0).met_by(value=2.0, ratio=0.1)
    assert Goal("ratio", ">=", 0.95).met_by(value=1.0, ratio=0.96)
    assert not Goal("ratio", "<=", 1.1).met_by(value=1.0, ratio=math.nan)
    assert Timing([3.0, 1.0, 2.0]).median == 2.0


def test_quick_run_on_a_tiny_model_writes_schema(tmp_path):
    loaded = tiny_model("llama", layers=2)
    ctx = BenchContext(loaded, quick=True, tokens=32, repeats=2, reload=lambda: tiny_model("llama", layers=2))
    run = run_bench(ctx)
    names = {r.name for r in run.results}
    # Every group that has landed runs on a tiny model (loading needs the embedded GGUF: skipped quietly).
    assert {"scan_vs_forward", "scan_memory_vs_full_hooks", "toggle_vs_deepcopy",
            "edited_forward_vs_forward", "perplexity_vs_plain_loop", "rtn_whole_model"} <= names, run.skipped
    assert not {k: v for k, v in run.skipped.items() if "not available" not in v}, run.skipped
    json_path, md_path = write_outputs(run, tmp_path)
    data = json.loads(json_path.read_text())
    _check_schema(data)
    assert set(data) == names
    table = md_path.read_text()
    assert table == markdown(run) and all(f"| {n} |" in table for n in names)
    # The perplexity case checks itself against the plain loop: same windows, same number.
    extra = data["perplexity_vs_plain_loop"]["extra"]
    assert extra["perplexity"] == pytest.approx(extra["plain_loop_perplexity"], rel=1e-4)


def test_cli_quick_run(tmp_path, capsys):
    from bench.__main__ import main

    assert main(["--quick", "--model", "tiny-gpt2", "--only", "scan", "edits", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "results.json").read_text())
    _check_schema(data)
    assert {"scan_vs_forward", "toggle_vs_deepcopy"} <= set(data)
    assert "| scan_vs_forward |" in capsys.readouterr().out  # the table is printed too


def test_scan_peak_memory_is_measured_in_a_fresh_process():
    """The memory case (skipped in quick runs): a child process measures a tiny model's scan."""
    from bench.cases_scan import scan_memory_case

    ctx = BenchContext(tiny_model("llama", layers=2), quick=False, tokens=64)
    result = scan_memory_case(ctx)
    assert result.name == "scan_peak_memory_vs_weights" and result.baseline > 0
    rows = result.extra["by_length"]
    assert set(rows) == {"32", "64", "256", "2048"}
    # a tiny model's peaks are at the page-counter's resolution: only their presence is checked here
    assert all(math.isfinite(r["scan"]) and math.isfinite(r["forward_keep1"]) for r in rows.values())
    assert rows["2048"]["tokens"] >= 0.95 * 2048


def test_the_library_cli_has_no_bench_command(capsys):
    """The bench is tooling on top of the library: `python -m sw_core` does not offer it."""
    from sw_core.__main__ import main

    with pytest.raises(SystemExit):
        main(["bench", "--quick"])
    assert "invalid choice: 'bench'" in capsys.readouterr().err


def test_cli_refuses_too_few_repeats(tmp_path):
    from bench.__main__ import main

    assert main(["--repeats", "3", "--model", "tiny-llama", "--out", str(tmp_path)]) == 2
    assert not (tmp_path / "results.json").exists()
