"""Mixture-of-Experts models (tiny, in-process, fp32): a super weight planted in one expert's down
projection is found at (layer, expert, row, col); the scan sees routed tokens only; edits equal a
direct edit of the fused expert parameter on a deep copy; the shared weights are never written."""

import copy
import inspect

import pytest
import torch

from sw_core.detect import find_super_weights
from sw_core.edits import Coord, Edit, applied, off, scaled
from sw_core.errors import BadInput
from sw_core.scan import scan
from sw_core.testing import EXPERTS, TINY_MOE_TYPES, plant_expert_super_weight, tiny_model

PROMPT = "Apple Inc. is a worldwide tech company."


def detect(loaded):
    """The detector without an impact verification stage (a random tiny model has no trained head)."""
    kw = {"verify": False} if "verify" in inspect.signature(find_super_weights).parameters else {}
    return find_super_weights(loaded, **kw)


@pytest.mark.parametrize("model_type", TINY_MOE_TYPES)
def test_a_planted_expert_super_weight_is_found_exactly(model_type):
    loaded = tiny_model(model_type, layers=3)
    assert loaded.layers[1].num_experts == EXPERTS
    assert detect(loaded).super_weights == []  # unplanted: nothing
    planted = plant_expert_super_weight(loaded, layer=1, expert=2, row=9, col=33)
    found = detect(loaded)
    assert found.coords() == [planted] == [Coord(1, 9, 33, 2)]
    sw = found.super_weights[0]
    assert sw.expert == 2 and sw.value == 50.0 and sw.activation.token == 0 and sw.activation.channel == 9
    assert str(sw.coord) == "layer 1 expert 2 [9, 33]"


def test_a_model_with_dense_and_expert_layers_reports_both_kinds():
    """DeepSeek-V3: layer 0 has a dense MLP, the others experts (and a shared expert)."""
    from sw_core.testing import plant_super_weight

    loaded = tiny_model("deepseek_v3", layers=6)  # two spikes: the median layer must stay quiet
    assert [p.num_experts for p in loaded.layers] == [0] + [EXPERTS] * 5
    dense = plant_super_weight(loaded, layer=0, row=5, col=100)
    expert = plant_expert_super_weight(loaded, layer=2, expert=1, row=40, col=7)
    assert detect(loaded).coords() == [dense, expert] == [Coord(0, 5, 100), Coord(2, 40, 7, 1)]


def _reference_routed(model, layer: int, ids):
    """Own loop: the routing the model chose (captured from its router), then per expert its
    down projection's input on its routed tokens only, from the raw fused parameters."""
    block = model.model.layers[layer].mlp
    got = {}
    h1 = block.gate.register_forward_pre_hook(lambda m, a: got.__setitem__("h", a[0].reshape(-1, a[0].shape[-1])))
    h2 = block.gate.register_forward_hook(lambda m, a, o: got.__setitem__("route", (o[1], o[2])))
    with torch.no_grad():
        model(input_ids=ids, use_cache=False)
    h1.remove(), h2.remove()
    weights, index = got["route"]
    ex = block.experts
    inter = ex.down_proj.shape[2]
    out = {}
    for e in range(ex.down_proj.shape[0]):
        tokens, slot = (index == e).nonzero(as_tuple=True)
        if len(tokens) == 0:
            continue
        h = got["h"][tokens]
        x = ex.act_fn(h @ ex.gate_up_proj[e, :inter].T) * (h @ ex.gate_up_proj[e, inter:].T)
        y = weights[tokens, slot][:, None] * (x @ ex.down_proj[e].T)
        out[e] = (tokens, x, y)
    return out


@pytest.mark.parametrize("model_type", ["mixtral", "qwen2_moe"])
def test_the_scan_sees_each_expert_on_its_routed_tokens_at_their_prompt_positions(model_type):
    loaded = tiny_model(model_type, layers=2, seed=1)
    ids = loaded.encode(PROMPT)
    ref = _reference_routed(loaded.model, 1, ids)
    st = scan(loaded, PROMPT).layers[1]
    assert 1 < len(ref) <= EXPERTS
    want = [float(ref[e][2].abs().max()) if e in ref else 0.0 for e in range(EXPERTS)]
    assert st.expert_out_max == pytest.approx(want, rel=1e-4)
    e, (tokens, x, _) = max(ref.items(), key=lambda kv: float(kv[1][1].abs().max()))
    flat = int(x.abs().argmax())
    assert (st.in_expert, st.in_token, st.in_channel) == (e, int(tokens[flat // x.shape[1]]), flat % x.shape[1])
    assert st.in_max == pytest.approx(float(x.abs().max()), rel=1e-5)


def _logits(model, ids, loaded=None, edit=None):
    """Logits of `model`; with `loaded`, through the shared model with `edit` applied."""
    if loaded is None:
        with torch.no_grad():
            return model(input_ids=ids, use_cache=False).logits
    with torch.no_grad(), applied(loaded, edit):
        return loaded.model(input_ids=ids, use_cache=False).logits


@pytest.mark.parametrize("model_type", ["mixtral", "olmoe", "qwen3_moe", "deepseek_v3"])
def test_an_expert_edit_equals_a_direct_edit_of_the_fused_parameter(model_type, digest):
    loaded = tiny_model(model_type, layers=3)
    sw = plant_expert_super_weight(loaded, layer=1, expert=2, row=9, col=33)
    other = Coord(2, 5, 7, 3)  # a weight of another layer and expert
    ids = loaded.encode(PROMPT)
    before = digest(loaded.model)
    base = _logits(None, ids, loaded)
    for factors in ({sw: 0.0}, {sw: 2.0, other: 0.0}, {Coord(1, 9, 33, 1): 0.0}):
        ref = copy.deepcopy(loaded.model)
        with torch.no_grad():
            for c, f in factors.items():
                ref.model.layers[c.layer].mlp.experts.down_proj[c.expert, c.row, c.col] *= f
        want = _logits(ref, ids)
        got = _logits(None, ids, loaded, Edit.of(factors))
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    assert (_logits(None, ids, loaded, off(sw)) - base).abs().max() > 0.1  # the edit matters
    assert digest(loaded.model) == before  # the shared weights were never written
    assert torch.equal(_logits(None, ids, loaded), base)


def test_the_planted_spike_is_gone_with_the_weight_off_and_doubled_when_scaled():
    loaded = tiny_model("qwen2_moe", layers=3)
    sw = plant_expert_super_weight(loaded, layer=1, expert=0, row=4, col=10)
    on = scan(loaded, PROMPT).layers[1]
    assert (on.out_token, on.out_channel, on.expert) == (0, 4, 0)
    assert scan(loaded, PROMPT, edit=off(sw)).layers[1].out_max < 0.05 * on.out_max
    doubled = scan(loaded, PROMPT, edit=scaled([sw], 2.0)).layers[1]
    assert doubled.out_value == pytest.approx(2 * on.out_value, rel=0.02)


@pytest.mark.parametrize("coord, message", [
    (Coord(1, 9, 33), "say which expert"),
    (Coord(1, 9, 33, EXPERTS), f"Expert {EXPERTS} is out of range"),
    (Coord(1, 9, 64, 0), "Column 64"),
])
def test_bad_expert_coordinates_are_refused(coord, message):
    loaded = tiny_model("mixtral", layers=2)
    with pytest.raises(BadInput, match=message):
        with applied(loaded, off(coord)):
            pass


def test_an_expert_index_on_a_dense_model_is_refused():
    with pytest.raises(BadInput, match="no experts"):
        with applied(tiny_model("llama", layers=2), off(Coord(1, 2, 3, 0))):
            pass


def test_coord_orders_dense_first_then_by_expert_and_keeps_its_string():
    coords = [Coord(1, 0, 0, 2), Coord(1, 5, 5), Coord(0, 9, 9, 3), Coord(1, 0, 1, 0)]
    assert sorted(coords) == [Coord(0, 9, 9, 3), Coord(1, 5, 5), Coord(1, 0, 1, 0), Coord(1, 0, 0, 2)]
    assert str(Coord(11, 507, 1229)) == "layer 11 [507, 1229]"
    assert str(Coord(3, 1, 2, 5)) == "layer 3 expert 5 [1, 2]"
    assert Coord(1, 2, 3) != Coord(1, 2, 3, 0) and Coord(1, 2, 3) == Coord(1, 2, 3, None)
    assert Coord(1, 2, 3).to_dict() == {"layer": 1, "row": 2, "col": 3}  # dense JSON unchanged
    assert Coord(1, 2, 3, 4).to_dict() == {"layer": 1, "row": 2, "col": 3, "expert": 4}


def _own_rtn(w: torch.Tensor, bits: int, block: int, keep: torch.Tensor | None = None) -> torch.Tensor:
    """Reference asymmetric min-max RTN of [out, in] in blocks along `in`; `keep` (bool mask)
    held out of each block's min / max and restored."""
    x = w.reshape(-1, block)
    k = torch.zeros_like(x, dtype=torch.bool) if keep is None else keep.reshape(-1, block)
    out = torch.empty_like(x)
    for i in range(x.shape[0]):
        vals = x[i][~k[i]]
        lo, hi = vals.min(), vals.max()
        d = (hi - lo) / (2**bits - 1)
        out[i] = torch.where(k[i], x[i], torch.round((x[i] - lo) / d).clamp(0, 2**bits - 1) * d + lo)
    return out.reshape(w.shape)


def test_rtn_quantizes_every_expert_and_keeps_the_planted_weight_when_aware(digest):
    from sw_core.quant import QuantSetting, quantized, super_weight_values

    loaded = tiny_model("mixtral", layers=3)  # three: the detector's spike is relative to the median layer
    sw = plant_expert_super_weight(loaded, layer=1, expert=2, row=9, col=33)
    before = digest(loaded.model)
    original = loaded.layers[1].module.down_proj.detach().clone()
    naive = quantized(loaded, QuantSetting("rtn", bits=3, block=32), [sw])
    aware = quantized(loaded, QuantSetting("rtn", bits=3, block=32, aware=True), [sw])
    assert digest(loaded.model) == before  # the shared model keeps its weights
    for e in (0, 3):  # unplanted experts: plain RTN of their own matrices, in both copies
        want = _own_rtn(original[e], 3, 32)
        torch.testing.assert_close(naive.layers[1].expert_weight(e), want, rtol=0, atol=1e-6)
        torch.testing.assert_close(aware.layers[1].expert_weight(e), want, rtol=0, atol=1e-6)
    gate_up = naive.layers[0].module.gate_up_proj[1]
    torch.testing.assert_close(gate_up, _own_rtn(loaded.layers[0].module.gate_up_proj[1], 3, 32), rtol=0, atol=1e-6)
    keep = torch.zeros_like(original[2], dtype=torch.bool)
    keep[9, 33] = True
    torch.testing.assert_close(aware.layers[1].expert_weight(2), _own_rtn(original[2], 3, 32, keep), rtol=0, atol=1e-6)
    assert aware.layers[1].value_at(sw) == 50.0
    # Naive: the super weight stretches its block's step, so its neighbours all collapse.
    block = slice(32, 64)
    err = lambda q: float((q.layers[1].expert_weight(2)[9, block] - original[2, 9, block]).abs().sum())  # noqa: E731
    assert err(naive) > 5 * err(aware)  # measured: 15x at 3 bits
    (value,) = super_weight_values(aware, [sw], loaded)
    assert value.original == value.quantized == 50.0
    eight = quantized(loaded, QuantSetting("rtn", bits=8, block=32, aware=True), [sw])
    assert detect(eight).coords() == [sw]  # the quantized copy's experts are scanned too


def test_a_token_pin_in_a_batch_pins_that_token_of_every_sequence():
    """The experts see [batch x tokens, hidden]: a pin at token 1 must land on token 1 of each
    sequence. Reference: the pinned channel of the experts' output, read by an own hook."""
    from sw_core.edits import ActivationPin

    loaded = tiny_model("olmoe", layers=2)
    ids = loaded.encode("two rows of the same").repeat(2, 1)
    seen = []
    h = loaded.layers[1].module.register_forward_hook(lambda m, a, o: seen.append(o.reshape(2, -1, o.shape[-1])[..., 7].clone()))
    try:
        _logits(None, ids, loaded, Edit.of({}, [ActivationPin(1, 7, 1, value=123.0)]))
    finally:
        h.remove()
    (y,) = seen
    assert torch.equal(y[:, 1], torch.full((2,), 123.0)) and (y[:, [0, 2]] != 123.0).all()


def test_perplexity_with_an_expert_weight_off_equals_a_direct_edit():
    """Impact: perplexity in batched windows with the planted expert weight off, against an own
    loop over the same disjoint windows on a deep copy whose fused parameter was zeroed there."""
    import math

    from sw_core.metrics.perplexity import perplexity

    loaded = tiny_model("qwen2_moe", layers=3)
    sw = plant_expert_super_weight(loaded, layer=1, expert=1, row=3, col=20)
    text = "Super weights are few, yet removing one ruins a model. " * 2
    ids = loaded.encode(text)
    ref = copy.deepcopy(loaded.model)
    with torch.no_grad():
        ref.model.layers[1].mlp.experts.down_proj[1, 3, 20] = 0.0
    nll = []
    for begin in range(0, ids.shape[1], 16):
        chunk = ids[:, begin:begin + 16]
        if chunk.shape[1] < 2:
            continue
        logp = torch.log_softmax(_logits(ref, chunk)[0, :-1].double(), -1)
        nll += (-logp.gather(1, chunk[0, 1:, None])).squeeze(1).tolist()
    want = math.exp(sum(nll) / len(nll))
    got = perplexity(loaded, text, window=16, stride=16, edit=off(sw), batch_size=4)
    assert got == pytest.approx(want, rel=1e-4)
    assert perplexity(loaded, text, window=16, stride=16, batch_size=4) != pytest.approx(want, rel=1e-3)


def test_the_control_turns_off_the_largest_other_weights_of_the_same_expert():
    from sw_core.metrics.control import largest_other_weights

    loaded = tiny_model("olmoe", layers=2)
    sw = plant_expert_super_weight(loaded, layer=1, expert=3, row=2, col=5)
    got = largest_other_weights(loaded, [sw], k=10)
    w = loaded.layers[1].module.down_proj[3].abs().clone()  # own reference: that expert's matrix
    w[2, 5] = -1
    want = {Coord(1, int(i) // w.shape[1], int(i) % w.shape[1], 3) for i in w.flatten().topk(10).indices}
    assert set(got) == want and sw not in got
    assert len(largest_other_weights(loaded, [sw], k=3, scope="all")) == 3 * EXPERTS * 2


def test_a_recorder_of_dense_down_projections_is_refused_on_an_expert_layer():
    """Nothing records silently nothing: a recorder that reads dense down projections only says so."""
    from sw_core.errors import UnsupportedArchitecture
    from sw_core.forward import forward
    from sw_core.hooks import Recorder

    class DenseOnly(Recorder):
        def on_down_proj(self, layer, x, y):
            pass

    loaded = tiny_model("mixtral", layers=2)
    with pytest.raises(UnsupportedArchitecture, match="Mixture-of-Experts"):
        forward(loaded, loaded.encode(PROMPT), record=DenseOnly(), head=False)


def test_the_mechanism_tap_reads_the_experts_output_of_an_expert_layer():
    """Reference: the experts module's output, read by an own hook, at the planted row."""
    from sw_core.mechanism.recording import record_pass

    loaded = tiny_model("olmoe", layers=3)
    sw = plant_expert_super_weight(loaded, layer=1, expert=2, row=9, col=33)
    ids = loaded.encode(PROMPT)
    seen = []
    h = loaded.layers[1].module.register_forward_hook(lambda m, a, o: seen.append(o[:, 9].clone()) and None)
    try:
        rec = record_pass(loaded, ids, None, channel=9, token=0, trace=(1, 9))
    finally:
        h.remove()
    torch.testing.assert_close(rec.trace, seen[0])
    assert float(rec.y[1][9]) == pytest.approx(float(seen[0][0])) and abs(float(seen[0][0])) > 10
    assert 1 not in rec.x  # no single down projection's input on an expert layer
    del sw
