"""The peers benchmark (bench/peers/): its correctness gate, result rows, docs block and helpers.

The pure-logic tests run in the main environment. The last test needs transformer_lens and nnsight
(`.venv-peers`, see `make bench-peers`) and is skipped without them.
"""

import copy
import importlib.util
import json
import math
import subprocess
import sys

import pytest
import torch

from bench.peers import gate
from bench.peers.measure import child_env, prompt_of_tokens


def _record(ours_max_s=1.0, peer_ok=True):
    times = {"forward": [2.0, 2.2, 2.1], "forward_keep1": [1.5], "ours": [ours_max_s],
             "transformer_lens": [3.0], "nnsight": [1.0]}
    return {
        "maxima_s": times,
        "ablation_s": {"ours": [2.0], "transformer_lens": [3.0], "nnsight": [2.5]},
        "maxima_ok": {"ours": True, "transformer_lens": True, "nnsight": peer_ok},
        "ablation_ok": {"ours": True, "transformer_lens": peer_ok, "nnsight": True},
        "peak_bytes": {"forward": 100 * gate.MIB, "forward_keep1": 60 * gate.MIB, "ours": 110 * gate.MIB,
                       "transformer_lens": 150 * gate.MIB, "nnsight": 105 * gate.MIB},
    }


def test_maxima_gate_is_relative_and_rejects_other_lengths():
    ours = [10.0, 2000.0, 0.5]
    assert gate.maxima_ok(ours, [10.0005, 2000.1, 0.50004])  # all within 1e-4
    assert not gate.maxima_ok(ours, [10.0, 2000.0, 0.5001])  # 2e-4 on the smallest layer
    assert not gate.maxima_ok(ours, ours[:2])
    assert gate.maxima_error(ours, [10.0, 2000.0, math.nan]) == math.inf
    assert gate.logits_ok(gate.LOGITS_ATOL) and not gate.logits_ok(2 * gate.LOGITS_ATOL) and not gate.logits_ok(math.nan)


def test_rows_use_medians_ratios_to_the_forward_and_memory_over_it():
    rows = {r["tool"]: r for r in gate.rows_for_length(256, _record())}
    assert list(rows) == list(gate.BASELINES + gate.TOOLS)
    assert rows["forward"]["maxima_s"] == 2.1 and rows["forward"]["maxima_vs_forward"] == 1.0
    assert rows["ours"]["maxima_vs_forward"] == pytest.approx(1.0 / 2.1)
    assert rows["ours"]["maxima_peak_over_forward_mib"] == pytest.approx(10.0)
    assert rows["forward_keep1"]["maxima_peak_over_forward_mib"] == pytest.approx(-40.0)
    assert rows["ours"]["ablation_vs_forward"] == pytest.approx(2.0 / 2.1)


def test_a_peer_that_fails_the_gate_reports_mismatch_not_its_time():
    rows = gate.rows_for_length(32, _record(peer_ok=False))
    by = {r["tool"]: r for r in rows}
    assert by["nnsight"]["maxima_s"] is None and by["nnsight"]["maxima_peak_over_forward_mib"] is None
    assert by["transformer_lens"]["ablation_s"] is None and by["transformer_lens"]["maxima_s"] == 3.0
    table = gate.markdown_table(rows, {"ours": 9.0})
    nn_line = next(ln for ln in table.splitlines() if "| nnsight |" in ln)
    assert nn_line.count("mismatch") == 3 and "2.500" in nn_line  # its ablation passed and counts
    # A faster peer that failed the gate is not reported as ahead of ours.
    assert not any("nnsight" in w and "maxima time" in w for w in gate.winners(rows))


def test_winners_name_each_peer_ahead_of_ours():
    wins = gate.winners(gate.rows_for_length(2048, _record(ours_max_s=1.2)))
    assert wins == ["nnsight at 2048 tokens: maxima time 1 vs ours 1.2",
                    "nnsight at 2048 tokens: maxima memory 5 vs ours 10"]


def test_generated_block_is_replaced_and_hand_written_text_kept():
    doc = gate.replace_generated("# Benchmarks\n\n## Scan cost\n\nkept\n", "Peers", "peers", "table 1")
    assert doc.count("## Peers") == 1 and "kept" in doc and "table 1" in doc
    doc = doc.replace("<!-- peers:end -->", "<!-- peers:end -->\n\nWhy: hand-written.")
    again = gate.replace_generated(doc, "Peers", "peers", "table 2")
    assert "table 1" not in again and "table 2" in again and "Why: hand-written." in again
    assert again.count("## Peers") == 1 and again.startswith("# Benchmarks\n\n## Scan cost\n\nkept\n")


def test_prompt_of_tokens_is_exact_on_the_embedded_model(embedded):
    for n in (32, 300):
        assert embedded.encode(prompt_of_tokens(embedded, n)).shape[1] == n


def test_peak_over_sees_a_tensor_made_and_freed_inside():
    """In a fresh process with the measuring processes' malloc setting, as the bench runs it (this
    process's allocator may already hold freed memory that a new tensor reuses unseen)."""
    code = ("import json, torch; from bench.peers.measure import peak_over; "
            "_, peak, s = peak_over(lambda: torch.ones(16 * 1024 * 1024).sum()); print(json.dumps([peak, s]))")
    out = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    peak, seconds = json.loads(out.stdout.strip().splitlines()[-1])
    if peak is None:
        pytest.skip("this kernel does not let a process reset its peak resident set")
    assert peak >= 0.9 * 64 * 1024 * 1024 and seconds > 0


PEERS = all(importlib.util.find_spec(m) for m in ("transformer_lens", "nnsight"))


# The peers live in their own environment (the app's stays lean): `make bench-peers` runs this file
# there before it measures, so this test runs wherever the peers' numbers are produced.
@pytest.mark.skipif(not PEERS, reason="the peers are installed only in .venv-peers, where `make bench-peers` "
                                      "runs this test before measuring")
def test_peers_match_a_plain_reference(embedded):
    """Each tool's maxima and ablated logits against hooks and a weight edit on a deepcopy, written here."""
    from bench.peers import tools

    ids = embedded.encode(prompt_of_tokens(embedded, 24))
    ref = copy.deepcopy(embedded.model)
    maxima = {}
    handles = [m.register_forward_hook(lambda mod, i, o, k=k: maxima.__setitem__(k, float(o.abs().max())))
               for k, m in enumerate(layer.mlp.down_proj for layer in ref.model.layers)]
    with torch.no_grad():
        ref(input_ids=ids)
        for h in handles:
            h.remove()
        ref.model.layers[tools.LAYER].mlp.down_proj.weight[tools.ROW, tools.COL] = 0.0
        ablated = ref(input_ids=ids).logits
    expected = [maxima[k] for k in range(len(maxima))]
    for name in gate.TOOLS:
        tool = tools.make(name, embedded)
        assert gate.maxima_ok(expected, tool.maxima(embedded.tokenizer.decode(ids[0]), ids)), name
        assert gate.logits_ok(float((tool.ablated(ids) - ablated).abs().max())), name


def test_scaling_docs_list_every_job_and_keep_the_7b_row_pending():
    from bench.peers import scaling

    row = {"model": "m", "parameters": 2_000_000, "tokens": 32, "seconds": 0.5, "peak_mib": None}
    rows = [{**row, "job": j} for j in scaling.JOBS] + [{**row, "job": "scan", "tokens": 64, "peak_mib": 0.2}]
    record = {"date": "d", "threads": 1, "repeats": 1, "load_average_before": [1.0], "load_average_after": [1.0],
              "figure": "scaling.png", "context_window": 8192, "by_length": rows, "by_size": rows,
              "pending": [scaling.PENDING_7B], "skipped_lengths": [16384], "seconds": 12.0}
    block = scaling.docs_block(record, None)
    assert "![scaling](scaling.png)" in block and "| 32 | 0.5 | — | 0.5 | — | 0.5 | — |" in block
    assert "| 64 | 0.5 | < 1 | — | — | — | — |" in block
    assert "12 s wall, unrecorded s CPU" in block and "| m (2 M) |" in block and block.count("pending |") >= 6 and "[16384]" in block


def test_scaling_study_on_a_tiny_model_gives_each_job_at_each_length():
    from bench.peers import scaling
    from sw_core.testing import tiny_model

    rows = scaling.study(tiny_model("llama", layers=2), [16, 64], 1, "tiny")
    assert [(r["tokens"], r["job"]) for r in rows] == [(n, j) for n in (16, 64) for j in scaling.JOBS]
    assert all(r["seconds"] > 0 and r["parameters"] > 0 for r in rows)


def test_memory_processes_get_the_exact_peak_malloc_setting_and_cold_starts_do_not(monkeypatch):
    from bench.peers.measure import MALLOC_ENV, child_env

    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "1")  # inherited from a parent that had it
    exact, cold = child_env(), child_env(exact_peak=False)
    assert all(exact[k] == v for k, v in MALLOC_ENV.items()) and not set(MALLOC_ENV) & set(cold)
    assert exact["OMP_NUM_THREADS"] == cold["OMP_NUM_THREADS"] == "1" and cold["HF_HUB_OFFLINE"] == "1"
