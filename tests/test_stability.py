"""cross_prompt_stability: every built-in prompt finds the embedded model's super weights, at token 0."""

import pytest

from sw_core.edits import Coord
from sw_core.errors import BadInput
from sw_core.builtin_prompts import builtin_prompts
from sw_core.testing import plant_super_weight, tiny_model
from sw_core.stability import cross_prompt_stability



def test_builtin_prompts_are_varied():
    ps = builtin_prompts()
    assert len(ps) >= 20
    assert len({p.text for p in ps}) == len(ps)
    assert any(p.add_bos for p in ps) and any(not p.add_bos for p in ps)
    assert any(not p.text.isascii() for p in ps)  # other scripts than Latin
    lengths = sorted(len(p.text) for p in ps)
    assert lengths[0] < 10 and lengths[-1] > 300


def test_every_builtin_prompt_agrees_on_the_embedded_model(embedded):
    seen = []
    v = cross_prompt_stability(embedded, ["A user prompt about cooking pasta."], progress=lambda d, t: seen.append((d, t)))
    n = len(builtin_prompts()) + 1
    assert len(v.prompts) == n and seen[-1] == (n, n)
    assert v.all_agree
    assert v.stable_coords() == [Coord(11, 507, 1229), Coord(11, 507, 1487)]
    assert all(c.fraction == 1.0 for c in v.coordinates)
    for p in v.prompts:
        assert p.activation_token == 0 and p.activation_channel == 507
        assert 1.0e4 < p.activation_value < 4.0e4
    assert {p.add_bos for p in v.prompts} >= {True, None}
    assert v.to_dict()["coordinates"][0]["fraction"] == 1.0


def test_stability_on_a_tiny_planted_model_and_bad_input():
    loaded = tiny_model("gpt_neox", layers=4, seed=7)
    c = plant_super_weight(loaded, seed=7)
    v = cross_prompt_stability(loaded, builtin=False, prompts=["first text here", "another, longer text to scan"])
    assert v.all_agree and v.stable_coords() == [c]
    with pytest.raises(BadInput):
        cross_prompt_stability(loaded, builtin=False)
    with pytest.raises(BadInput):
        cross_prompt_stability(loaded, ["ok", ""], builtin=False)
