"""sw_core.quant on tiny in-process models: each mode's defining property."""

import pytest
import torch

from sw_core.edits import Coord, applied, off
from sw_core.errors import BadInput
from sw_core.quant import QuantSetting, quantized, resolved_setting, super_weight_values
from sw_core.quant import rtn, w8a8
from sw_core.quant.targets import decoder_linears
from sw_core.testing import tiny_model


@pytest.fixture(scope="module")
def tiny():
    return tiny_model("llama", layers=2, seed=0)


def _ids(loaded):
    return loaded.encode("the super weight")


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("block", [32, 64, "row", "tensor"])
def test_rtn_error_is_at_most_half_a_step_per_block(bits, block):
    torch.manual_seed(bits)
    w = torch.randn(8, 128) * torch.rand(8, 1) * 3
    dq = rtn.fake_quantize(w, bits, block)
    steps = rtn.step_sizes(w, bits, block)
    size = rtn.block_size(block, *w.shape)
    err = (w - dq).abs().reshape(-1, size).amax(1)
    assert torch.all(err <= steps / 2 + 1e-6)
    # at most 2^bits distinct values per block
    per_block = dq.reshape(-1, size)
    assert max(len(torch.unique(r)) for r in per_block) <= 2**bits


def _reference_rtn(w, bits, block, clip_z=None, hold=()):
    """Plain per-row loop: each row cut into chunks of `block` (the last one shorter), asymmetric RTN."""
    out = w.clone()
    levels = 2**bits - 1
    for r in range(w.shape[0]):
        for start in range(0, w.shape[1], block):
            cols = [c for c in range(start, min(start + block, w.shape[1])) if (r, c) not in hold]
            chunk = w[r, cols]
            if clip_z is not None:
                mean, std = chunk.mean(), chunk.std(unbiased=False)
                chunk = chunk.clamp(mean - clip_z * std, mean + clip_z * std)
            lo, hi = chunk.min(), chunk.max()
            step = max(float(hi - lo) / levels, 1e-12)
            out[r, cols] = torch.clamp(torch.round((chunk - lo) / step), 0, levels) * step + lo
    return out


@pytest.mark.parametrize("block,clip_z", [(64, None), (128, 3.0), (512, 2.0)])
def test_ragged_last_block_matches_a_plain_loop(block, clip_z):
    torch.manual_seed(block)
    w = torch.randn(6, 576, dtype=torch.float64).float()  # 576 = the embedded model's width: 128 does not divide it
    w[3, 570] = 40.0  # an outlier in a row's short last block
    hold = {(3, 570)}
    mask = torch.zeros_like(w, dtype=torch.bool)
    mask[3, 570] = True
    for h, m in ((set(), None), (hold, mask)):
        got = rtn.fake_quantize(w, 3, block, clip_z=clip_z, hold_out=m)
        assert got.shape == w.shape
        assert torch.allclose(got, _reference_rtn(w, 3, block, clip_z, h), atol=1e-5)
    # the short last block has its own step: the outlier there does not touch the first block's grid
    assert rtn.step_sizes(w, 3, block).numel() == 6 * -(-576 // block)


def test_held_out_weight_is_exact_and_out_of_the_statistics():
    torch.manual_seed(0)
    w = torch.randn(4, 64) * 0.1
    w[2, 17] = 50.0  # a planted super weight
    mask = torch.zeros_like(w, dtype=torch.bool)
    mask[2, 17] = True
    naive = rtn.fake_quantize(w, 4, 32)
    aware = rtn.fake_quantize(w, 4, 32, hold_out=mask)
    assert aware[2, 17] == w[2, 17]
    # its block's step no longer stretches to 50: the other weights of the block get 4-bit precision
    others = torch.ones(32, dtype=torch.bool)
    others[17] = False
    err_naive = (naive[2, :32] - w[2, :32])[others].abs().max()
    err_aware = (aware[2, :32] - w[2, :32])[others].abs().max()
    step_aware = rtn.step_sizes(w, 4, 32, hold_out=mask).reshape(4, 2)[2, 0]
    assert err_aware <= step_aware / 2 + 1e-7
    assert err_naive > 10 * err_aware
    # clipping without holding out destroys the outlier; holding out keeps it
    assert rtn.fake_quantize(w, 4, 32, clip_z=3)[2, 17] < 0.6 * 50  # its own std sets its clip
    assert rtn.fake_quantize(w, 4, 32, clip_z=3, hold_out=mask)[2, 17] == 50.0


def test_bad_bits_and_blocks_say_what_to_do(tiny):
    for bits in (1, 9, 4.0, True):
        with pytest.raises(BadInput, match="bits"):
            QuantSetting("rtn", bits=bits)
    for block in (48, 100, 1, 1 << 17):
        with pytest.raises(BadInput, match="power of two"):
            QuantSetting("rtn", block=block)
    with pytest.raises(BadInput, match="mode"):
        QuantSetting("int3")
    with pytest.raises(BadInput, match="granularity"):
        QuantSetting("w8a8", granularity="channel")


def test_rtn_gives_a_new_model_and_leaves_the_shared_one_alone(tiny, digest):
    before = digest(tiny.model)
    sw = Coord(1, 5, 7)
    q = quantized(tiny, QuantSetting("rtn", bits=3, block=32, aware=True), [sw])
    assert q.model is not tiny.model and digest(tiny.model) == before
    # every decoder linear is quantized (<= 8 levels per block of 32); the held-out weight is exact
    for t in decoder_linears(q.model, q.layers):
        blocks = t.weight_view().reshape(-1, 32)
        assert max(len(torch.unique(b)) for b in blocks[:8]) <= 8, t.name
    [v] = super_weight_values(q, [sw], tiny)
    assert v.quantized == v.original
    # embeddings and norms are shared, not copied
    assert q.model.get_input_embeddings().weight is tiny.model.get_input_embeddings().weight
    # edits work on the copy, and only there
    with torch.no_grad():
        base = q.model(_ids(q)).logits
        with applied(q, off(Coord(1, 5, 7))):
            edited = q.model(_ids(q)).logits
        assert not torch.equal(base, edited)
        assert torch.equal(base, q.model(_ids(q)).logits)


def test_clip_search_picks_a_z_from_the_grid(tiny):
    setting = QuantSetting("rtn", bits=3, block=32, clip_z="search")
    text = "a short calibration text for the search"
    chosen = resolved_setting(tiny, setting, [], text)
    assert chosen.clip_z in rtn.Z_GRID and chosen == QuantSetting("rtn", bits=3, block=32, clip_z=chosen.clip_z)
    searched, fixed = quantized(tiny, setting, [], calibration=text), quantized(tiny, chosen, [])
    w = lambda q: q.layers[0].dense_weight()  # noqa: E731 - the search quantizes with the z it reports
    assert torch.equal(w(searched), w(fixed)) and f"clip z={chosen.clip_z:g}" in searched.source


def test_clip_search_errors_equal_a_plain_loop_per_z(tiny):
    """Each z's summed relative output error ||x (W - Q_z(W))^T||^2 / ||x W^T||^2, computed from scratch."""
    from sw_core.quant import calibration_inputs

    setting = QuantSetting("rtn", bits=3, block=32, clip_z="search")
    targets = decoder_linears(tiny.model, tiny.layers)
    inputs = calibration_inputs(tiny, "a short calibration text for the search", targets)
    best, errors = rtn.search_clip_z(targets, setting, {}, inputs)
    for z in rtn.Z_GRID:
        plain = 0.0
        for t in targets:
            x, w = inputs[t.name].float(), t.weight_view().float()
            dq = rtn.fake_quantize(w, 3, 32, clip_z=z)
            plain += float(((x @ (w - dq).t()) ** 2).sum() / ((x @ w.t()) ** 2).sum())
        assert errors[z] == pytest.approx(plain, rel=1e-6)
    assert errors[best] == min(errors.values()) and len(set(errors.values())) > 1


def test_w8a8_per_token_vs_per_tensor_scales():
    x = torch.tensor([[[0.01, -0.02, 0.03, 0.015], [100.0, -50.0, 20.0, 10.0]]])  # [1, 2 tokens, 4]
    per_tensor = w8a8.int8_activation(x, "tensor")
    per_token = w8a8.int8_activation(x, "token")
    # one scale (100/127) for everything flattens the small token to zeros; per-token keeps it
    assert torch.all(per_tensor[0, 0] == 0)
    assert torch.allclose(per_token[0, 0], x[0, 0], rtol=0.02)
    assert len(torch.unique(per_token[0, 0].abs() / x[0, 0].abs().max() * 127).round()) >= 3


def test_w8a8_held_channel_is_restored_and_frees_the_scale():
    torch.manual_seed(0)
    x = torch.randn(1, 6, 32) * 0.5
    x[0, 0, 9] = 3000.0  # a super activation
    naive = w8a8.int8_activation(x, "tensor")
    aware = w8a8.int8_activation(x, "tensor", hold=[9])
    assert aware[0, 0, 9] == 3000.0
    rest = torch.ones(32, dtype=torch.bool)
    rest[9] = False
    assert (aware - x)[..., rest].abs().max() < (x.abs()[..., rest].max() / 127)
    assert (naive - x)[..., rest].abs().max() > 10 * (aware - x)[..., rest].abs().max()


def test_w8a8_hooks_live_only_on_the_copy(tiny, digest):
    ids = _ids(tiny)
    with torch.no_grad():
        before = tiny.model(ids).logits
        q = quantized(tiny, QuantSetting("w8a8", granularity="token"), [])
        after_q = q.model(ids).logits
        assert torch.equal(tiny.model(ids).logits, before)
    assert not torch.equal(after_q, before)
    assert torch.allclose(after_q, before, atol=0.05 * before.abs().max())
    # INT8 per-channel weights: at most 255 levels per output row
    t = decoder_linears(q.model, q.layers)[0]
    assert max(len(torch.unique(r)) for r in t.weight_view()) <= 255


def test_bitsandbytes_modules_present_after_loading(tiny):
    import bitsandbytes as bnb

    sw = Coord(1, 3, 4)
    q8 = quantized(tiny, QuantSetting("bnb-int8"), [sw])
    assert isinstance(q8.layers[0].module, bnb.nn.Linear8bitLt)
    q4 = quantized(tiny, QuantSetting("bnb-nf4", skip_super_layers=True), [sw])
    assert isinstance(q4.layers[0].module, bnb.nn.Linear4bit)
    assert type(q4.layers[1].module) is torch.nn.Linear  # the super weight's layer was skipped
    with torch.no_grad():
        for q in (q8, q4):
            assert torch.isfinite(q.model(_ids(q)).logits).all()
    [v] = super_weight_values(q4, [sw], tiny)
    assert v.quantized == v.original
