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

TEXT = text(PROSE, max_chars=600)


def _reference_ppl(model, ids) -> float:
    """exp(mean NLL) by a plain forward pass: the reference for our perplexity under an edit."""
    with torch.no_grad():
        logits = model(input_ids=ids).logits.float()
    nll = torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:])
    return math.exp(float(nll))


def test_the_tiny_rehearsal_needs_its_plant(tmp_path):
    big_model.build(tmp_path / "model", "tiny", say=lambda m: None)
    loaded = load(str(tmp_path / "model"), device="cpu", dtype="float32")
    at = TINY.plant
    det = find_super_weights(loaded)
    assert [w.coord for w in det.super_weights] == [at] and not det.activation_sources

    # Reference: the plant zeroed on a deep copy, perplexity by our own loop.
    ids = loaded.encode(TEXT)
    edited = copy.deepcopy(loaded.model)
    edited.model.layers[at.layer].mlp.down_proj.weight.data[at.row, at.col] = 0.0
    ref_base, ref_removed = _reference_ppl(loaded.model, ids), _reference_ppl(edited, ids)
    assert ref_removed / ref_base >= 1.5  # the model depends on its plant
    ours = perplexity(loaded, TEXT, edit=Edit.of({at: 0.0}), window=ids.shape[1])
    assert math.isclose(ours, ref_removed, rel_tol=1e-3)
    assert math.isclose(perplexity(loaded, TEXT, window=ids.shape[1]), ref_base, rel_tol=1e-3)
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
