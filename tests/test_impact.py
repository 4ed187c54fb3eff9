"""`python -m sw_core impact`: the Table 1 rows, measured on the embedded model with short settings."""

import json

import pytest

from sw_core.__main__ import main
from sw_core.cli.impact import parse_weights
from sw_core.edits import Coord
from sw_core.errors import BadInput

TEXT = ("The exact date of his birth is not known. His father, John Shakespeare, was a burgess of the recently "
        "constituted corporation of Stratford, and had already filled certain minor municipal offices.")


def test_impact_cli_writes_table_1_rows(tmp_path, capsys):
    text = tmp_path / "short.txt"
    text.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "impact.json"
    rc = main(["impact", "--device", "cpu", "--texts", str(text), "--max-tokens", "48", "--window", "64",
               "--questions", "4", "--stop-prompts", "3", "--scale", "2", "--control-k", "20", "--each",
               "--json", str(out)])
    assert rc == 0
    captured = capsys.readouterr()
    assert "detecting super weights" in captured.err and "sw_off_restore_sa" in captured.out
    data = json.loads(out.read_text())
    assert {tuple(sorted(c.items())) for c in map(dict, data["super_weights"])} >= {
        (("col", 1229), ("layer", 11), ("row", 507)), (("col", 1487), ("layer", 11), ("row", 507))}
    rows = {r["condition"]: r for r in data["rows"]}
    assert list(rows)[:4] == ["original", "sw_off", "sw_off_restore_sa", "control_topk"] and "scale_2" in rows
    assert any(name.startswith("sw_off_only_11_507_") for name in rows)
    ppl = {name: r["perplexity"][str(text)] for name, r in rows.items()}
    assert ppl["sw_off"] > 100 * ppl["original"]
    assert ppl["sw_off_restore_sa"] < ppl["sw_off"] / 10
    assert ppl["control_topk"] < 1.5 * ppl["original"]
    for r in rows.values():
        assert 0.0 <= r["zero_shot_accuracy"] <= 1.0 and r["stop_mass_ratio"] > 0
    assert rows["original"]["stop_mass_ratio"] == pytest.approx(1.0)
    assert rows["control_topk"]["edited_weights"] == 20 and rows["original"]["edited_weights"] == 0


@pytest.mark.parametrize("argv, message", [
    (["--weights", "11:507"], "layer:row:col"),
    (["--texts", "no-such-text"], "Unknown text"),
    (["--max-tokens", "1"], "--max-tokens"),
])
def test_impact_cli_refuses_bad_arguments_before_loading(argv, message, capsys):
    assert main(["impact", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "loading" not in err


def test_parse_weights_accepts_colons_and_commas():
    assert parse_weights(["11:507:1229", "2,3,4"]) == [Coord(11, 507, 1229), Coord(2, 3, 4)]
    with pytest.raises(BadInput):
        parse_weights(["a:b:c"])
