"""Readable answers: candidates grouped by (layer, output row), columns strongest first; the CLI
prints one row per group (--all: one per weight), the JSON keeps every weight; progress is
reported for the scan and for each perplexity pass of the verification."""

import json

from sw_core.__main__ import main
from sw_core.detect import SuperActivation, SuperWeight, find_super_weights
from sw_core.grouping import group_weights, grouped_rows


def _w(layer, row, col, share, verdict="activation source"):
    return SuperWeight(layer, row, col, value=col / 10, share=share, verdict=verdict, spike_ratio=100.0,
                       activation=SuperActivation(layer, row, 0, 500.0))


def test_weights_are_grouped_by_layer_and_row_strongest_column_first():
    weights = [_w(2, 408, 10, 0.2), _w(1, 408, 7, 0.9), _w(2, 408, 11, -0.5), _w(2, 408, 12, 0.3),
               _w(2, 99, 3, 0.6, "super weight")]
    groups = group_weights(weights)
    assert [(g.layer, g.row) for g in groups] == [(1, 408), (2, 99), (2, 408)]
    assert groups[2].cols == [11, 12, 10] and groups[2].shares == [-0.5, 0.3, 0.2]  # by |share|
    assert groups[2].values == [1.1, 1.2, 1.0] and groups[2].verdict == "activation source"
    assert groups[1].verdict == "super weight" and groups[1].weights == 1
    assert sum(g.weights for g in groups) == len(weights)  # nothing lost


def test_the_embedded_model_gives_one_group_and_reports_progress(embedded):
    scanned, verified = [], []
    d = find_super_weights(embedded, progress=lambda *a: scanned.append(a), verify_progress=lambda *a: verified.append(a))
    assert scanned == [(1, 1)]
    # 3 conditions (unedited, group removed, control removed) in one batched pass: one report at the end
    assert verified == [(3, 3)]
    (row,) = grouped_rows(d)
    strongest = max(d.super_weights, key=lambda w: abs(w.share))
    assert (row["layer"], row["row"], row["weights"]) == (11, 507, 2)
    assert row["cols (strongest first)"].split(", ")[0] == str(strongest.col)
    assert row["verdict"] == "super weight" and row["top share"] == strongest.share


def test_cli_prints_groups_by_default_every_weight_with_all_and_json_keeps_all(embedded, capsys, tmp_path):
    out = tmp_path / "d.json"
    assert main(["detect", "--model", "embedded", "--device", "cpu", "--json", str(out)]) == 0
    grouped = capsys.readouterr().out
    assert "2 weights in 1 (layer, row) groups" in grouped and "1229, 1487" in grouped
    assert len(json.loads(out.read_text())["super_weights"]) == 2
    assert main(["detect", "--model", "embedded", "--device", "cpu", "--all", "--no-verify"]) == 0
    every = capsys.readouterr().out
    assert "[507, 1229]" in every and "[507, 1487]" in every
