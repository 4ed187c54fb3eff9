"""`python -m bench.big_model`: the app's large bench model needs its plant, so detection verifies
it as a super weight; rehearsed on the tiny shape (the 1.5B shape is the same code, wider)."""

import copy
import math

import torch

from bench import big_model
from bench.gpu.shapes import QWEN_1_5B, TINY
from sw_core import memory_plan
from sw_core.detect import find_super_weights
from sw_core.edits import Edit
from sw_core.loading import load
from sw_core.metrics import perplexity
from sw_core.texts import PROSE, text
from sw_core.verify import DEFAULT_MIN_IMPACT, DEFAULT_TOKENS, default_text

TEXT = text(PROSE, max_chars=600)


def _reference_ppl(model, ids) -> float:
    """exp(mean NLL) by a plain forward pass: the reference for our perplexity under an edit."""
    with torch.no_grad():
        logits = model(input_ids=ids).logits.float()
    nll = torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:])
    return math.exp(float(nll))


def test_the_tiny_rehearsal_finds_its_plant_and_judges_it_as_a_plain_loop_does(tmp_path):
    """The builder's plant is found exactly, and its verdict follows the impact rule measured by a
    plain loop on a zeroed deep copy. (Whether the head makes the model *need* the plant depends on
    the width: the 1.5B shape's plant verifies as a super weight, docs/benchmarks.md; the tiny
    shape's dependence on the verification text is weaker.)"""
    big_model.build(tmp_path / "model", "tiny", say=lambda m: None)
    loaded = load(str(tmp_path / "model"), device="cpu", dtype="float32")
    at = TINY.plant
    det = find_super_weights(loaded)
    found = det.super_weights + det.activation_sources
    assert [w.coord for w in found] == [at]

    # Reference: the plant zeroed on a deep copy, perplexity of the verification window by our own loop.
    ids = loaded.encode(default_text())[:, :DEFAULT_TOKENS]
    edited = copy.deepcopy(loaded.model)
    edited.model.layers[at.layer].mlp.down_proj.weight.data[at.row, at.col] = 0.0
    ref_base, ref_removed = _reference_ppl(loaded.model, ids), _reference_ppl(edited, ids)
    impact = found[0].impact
    assert math.isclose(impact.ppl_original, ref_base, rel_tol=1e-3)
    assert math.isclose(impact.ppl_removed, ref_removed, rel_tol=1e-3)
    needs = ref_removed / ref_base >= DEFAULT_MIN_IMPACT * max(1.0, impact.control_ratio)
    assert (found[0].verdict == "super weight") == needs
    text_ids = loaded.encode(TEXT)
    ours = perplexity(loaded, TEXT, edit=Edit.of({at: 0.0}), window=text_ids.shape[1])
    assert math.isclose(ours, _reference_ppl(edited, text_ids), rel_tol=1e-3)
    # The shared weights are untouched by the edit.
    assert float(loaded.model.model.layers[at.layer].mlp.down_proj.weight[at.row, at.col]) != 0.0


def test_the_large_shape_is_qwen_1_5b_with_grouped_attention():
    from bench.scale_check import _config

    config = _config(QWEN_1_5B, QWEN_1_5B.layers, torch.bfloat16)
    assert (config.num_attention_heads, config.num_key_value_heads) == (12, 2)
    # Counted by hand: embeddings and an untied head, then per layer q and o (h x h), k and v
    # (h x 2 heads x 128), gate, up and down (h x 8960), two norms; the final norm.
    h, kv, inter = 1536, 2 * 128, 8960
    per_layer = 2 * h * h + 2 * h * kv + 3 * h * inter + 2 * h
    expected = 2 * 151_936 * h + 28 * per_layer + h
    assert memory_plan.count_config(config) == expected == 1_777_030_656
