"""The per-architecture adapters: every layer's down projection viewed as [out, in], the decoder
stack, the MLP parts, and a scan + edit round trip on a tiny model of every architecture."""

import copy

import pytest
import torch

from sw_core.arch import adapter_for, down_projections
from sw_core.edits import Coord, Edit, off, scaled
from sw_core.errors import UnsupportedArchitecture
from sw_core.quant.private import private_copy
from sw_core.scan import scan
from sw_core.testing import HIDDEN, INTER, TINY_TYPES, plant_super_weight, tiny_model


@pytest.mark.parametrize("model_type", TINY_TYPES)
def test_adapter_finds_every_layer(model_type):
    loaded = tiny_model(model_type, layers=3)
    projs = down_projections(loaded.model)
    assert [p.layer for p in projs] == [0, 1, 2]
    modules = dict(loaded.model.named_modules())
    for p in projs:
        assert modules[p.name] is p.module
        assert tuple(p.weight_view().shape) == (HIDDEN, INTER)
        assert (p.out_features, p.in_features) == (HIDDEN, INTER)


@pytest.mark.parametrize("model_type", ["gpt2", "llama", "gpt_neox", "opt", "phi3"])
def test_view_matches_module_behaviour(model_type):
    """A one-hot input at column c moves exactly the outputs W[:, c]; a planted W[r, c] moves row r."""
    proj = tiny_model(model_type, layers=2).layers[1]
    r, c = 17, 201
    with torch.no_grad():
        proj.weight_view()[r, c] = 1000.0  # the view writes through to the stored weight
        x = torch.zeros(1, 1, INTER)
        base = proj.module(x)
        x[..., c] = 1.0
        moved = (proj.module(x) - base).reshape(-1)
    assert int(moved.abs().argmax()) == r
    torch.testing.assert_close(moved, proj.weight_view()[:, c])


def test_gpt2_view_is_transposed_storage():
    proj = tiny_model("gpt2", layers=1).layers[0]
    assert proj.transposed
    assert tuple(proj.module.weight.shape) == (INTER, HIDDEN)  # Conv1D stores [in, out]
    assert proj.weight_view().data_ptr() == proj.module.weight.data_ptr()  # a view, not a copy


def test_unsupported_architecture_names_it_and_lists_supported():
    with pytest.raises(UnsupportedArchitecture) as err:
        adapter_for("bloom")
    message = str(err.value)
    assert "'bloom'" in message
    for supported in ("llama", "gpt2", "gpt_neox", "opt", "phi3"):
        assert supported in message


def _reference_down_maxima(model, names, factors: dict, ids):
    """Independent reference: a deep copy with the weights edited in place, own hooks, own loop:
    per layer (max |y|, its output channel, max |x|, its input channel) of the down projections."""
    ref = copy.deepcopy(model)
    mods = dict(ref.named_modules())
    with torch.no_grad():
        for (name, transposed, r, c), f in factors.items():
            w = mods[name].weight
            if transposed:
                w[c, r] *= f
            else:
                w[r, c] *= f
    seen = []

    def grab(module, inputs, output):
        x = inputs[0].reshape(-1, inputs[0].shape[-1]).abs()  # OPT feeds its MLP [tokens, channels]
        y = output.reshape(-1, output.shape[-1]).abs()
        seen.append((y.max().item(), int(y.max(0).values.argmax()), x.max().item(), int(x.max(0).values.argmax())))

    handles = [mods[n].register_forward_hook(grab) for n in names]
    with torch.no_grad():
        ref(input_ids=ids, use_cache=False)
    for h in handles:
        h.remove()
    return seen


@pytest.mark.parametrize("model_type", TINY_TYPES)
def test_planted_weight_scan_and_edit_match_a_direct_weight_edit(model_type):
    """On every architecture: the scan finds a planted super weight, and a scan with a hook edit
    equals the same statistics of a deep copy whose weights were edited in place."""
    loaded = tiny_model(model_type, layers=3)
    sw = plant_super_weight(loaded, layer=1, row=9, col=33)
    ids = loaded.encode("super weights in a tiny model")
    names = [p.name for p in loaded.layers]
    key = (names[1], loaded.layers[1].transposed, sw.row, sw.col)
    for edit, factors in ((Edit(), {}), (off(sw), {key: 0.0}), (scaled([sw], 2.0), {key: 2.0})):
        got = scan(loaded, "super weights in a tiny model", edit=edit)
        want = _reference_down_maxima(loaded.model, names, factors, ids)
        for st, (y_max, y_ch, x_max, x_ch) in zip(got.layers, want):
            assert st.out_max == pytest.approx(y_max, rel=1e-4, abs=1e-5)
            assert st.in_max == pytest.approx(x_max, rel=1e-4, abs=1e-5)
            assert (st.out_channel, st.in_channel) == (y_ch, x_ch)
        if not factors:
            spike = got.layers[1]
            assert (spike.out_channel, spike.in_channel) == (sw.row, sw.col)
            assert spike.out_max > 10 * max(st.out_max for st in got.layers[:1])


@pytest.mark.parametrize("model_type", TINY_TYPES)
def test_mlp_parts_give_the_down_projections_input(model_type):
    """act(gate(h)) * up(h) (or act(fc1(h))) from the adapter's MLP parts equals what the down
    projection receives in a real forward pass."""
    loaded = tiny_model(model_type, layers=2)
    _, block = loaded.arch.blocks(loaded.model)[1]
    parts = loaded.arch.mlp_parts(block)
    assert parts.down is loaded.layers[1].module
    got = {}
    hooks = [parts.first.register_forward_pre_hook(lambda m, a: got.__setitem__("h", a[0])),
             parts.down.register_forward_pre_hook(lambda m, a: got.__setitem__("x", a[0]))]
    with torch.no_grad():
        loaded.model(input_ids=loaded.encode("mlp parts"), use_cache=False)
        a, u = parts.factors(got["h"])
    for h in hooks:
        h.remove()
    torch.testing.assert_close(a if u is None else a * u, got["x"], rtol=1e-5, atol=1e-6)
    assert (u is None) == (model_type in ("gpt2", "gpt_neox", "opt"))


@pytest.mark.parametrize("model_type", ["llama", "gpt2", "gemma3"])
def test_the_scan_stops_before_the_lm_head(model_type):
    loaded = tiny_model(model_type, layers=2)
    head = loaded.model.get_output_embeddings()
    calls = []
    h = head.register_forward_hook(lambda *a: calls.append(1))
    try:
        scan(loaded, "no logits needed")
        assert calls == []
        with torch.no_grad():
            loaded.model(input_ids=loaded.encode("a plain forward"))
        assert calls == [1]
    finally:
        h.remove()


def test_a_deep_copy_edits_its_own_weights():
    """Hooks read the weight of the module they fire on: on a private copy with a changed weight,
    a hook edit scales the copy's weight, not the original's, and the original is untouched."""
    loaded = tiny_model("llama", layers=2)
    sw = plant_super_weight(loaded, layer=1, row=4, col=10)
    proj = loaded.layers[1]
    changed = proj.weight_view().detach().clone()
    changed[sw.row, sw.col] = -3 * changed[sw.row, sw.col]
    twin = private_copy(loaded, {proj.name: changed}, "test")
    assert twin.layers[1].module is not proj.module
    assert len(twin.layers[1].module._forward_hooks) == len(proj.module._forward_hooks) == 1
    names = [p.name for p in loaded.layers]
    ids = twin.encode("copied hooks")
    want = _reference_down_maxima(twin.model, names, {(names[1], False, sw.row, sw.col): 0.5}, ids)
    got = scan(twin, "copied hooks", edit=scaled([sw], 0.5))
    assert [st.out_max for st in got.layers] == pytest.approx([w[0] for w in want], rel=1e-5)
    assert scan(loaded, "copied hooks").layers[1].out_value > 0 > scan(twin, "copied hooks").layers[1].out_value


def test_linear_targets_read_offloaded_weights_not_meta(tmp_path, embedded):
    """Under a device map with a layer offloaded to disk, every decoder linear's weight view is
    the real offloaded tensor (what quantization reads), never a 'meta' placeholder."""
    from sw_core.loading import load
    from sw_core.quant.targets import decoder_linears

    tiny = tiny_model("llama", layers=2)
    tiny.model.save_pretrained(tmp_path)
    embedded.tokenizer.save_pretrained(tmp_path)
    dm = {"model.embed_tokens": "cpu", "model.rotary_emb": "cpu", "model.layers.0": "cpu",
          "model.layers.1": "disk", "model.norm": "cpu", "lm_head": "cpu"}
    sharded = load(str(tmp_path), device_map=dm, dtype="float32")
    offloaded = [t for t in decoder_linears(sharded.model) if t.module.weight.is_meta]
    assert offloaded, "the test needs a layer whose parameters accelerate keeps on 'meta'"
    mine = {t.name: t for t in decoder_linears(tiny.model)}
    for t in decoder_linears(sharded.model):
        assert not t.weight_view().is_meta
        torch.testing.assert_close(t.weight_view().cpu(), mine[t.name].weight_view())
