"""`python -m sw_core quantize`: bad input stops early with a message; --json has rows."""

import json

from sw_core.__main__ import main


def test_bad_bits_and_block_stop_with_what_to_do(capsys):
    assert main(["quantize", "--bits", "9"]) == 2
    assert "2 to 8 bits" in capsys.readouterr().err
    assert main(["quantize", "--block", "100", "--modes", "rtn", "--max-tokens", "8"]) == 2
    assert "power of two" in capsys.readouterr().err


def test_json_rows_have_mode_and_perplexity(tmp_path):
    out = tmp_path / "q.json"
    assert main(["quantize", "--device", "cpu", "--modes", "fp", "rtn", "--block", "32", "--max-tokens", "48",
                 "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["mode"] for r in rows] == ["fp", "rtn"]
    fp, rtn = (r["perplexity"]["britannica"] for r in rows)
    assert abs(rtn / fp - 1) < 0.01  # int4 block 32 reproduces the model's own Q4_1 grid
    assert len(rows[1]["super_weights"]) >= 2
