"""find_super_weights: the embedded model's two super weights, planted ones in tiny models, none in clean ones."""

import json
import random

import pytest

from sw_core.__main__ import main
from sw_core.detect import find_super_weights
from sw_core.edits import ActivationPin, Coord
from sw_core.errors import BadInput
from sw_core.restore import restore_pins
from sw_core.testing import plant_super_weight, tiny_model



@pytest.fixture(scope="module")
def embedded_detection(embedded):
    return find_super_weights(embedded)


def test_embedded_super_weights(embedded_detection, embedded):
    d = embedded_detection
    assert d.found
    assert d.coords() == [Coord(11, 507, 1229), Coord(11, 507, 1487)]  # larger share first
    first, second = d.super_weights
    assert first.share > second.share > 0.1
    assert first.share + second.share == pytest.approx(1.0, abs=0.02)
    for w in d.super_weights:
        assert w.value == pytest.approx(float(embedded.layers[11].weight_view()[w.row, w.col]))
        a = w.activation
        assert (a.layer, a.channel, a.token) == (11, 507, 0)
        assert 2.0e4 < a.value < 3.0e4
        assert w.prompts == d.prompts
    assert restore_pins(None, d.coords(), d) == [ActivationPin(11, 507, 0, None, above=0.05 * first.activation.value)]
    assert d.max_spike_ratio > d.threshold


def test_embedded_super_weights_are_verified_against_a_control(embedded_detection):
    d = embedded_detection
    assert d.verified and d.activation_sources == []
    for w in d.super_weights:
        assert w.verdict == "super weight"
        assert w.impact.group == [[11, 507, 1229], [11, 507, 1487]]
        assert w.impact.ppl_ratio > 1000  # the group removed: the model collapses
        assert 0.9 < w.impact.control_ratio < 1.1  # two of the largest other weights: nothing
        assert len(w.impact.control) == 2 and [11, 507, 1229] not in w.impact.control


def test_embedded_late_layers_are_cancelling_not_super_weights(embedded_detection):
    late = {s.layer: s for s in embedded_detection.late_spikes}
    assert set(late) == {28, 29}
    for s in late.values():
        assert s.label == "late cancelling"
        assert s.channel == 507 and s.token == 0
        assert (s.value > 0) != (s.resid_before > 0)  # opposite sign to the residual
        assert abs(s.resid_after) < abs(s.resid_before)
        assert s.ratio_without_super_weights < s.ratio  # they depend on the super weight
        assert s.shrink <= 0.9
    assert not any(w.layer >= 28 for w in embedded_detection.super_weights)


def test_detection_never_writes_weights(embedded, digest):
    before = digest(embedded.model)
    find_super_weights(embedded, ["Hello world.", "Zwei Prompts."], verify_tokens=16)
    assert digest(embedded.model) == before


@pytest.mark.parametrize("model_type", ["llama", "gpt2", "gpt_neox", "opt", "qwen2", "gemma"])
def test_planted_super_weight_is_found(model_type):
    seed = random.Random(model_type).randrange(1000)
    clean = tiny_model(model_type, layers=4, seed=seed)
    # The spike rules alone (a random model depends on nothing: verification is tested with taught
    # heads in test_detect_acceptance.py).
    none = find_super_weights(clean, "Some text to scan, with words.", verify=False)
    assert not none.found and none.coords() == []
    assert none.max_spike_ratio < none.threshold  # the evidence for "none found"

    planted = tiny_model(model_type, layers=4, seed=seed)
    coord = plant_super_weight(planted, seed=seed)
    d = find_super_weights(planted, "Some text to scan, with words.", verify=False)
    assert d.coords() == [coord]
    assert d.super_weights[0].share > 0.9
    assert d.super_weights[0].activation.channel == coord.row


def test_planted_gpt2_coordinate_goes_through_the_transposed_conv1d():
    loaded = tiny_model("gpt2", layers=3, seed=3)
    c = plant_super_weight(loaded, layer=1, row=5, col=200, weight=40.0)
    assert float(loaded.layers[1].module.weight[200, 5]) == 40.0  # Conv1D stores [in, out]
    assert find_super_weights(loaded, "abc def", verify=False).coords() == [c]


def test_bad_arguments_say_what_to_do(embedded):
    with pytest.raises(BadInput, match="threshold"):
        find_super_weights(embedded, threshold=0.5)
    with pytest.raises(BadInput, match="share"):
        find_super_weights(embedded, share=2)
    with pytest.raises(BadInput, match="prompt"):
        find_super_weights(embedded, ["", "  "])
    with pytest.raises(BadInput, match="far"):
        find_super_weights(embedded, far=10)
    with pytest.raises(BadInput, match="verify_tokens"):
        find_super_weights(embedded, verify_tokens=2)


def test_cli_detect_json(tmp_path, capsys):
    out = tmp_path / "d.json"
    assert main(["detect", "--model", "embedded", "--device", "cpu", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "1229, 1487" in text and "late cancelling" in text  # one row for the (layer 11, row 507) group
    assert "super weight" in text and "ppl x (removed)" in text
    data = json.loads(out.read_text())
    assert data["verified"] is True and data["activation_sources"] == []
    assert [(w["layer"], w["row"], w["col"]) for w in data["super_weights"]] == [(11, 507, 1229), (11, 507, 1487)]
    for w in data["super_weights"]:
        assert w["verdict"] == "super weight" and w["impact"]["ppl_ratio"] > 1000
        assert w["impact"]["control_ratio"] < 1.1 and w["impact"]["group"] == [[11, 507, 1229], [11, 507, 1487]]
    assert {s["layer"] for s in data["late_spikes"]} == {28, 29}


def test_cli_detect_no_verify_marks_the_result_unverified(tmp_path, capsys):
    out = tmp_path / "d.json"
    assert main(["detect", "--model", "embedded", "--device", "cpu", "--no-verify", "--json", str(out)]) == 0
    assert "NOT verified" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["verified"] is False and len(data["super_weights"]) == 2
    assert all(w["verdict"] == "unverified" and w["impact"] is None for w in data["super_weights"])


def test_each_weight_of_a_group_is_measured_alone(embedded):
    d = find_super_weights(embedded, each=True, verify_tokens=64)
    first, second = d.super_weights
    # [507, 1229] alone already breaks the model; [507, 1487] alone much less (README: Table 1).
    assert first.alone["ppl_ratio"] > 2 * second.alone["ppl_ratio"] > 1
    assert first.alone["control_ratio"] == second.alone["control_ratio"] < 1.1
    assert first.impact.ppl_ratio > first.alone["ppl_ratio"]  # the pair matters more than either


def test_an_opposing_spike_that_does_not_shrink_enough_is_decomposed(embedded):
    # Layer 28 keeps 64% of its size with the super weights off, layer 29 24%: asking for a
    # shrink to 50% turns 28 into a creating spike (decomposed), while 29 stays cancelling.
    d = find_super_weights(embedded, cancel_shrink=0.5, verify=False)
    assert {s.layer: s.label for s in d.late_spikes} == {29: "late cancelling"}
    late = [w for w in d.super_weights if w.layer == 28]
    assert late and all(w.row == 507 and w.activation.value < 0 for w in late)
    assert [w.coord for w in d.super_weights if w.layer == 11] == [Coord(11, 507, 1229), Coord(11, 507, 1487)]
