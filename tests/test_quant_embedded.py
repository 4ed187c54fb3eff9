"""sw_core.quant on the embedded SmolLM2-135M: super weights after each mode; aware beats naive."""

import pytest

from sw_core.detect import find_super_weights
from sw_core.metrics import perplexity
from sw_core.quant import QuantSetting as Q
from sw_core.quant import quantized, super_weight_values
from sw_core.texts import text


@pytest.fixture(scope="module")
def detection(embedded):
    d = find_super_weights(embedded)
    assert {(c.layer, c.row, c.col) for c in d.coords()} >= {(11, 507, 1229), (11, 507, 1487)}
    return d


@pytest.fixture(scope="module")
def short_text():
    return text("britannica", max_chars=600)


@pytest.fixture(scope="module")
def fp_ppl(embedded, short_text):
    return perplexity(embedded, short_text)


def _run(embedded, setting, detection, short_text):
    q = quantized(embedded, setting, detection)
    return perplexity(q, short_text), super_weight_values(q, detection, embedded)


def test_int4_block32_is_near_lossless_on_a_q4_1_model(embedded, detection, short_text, fp_ppl, digest):
    # The embedded weights were published as Q4_1 (4-bit, blocks of 32, min + step): RTN at the
    # same grid finds the same levels again.
    before = digest(embedded.model)
    ppl, values = _run(embedded, Q("rtn", bits=4, block=32), detection, short_text)
    assert abs(ppl / fp_ppl - 1) < 0.01
    assert all(abs(v.quantized - v.original) < 0.01 for v in values)
    assert digest(embedded.model) == before


def test_clipping_without_holding_out_the_super_weights_wrecks_the_model(embedded, detection, short_text, fp_ppl):
    naive_ppl, naive = _run(embedded, Q("rtn", block=512, clip_z=3, modules="mlp.down_proj"), detection, short_text)
    aware_ppl, aware = _run(embedded, Q("rtn", block=512, clip_z=3, modules="mlp.down_proj", aware=True),
                            detection, short_text)
    assert all(v.quantized < 0.5 * v.original for v in naive)  # clipped to mean + 3 std
    assert all(v.quantized == v.original for v in aware)  # held out, restored exactly
    assert naive_ppl > 1.5 * aware_ppl  # measured ~3x on this text
    assert aware_ppl > fp_ppl  # still a 4-bit model


def test_w8a8_super_activation_aware_beats_naive(embedded, detection, short_text, fp_ppl):
    where = "layers.11.mlp.down_proj"
    naive_ppl, naive = _run(embedded, Q("w8a8", modules=where), detection, short_text)
    aware_ppl, _ = _run(embedded, Q("w8a8", modules=where, aware=True), detection, short_text)
    assert aware_ppl < naive_ppl
    assert abs(aware_ppl / fp_ppl - 1) < abs(naive_ppl / fp_ppl - 1)
    # per-channel INT8: a super weight is its row's absmax, so it stays on the grid's end
    assert all(abs(v.quantized / v.original - 1) < 0.01 for v in naive)


def test_bitsandbytes_keeps_the_super_weights(embedded, detection, short_text, fp_ppl):
    int8_ppl, int8 = _run(embedded, Q("bnb-int8"), detection, short_text)
    nf4_ppl, nf4 = _run(embedded, Q("bnb-nf4"), detection, short_text)
    assert all(abs(v.quantized / v.original - 1) < 0.01 for v in int8 + nf4)  # each is its block's absmax
    assert abs(int8_ppl / fp_ppl - 1) < 0.05
    assert fp_ppl < nf4_ppl < 2 * fp_ppl
