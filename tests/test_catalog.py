"""catalog: published coordinates as data, matched by model id and variants, verified by the detector."""

import json


from sw_core.__main__ import main
from sw_core.catalog import CATALOG_PATH, all_entries, entries_for, family_key, verify
from sw_core.detect import Detection
from sw_core.edits import Coord
from sw_core.testing import tiny_model



def test_every_entry_has_a_source_and_the_convention_is_documented():
    data = json.loads(CATALOG_PATH.read_text())
    assert "Fig. 3" in data["convention"] and "[output channel, input channel]" in data["convention"]
    entries = all_entries()
    assert len(entries) >= 25
    assert all(e.source and e.layer >= 0 and e.row >= 0 and e.col >= 0 for e in entries)
    assert {e.coord for e in entries_for("huggyllama/llama-7b")} == {Coord(2, 3968, 7003)}
    assert len(entries_for("microsoft/Phi-3-mini-4k-instruct")) == 6
    measured = entries_for("HuggingFaceTB/SmolLM2-135M-Instruct")
    assert all("measured by this project" in e.source for e in measured)


def test_instruct_and_chat_variants_match_their_base():
    assert family_key("meta-llama/Llama-2-7b-chat-hf") == family_key("meta-llama/Llama-2-7b-hf")
    assert [e.coord for e in entries_for("mistralai/Mistral-7B-Instruct-v0.1")] == [Coord(1, 2070, 7310)]
    assert len(entries_for("meta-llama/Meta-Llama-3-8B-Instruct")) == 3
    assert entries_for("meta-llama/Llama-2-13b-chat-hf")[0].coord == Coord(3, 4743, 7678)
    assert entries_for("gpt2") == [] and entries_for("meta-llama/Llama-2-70b-hf") == []


def test_verify_refinds_the_embedded_model_coordinates(embedded):
    checks = verify(embedded)
    assert [(c.entry.coord, c.refound, c.match) for c in checks] == [
        (Coord(11, 507, 1229), True, "exact"), (Coord(11, 507, 1487), True, "exact")]
    entry, refound = checks[0]  # unpacks as (entry, refound)
    assert refound
    # a detection that misses one: verify reports it
    empty = Detection("x", [], [], 1.0, 50.0, 1, ["p"])
    assert [c.refound for c in verify(embedded, empty)] == [False, False]


def test_uncatalogued_model_gets_no_entries():
    assert verify(tiny_model("llama", layers=2)) == []


def test_cli_catalog(capsys, tmp_path):
    assert main(["catalog"]) == 0
    out = capsys.readouterr().out
    assert "huggyllama/llama-7b" in out and "[3968, 7003]" in out
    path = tmp_path / "c.json"
    assert main(["catalog", "--model", "embedded", "--device", "cpu", "--json", str(path)]) == 0
    assert "2/2" in capsys.readouterr().out
    assert all(e["refound"] for e in json.loads(path.read_text()))


def test_olmo_1b_weights_sit_in_layers_1_and_2_as_in_the_papers_code():
    # outliers/model.py of the paper's code: [(1, 1764, 1710), (2, 1764, 8041)].
    coords = {(e.layer, e.row, e.col) for e in entries_for("allenai/OLMo-1B-0724-hf")}
    assert coords == {(1, 1764, 1710), (2, 1764, 8041)}
