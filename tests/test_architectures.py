"""Every architecture record, and every feature on a tiny model of every architecture, dense and MoE.

Each tiny model gets a planted super weight (a dense down projection's, or one expert's); the
references are plain transformers: a deep copy with the weight zeroed in place, and our own loop
for the next-token loss.
"""

import copy
import dataclasses
import functools
import math

import pytest
import torch

from sw_core.arch import ARCHITECTURES, MOE_ARCHITECTURES, ArchAdapter, Mlp, Sublayers, adapter_for
from sw_core.detect import find_super_weights
from sw_core.edits import ActivationPin, Edit, applied, off
from sw_core.errors import UnsupportedArchitecture
from sw_core.scan import scan
from sw_core.testing import plant_expert_super_weight, plant_super_weight, tiny_model

ALL = sorted({**ARCHITECTURES, **MOE_ARCHITECTURES})
PROMPT = "Apple Inc. is a worldwide tech company."
TEXT = "Summer is hot. Winter is cold. The super weight keeps the model talking."

@functools.lru_cache(maxsize=None)
def planted(model_type: str):
    """(tiny model, its planted super weight at layer 1: a dense one, or expert 2's), built once per
    architecture: no feature writes the shared weights (the digests below check it)."""
    loaded = tiny_model(model_type, layers=3)
    if model_type in MOE_ARCHITECTURES:
        return loaded, plant_expert_super_weight(loaded, layer=1, expert=2, row=9, col=33)
    return loaded, plant_super_weight(loaded, layer=1, row=9, col=33)


def zeroed_copy(loaded, coord):
    """Plain transformers reference: a deep copy of the model with the weight set to 0 in place."""
    ref = copy.deepcopy(loaded.model)
    proj = loaded.layers[coord.layer]
    module = ref.get_submodule(proj.name)
    with torch.no_grad():
        if coord.expert is not None:
            module.down_proj[coord.expert, coord.row, coord.col] = 0.0
        elif proj.transposed:  # Conv1D stores [in, out]
            module.weight[coord.col, coord.row] = 0.0
        else:
            module.weight[coord.row, coord.col] = 0.0
    return ref


def own_ppl(model, ids) -> float:
    """exp(mean next-token NLL) of ids [1, T] from one plain forward pass."""
    with torch.no_grad():
        logits = model(input_ids=ids, use_cache=False).logits[0, :-1].float()
    return math.exp(torch.nn.functional.cross_entropy(logits, ids[0, 1:]).item())


# ---- the records ----

def _paths(adapter: ArchAdapter) -> list[str]:
    """Every module path a record names inside a block (None: the architecture has no such module)."""
    named = [getattr(adapter.mlp, f.name) for f in dataclasses.fields(Mlp) if f.type in ("str", "str | None")]
    named += [getattr(adapter.sublayers, f.name) for f in dataclasses.fields(Sublayers)]
    return [p for p in named if p is not None]


@pytest.mark.parametrize("model_type", ALL)
def test_every_record_has_every_field_and_every_path_exists(model_type):
    adapter = adapter_for(model_type)
    for f in dataclasses.fields(ArchAdapter):
        value = getattr(adapter, f.name)
        assert value is not None or f.name in ("experts", "router"), (model_type, f.name)
    moe = model_type in MOE_ARCHITECTURES
    assert (adapter.experts is not None) == (adapter.router is not None) == moe
    loaded = tiny_model(model_type, layers=2)
    assert loaded.model_type == model_type  # the tiny config is this architecture's own
    model = loaded.model
    assert adapter.final_norm_of(model) is not None
    for (name, block), proj in zip(adapter.blocks(model), loaded.layers):
        if adapter.moe_block(block) is not None:  # an expert layer: its experts and router, no dense MLP
            assert proj.name == f"{name}.{adapter.experts}" and proj.num_experts > 1
            assert adapter.router_of(block).weight.shape[0] == proj.num_experts
            continue
        for path in _paths(adapter):
            assert isinstance(block.get_submodule(path), torch.nn.Module), (model_type, path)
    # The final norm the record names is the one the model applies before its head.
    seen = {}
    norm = adapter.final_norm_of(model)
    head = model.get_output_embeddings()
    hooks = [norm.register_forward_hook(lambda m, a, o: seen.__setitem__("norm", o)),
             head.register_forward_pre_hook(lambda m, a: seen.__setitem__("head", a[0]))]
    with torch.no_grad():
        model(input_ids=loaded.encode("final norm"), use_cache=False)
    for h in hooks:
        h.remove()
    torch.testing.assert_close(seen["norm"], seen["head"])


def test_a_dense_layer_has_no_router():
    loaded = tiny_model("llama", layers=1)
    with pytest.raises(UnsupportedArchitecture, match="no router"):
        loaded.arch.router_of(loaded.arch.blocks(loaded.model)[0][1])


# ---- every feature on every architecture ----

@pytest.mark.parametrize("model_type", ALL)
def test_scan_detect_and_edit_match_a_zeroed_copy(model_type, digest):
    loaded, sw = planted(model_type)
    before = digest(loaded.model)
    spike = scan(loaded, PROMPT).layers[1]
    assert (spike.out_channel, spike.in_channel) == (sw.row, sw.col)
    assert find_super_weights(loaded, PROMPT, verify=False).coords() == [sw]
    ids = loaded.encode(PROMPT)
    ref = zeroed_copy(loaded, sw)
    with torch.no_grad():
        want = ref(input_ids=ids, use_cache=False).logits
        with applied(loaded, off(sw)):
            got = loaded.model(input_ids=ids, use_cache=False).logits
        plain = loaded.model(input_ids=ids, use_cache=False).logits
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    assert (got - plain).abs().max() > 1e-3  # the removal matters
    assert digest(loaded.model) == before


@pytest.mark.parametrize("model_type", ALL)
def test_verification_measures_the_zeroed_copys_perplexity(model_type):
    from sw_core.verify import verify_groups

    loaded, sw = planted(model_type)
    found = find_super_weights(loaded, PROMPT, verify=False).super_weights
    verify_groups(loaded, found, text=TEXT, tokens=16)
    impact = found[0].impact
    ids = loaded.encode(TEXT)[:, :16]
    assert impact.ppl_original == pytest.approx(own_ppl(loaded.model, ids), rel=1e-4)
    assert impact.ppl_removed == pytest.approx(own_ppl(zeroed_copy(loaded, sw), ids), rel=1e-4)


@pytest.mark.parametrize("model_type", ALL)
def test_restoring_the_activation_brings_the_spike_back(model_type):
    from sw_core.restore import restore_pins

    loaded, sw = planted(model_type)
    pins = restore_pins(loaded, [sw], prompt=PROMPT)
    assert [(p.layer, p.channel) for p in pins] == [(1, sw.row)]
    original = scan(loaded, PROMPT).layers[1].out_max
    removed = scan(loaded, PROMPT, edit=off(sw)).layers[1].out_max
    restored = scan(loaded, PROMPT, edit=Edit(off(sw).factors, tuple(pins))).layers[1].out_max
    assert removed < 0.2 * original
    assert restored == pytest.approx(original, rel=1e-5)
    pinned = Edit(off(sw).factors, (ActivationPin(1, sw.row, 0, value=3.0),))
    assert scan(loaded, PROMPT, edit=pinned, track_channel=sw.row).channel_trace[1][0] == pytest.approx(3.0)


@pytest.mark.parametrize("model_type", ALL)
def test_mechanism_explains_dense_weights_and_refuses_expert_weights_clearly(model_type):
    from sw_core.mechanism import explain

    loaded, sw = planted(model_type)
    if sw.expert is not None:
        with pytest.raises(UnsupportedArchitecture, match="Mixture-of-Experts"):
            explain(loaded, PROMPT, [sw], with_vocabulary=False)
        return
    m = explain(loaded, PROMPT, [sw], with_vocabulary=False)
    (p,) = m.pathway
    assert (p.layer, p.row, p.col) == (1, sw.row, sw.col)
    assert p.x_recomputed == pytest.approx(p.x, rel=1e-3, abs=1e-4)  # the factors rebuild the measured input


@pytest.mark.parametrize("model_type", ALL)
def test_screening_measures_the_zeroed_copys_perplexity(model_type):
    from sw_core.screening import Candidate, screen

    loaded, sw = planted(model_type)
    other = dataclasses.replace(sw, row=sw.row + 1)
    result = screen(loaded, [Candidate(sw, "planted"), Candidate(other, "neighbour")], text=TEXT, max_tokens=16)
    ids = loaded.encode(TEXT)[:, :16]
    by_weight = {r.weight: r for r in result.rows}
    assert result.baseline_ppl == pytest.approx(own_ppl(loaded.model, ids), rel=1e-4)
    assert by_weight[str(sw)].ppl == pytest.approx(own_ppl(zeroed_copy(loaded, sw), ids), rel=1e-4)
    assert by_weight[str(other)].ppl == pytest.approx(own_ppl(zeroed_copy(loaded, other), ids), rel=1e-4)


@pytest.mark.parametrize("model_type", ALL)
def test_quantization_keeps_the_planted_weight_when_aware(model_type, digest):
    from sw_core.quant import QuantSetting, quantized

    loaded, sw = planted(model_type)
    before = digest(loaded.model)
    naive = quantized(loaded, QuantSetting("rtn", bits=3, block=32), [sw])
    aware = quantized(loaded, QuantSetting("rtn", bits=3, block=32, aware=True), [sw])
    assert digest(loaded.model) == before
    assert aware.layers[1].value_at(sw) == loaded.layers[1].value_at(sw) == 50.0

    def row_of(q):  # the planted weight's row, [in]
        w = q.layers[1].dense_weight() if sw.expert is None else q.layers[1].expert_weight(sw.expert)
        return w[sw.row].detach().float()

    block = slice(32, 64)  # the planted column 33 is in this block
    err = lambda q: float((row_of(q)[block] - row_of(loaded)[block]).abs().sum())  # noqa: E731
    assert err(naive) > 3 * err(aware)  # naive: the planted weight stretches its block's step
    # 3-bit blocks of 32: every block of the quantized row holds at most 8 distinct values
    assert max(int(b.unique().numel()) for b in row_of(naive).reshape(-1, 32)) <= 8
