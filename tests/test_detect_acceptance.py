"""Detection on models built in-process: each plant is found, verified or not, and nothing else.

Each tiny model's output head is taught the verification text first (`teach_head`): a random
model predicts nothing, so it could not depend on any weight; a taught one depends on its own
features, as a trained model depends on its super activation.
"""

import statistics

import pytest
import torch

from sw_core.detect import VERDICT_SOURCE, VERDICT_SUPER, find_super_weights, spike_ratios
from sw_core.edits import off
from sw_core.scan import scan
from sw_core.testing import plant_super_weight, tiny_model
from sw_core.testing import plant_token_source, teach_head

TEXT = ("The exact date of his birth is not known. His father, John Shakespeare, was a burgess of the recently "
        "constituted corporation of Stratford, and had already filled certain minor municipal offices.")
PROMPT = "Some text to scan, with words."
TOKENS = 160  # the byte-level stand-in tokenizer: 160 bytes of TEXT


def detect(loaded, prompt=PROMPT):
    return find_super_weights(loaded, prompt, verify_text=TEXT, verify_tokens=TOKENS)


def reference_ppl(loaded, edit_coords=()):
    """Perplexity of TEXT's first TOKENS tokens on a deepcopy with the weights zeroed in place."""
    import copy

    model = copy.deepcopy(loaded.model)
    with torch.no_grad():
        for c in edit_coords:
            w = model.get_submodule(loaded.layers[c.layer].name).weight
            if loaded.layers[c.layer].transposed:
                w[c.col, c.row] = 0.0
            else:
                w[c.row, c.col] = 0.0
        ids = loaded.encode(TEXT)[:, :TOKENS]
        logits = model(input_ids=ids).logits[0, :-1].double()
    nll = torch.nn.functional.cross_entropy(logits, ids[0, 1:])
    return float(torch.exp(nll))


@pytest.mark.parametrize("model_type, dtype", [("llama", torch.float32), ("llama", torch.bfloat16),
                                               ("gpt2", torch.float32)])
@pytest.mark.parametrize("seed", [0, 1])
def test_one_strong_plant_is_exactly_the_plant_verified(model_type, dtype, seed):
    loaded = tiny_model(model_type, layers=4, seed=seed)
    coord = plant_super_weight(loaded, seed=seed)
    teach_head(loaded, TEXT)
    loaded.model.to(dtype)
    d = detect(loaded)
    assert d.verified and d.coords() == [coord] and d.activation_sources == []
    w = d.super_weights[0]
    assert w.verdict == VERDICT_SUPER and w.impact.group == [[coord.layer, coord.row, coord.col]]
    if dtype == torch.float32:  # the impact equals an in-place edit on a copy
        assert w.impact.ppl_original == pytest.approx(reference_ppl(loaded), rel=1e-3)
        assert w.impact.ppl_removed == pytest.approx(reference_ppl(loaded, [coord]), rel=1e-3)
        control = [type(coord)(*c) for c in w.impact.control]
        assert w.impact.ppl_control == pytest.approx(reference_ppl(loaded, control), rel=1e-3)
    assert w.impact.ppl_ratio > 20 and w.impact.control_ratio < 1.5


@pytest.mark.parametrize("model_type", ["llama", "gpt2"])
def test_unplanted_models_give_nothing(model_type):
    loaded = tiny_model(model_type, layers=4, seed=3)
    teach_head(loaded, TEXT)
    d = detect(loaded)
    assert d.super_weights == [] and d.activation_sources == [] and d.late_spikes == []
    assert d.max_spike_ratio < d.threshold


def test_a_weak_second_plant_in_another_layer_is_followed_and_verified():
    loaded = tiny_model("llama", layers=6, seed=2)
    strong = plant_super_weight(loaded, layer=1, row=10, col=20, weight=1000.0, seed=2)
    weak = plant_super_weight(loaded, layer=4, row=30, col=40, weight=25.0, seed=2)
    teach_head(loaded, TEXT)
    s = scan(loaded, PROMPT)
    ratios = spike_ratios(s)
    assert ratios[4] >= 1000 and s.layers[4].out_max < 0.05 * s.layers[1].out_max  # the case asked for
    d = detect(loaded)
    assert d.coords() == [strong, weak] and d.activation_sources == []


def test_a_channel_written_by_half_of_the_layers_is_found():
    loaded = tiny_model("llama", layers=8, seed=1)
    plants = [plant_super_weight(loaded, layer=i, row=12, col=50 + i, seed=1) for i in range(4)]
    teach_head(loaded, TEXT)
    s = scan(loaded, PROMPT)
    typical_of_all = statistics.median(s.out_maxima())  # the old baseline hides every one of them
    assert all(s.layers[i].out_max / typical_of_all < 50 for i in range(4))
    d = detect(loaded)
    assert sorted((w.coord for w in d.candidates()), key=lambda c: c.layer) == plants
    assert d.coords() == plants  # and each group matters to the model


def test_a_massive_activation_the_model_does_not_need_is_an_activation_source():
    loaded = tiny_model("llama", layers=4, seed=0)
    source = plant_token_source(loaded, token_id=ord("#") + 3)  # fires on "#" only; TEXT has none
    teach_head(loaded, TEXT)
    d = detect(loaded, "Some #text to scan, with words.")
    assert d.super_weights == [] and [w.coord for w in d.activation_sources] == [source]
    w = d.activation_sources[0]
    assert w.verdict == VERDICT_SOURCE and w.impact.ppl_ratio == pytest.approx(1.0, abs=1e-4)
    # Without verification it is a candidate like any other, marked unverified.
    raw = find_super_weights(loaded, "Some #text to scan, with words.", verify=False)
    assert not raw.verified and raw.coords() == [source] and raw.super_weights[0].verdict == "unverified"


def test_removing_the_found_weights_removes_the_spike():
    loaded = tiny_model("llama", layers=4, seed=0)
    coord = plant_super_weight(loaded, seed=0)
    before = scan(loaded, PROMPT).layers[coord.layer].out_max
    after = scan(loaded, PROMPT, edit=off(coord)).layers[coord.layer].out_max
    assert after < 0.01 * before


def test_an_independent_plant_of_opposite_sign_on_the_same_channel_is_a_super_weight():
    loaded = tiny_model("llama", layers=6, seed=0)
    first = plant_super_weight(loaded, layer=1, row=10, col=20, weight=100.0, seed=0)
    later = plant_super_weight(loaded, layer=4, row=10, col=40, weight=-100.0, seed=0)
    teach_head(loaded, TEXT)
    d = detect(loaded)
    assert d.coords() == [first, later] and d.late_spikes == []
    assert d.super_weights[1].activation.value < 0 < d.super_weights[1].impact.ppl_ratio - 1.5
