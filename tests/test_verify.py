"""Verification: every condition is one row of one batch (per-row edits, branching at the first
edited layer), with the same perplexities as plain transformers on deep copies edited directly."""

import copy
import math

import pytest
import torch

from sw_core.detect import find_super_weights
from sw_core.testing import plant_expert_super_weight, plant_super_weight, teach_head, tiny_model
from sw_core.verify import VERDICT_SUPER, default_text, verify_groups

TOKENS = 64


def own_ppl(loaded, ids, coords=()):
    """Perplexity of ids [T] on a deep copy with `coords` set to 0 in the weights themselves."""
    model = copy.deepcopy(loaded.model)
    with torch.no_grad():
        for c in coords:
            if c.expert is None:
                model.get_submodule(loaded.layers[c.layer].name).weight[c.row, c.col] = 0.0
            else:
                model.model.layers[c.layer].mlp.experts.down_proj[c.expert, c.row, c.col] = 0.0
        logp = model(input_ids=ids[None], use_cache=False).logits[0, :-1].double().log_softmax(-1)
    return math.exp(float(-logp.gather(-1, ids[1:, None]).mean()))


def planted(model_type):
    loaded = tiny_model(model_type, layers=3)
    if loaded.layers[1].num_experts:
        a = plant_expert_super_weight(loaded, layer=1, expert=2, row=9, col=33)
    else:
        a = plant_super_weight(loaded, layer=1, row=9, col=33)
    teach_head(loaded, default_text(TOKENS))  # the model depends on its plant on this text
    return loaded, a


@pytest.mark.parametrize("model_type", ["llama", "mixtral"])
def test_batched_verification_equals_direct_edits_on_deep_copies(model_type, digest):
    loaded, sw = planted(model_type)
    before = digest(loaded.model)
    det = find_super_weights(loaded, verify_tokens=TOKENS, each=True)
    assert det.coords() == [sw] and det.super_weights[0].verdict == VERDICT_SUPER
    impact = det.super_weights[0].impact
    ids = loaded.encode(default_text(TOKENS))[0, :TOKENS]
    control = [type(sw)(*c, sw.expert) for c in impact.control]
    assert control and sw not in control
    assert impact.ppl_original == pytest.approx(own_ppl(loaded, ids), rel=1e-4)
    assert impact.ppl_removed == pytest.approx(own_ppl(loaded, ids, [sw]), rel=1e-4)
    assert impact.ppl_control == pytest.approx(own_ppl(loaded, ids, control), rel=1e-4)
    assert impact.ppl_ratio > 10 * impact.control_ratio  # the plant matters, the control does not
    assert digest(loaded.model) == before


def test_one_batch_and_one_pass_per_condition_agree_also_for_weights_alone():
    """Two weights feeding one activation: the group, its control, and (each=True) each weight
    alone with its own control, all in one batch or one row per pass."""
    loaded = tiny_model("llama", layers=3)
    pair = [plant_super_weight(loaded, layer=1, row=9, col=33), plant_super_weight(loaded, layer=1, row=9, col=34)]
    teach_head(loaded, default_text(TOKENS))
    weights = find_super_weights(loaded, verify=False).super_weights
    assert sorted(w.coord for w in weights) == pair  # one group of two
    batched = verify_groups(loaded, weights, tokens=TOKENS, each=True)
    alone = {w.coord: dict(w.alone) for w in weights}
    single = verify_groups(loaded, weights, tokens=TOKENS, each=True, batch_size=1)
    (key, impact), = batched.items()
    s = single[key]
    assert (impact.ppl_original, impact.ppl_removed, impact.ppl_control) == pytest.approx(
        (s.ppl_original, s.ppl_removed, s.ppl_control), rel=1e-5)
    ids = loaded.encode(default_text(TOKENS))[0, :TOKENS]
    for w in weights:
        assert w.alone == pytest.approx(alone[w.coord], rel=1e-5)
        assert alone[w.coord]["ppl_ratio"] == pytest.approx(own_ppl(loaded, ids, [w.coord]) / own_ppl(loaded, ids), rel=1e-4)
