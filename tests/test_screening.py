"""Screening: batched per-row removals equal separate plain-transformers evaluations."""

import copy
import math

import pytest
import torch

from sw_core.edits import Coord
from sw_core.errors import BadInput
from sw_core.screening import Candidate, candidates, screen
from sw_core.testing import plant_expert_super_weight, plant_super_weight, teach_head, tiny_model

TEXT = "The river flows through the old town, past the market and the church, to the sea."


def reference_ppl(loaded, ids, coord=None):
    """Perplexity of ids [T] on a deepcopy with `coord` set to 0 directly (no project code)."""
    model = copy.deepcopy(loaded.model)
    if coord is not None and coord.expert is not None:  # the fused [experts, out, in] parameter
        model.model.layers[coord.layer].mlp.experts.down_proj.data[coord.expert, coord.row, coord.col] = 0.0
    elif coord is not None:
        down = model.get_submodule(loaded.layers[coord.layer].name)
        at = (coord.col, coord.row) if type(down).__name__ == "Conv1D" else (coord.row, coord.col)
        down.weight.data[at] = 0.0
    with torch.no_grad():
        logp = model(input_ids=ids[None]).logits[0, :-1].log_softmax(-1)
    return math.exp(float(-logp.gather(-1, ids[1:, None]).mean()))


@pytest.mark.parametrize("model_type", ["llama", "gpt2", "opt"])
def test_tiny_planted_weight_ranks_first_and_every_row_matches(model_type):
    loaded = tiny_model(model_type, layers=4)
    planted = plant_super_weight(loaded, layer=1, seed=5)
    cands = candidates(loaded, [planted], per_layer=2, layers=2)
    assert cands[0] == Candidate(planted, "detector + largest |W|") and len(cands) == 4  # merged
    s = screen(loaded, cands, text=TEXT, max_tokens=40, batch_size=3, compare=True)
    assert s.rows[0].weight == str(planted) and s.forwards == 2  # 5 rows, 3 per pass
    ids = loaded.encode(TEXT)[0, :40]
    assert s.baseline_ppl == pytest.approx(reference_ppl(loaded, ids), rel=1e-4)
    for r in s.rows:
        assert r.ppl == pytest.approx(reference_ppl(loaded, ids, Coord(r.layer, r.row, r.col)), rel=1e-4)
    by_coord = {r.weight: r.ppl for r in s.rows}
    assert [by_coord[str(c.coord)] for c in cands] == pytest.approx(s.sequential_ppl[1:], rel=1e-4)


@pytest.mark.parametrize("model_type", ["mixtral", "qwen2_moe", "olmoe"])
def test_a_planted_expert_super_weight_ranks_first_and_every_row_matches(model_type, digest):
    loaded = tiny_model(model_type, layers=3)
    planted = plant_expert_super_weight(loaded, layer=1, expert=2, row=9, col=33)
    teach_head(loaded, TEXT)  # the model now depends on its features on TEXT, as a trained one does
    before = digest(loaded.model)
    cands = candidates(loaded, [planted], per_layer=1, layers=2)
    assert cands[0].coord == planted and {c.coord.expert for c in cands[1:]} == {0, 1, 2, 3}  # each expert's matrix
    s = screen(loaded, cands, text=TEXT, max_tokens=40, batch_size=4)
    assert s.rows[0].weight == "layer 1 expert 2 [9, 33]" and s.rows[0].expert == 2 and s.rows[0].value == 50.0
    assert s.rows[0].ppl_ratio > 100 and s.rows[1].ppl_ratio < 1.1
    ids = loaded.encode(TEXT)[0, :40]
    assert s.baseline_ppl == pytest.approx(reference_ppl(loaded, ids), rel=1e-4)
    for r in s.rows:
        assert r.ppl == pytest.approx(reference_ppl(loaded, ids, Coord(r.layer, r.row, r.col, r.expert)), rel=1e-4)
    assert digest(loaded.model) == before


def test_embedded_super_weight_ranks_first(embedded, digest):
    before = digest(embedded.model)
    sw = Coord(11, 507, 1229)
    cands = candidates(embedded, [sw, Coord(11, 507, 1487)], per_layer=1, layers=3)
    s = screen(embedded, cands, text=TEXT, max_tokens=24, batch_size=8)
    assert s.rows[0].weight == str(sw) and s.rows[0].ppl_ratio > 2
    ids = embedded.encode(TEXT)[0, :24]
    assert s.rows[0].ppl == pytest.approx(reference_ppl(embedded, ids, sw), rel=1e-3)
    assert digest(embedded.model) == before


def test_bad_input():
    loaded = tiny_model("llama", layers=2)
    with pytest.raises(BadInput, match="No candidate"):
        screen(loaded, [])
    with pytest.raises(BadInput, match="at least 2 tokens"):
        screen(loaded, candidates(loaded, per_layer=1), text=TEXT, max_tokens=1)
    with pytest.raises(BadInput, match="out of range"):
        screen(loaded, [Candidate(Coord(0, 0, 9999), "typo")], text=TEXT)
    with pytest.raises(BadInput, match="layers"):
        candidates(loaded, layers=5)


def test_cli_screen_and_the_app_table(embedded, tmp_path, capsys):
    import json

    from sw_core.__main__ import main
    from sw_core.screening import screening_table

    out = tmp_path / "s.json"
    assert main(["screen", "--model", "embedded", "--device", "cpu", "--per-layer", "1", "--layers", "2",
                 "--max-tokens", "16", "--top", "3", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert rows[0]["col"] == 1229 and rows[0]["rank"] == 1 and len(rows) == 4
    assert "layer 11 [507, 1229]" in capsys.readouterr().out
    table = screening_table(embedded, [Coord(11, 507, 1229)], top=2, per_layer=1, layers=1, max_tokens=16)
    assert [r["rank"] for r in table] == [1, 2] and table[0]["weight"] == "layer 11 [507, 1229]"
