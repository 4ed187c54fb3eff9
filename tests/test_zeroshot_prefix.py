"""Zero-shot scores with each context run once (a shared prefix in the KV cache), checked against a
plain transformers loop: every (context, choice) sequence run whole by `model(input_ids=...)`, a
weight turned off in a deep copy, an activation pinned by a plain forward hook."""

import copy
from contextlib import contextmanager

import pytest
import torch
from transformers import AutoModelForCausalLM

from sw_core.arch import adapter_for
from sw_core.edits import ActivationPin, Coord, Edit, off
from sw_core.kv_rows import new_cache
from sw_core.loading import wrap
from sw_core.metrics import _prefix
from sw_core.metrics._prefix import shared_prefix_log_probs
from sw_core.metrics.zeroshot import Question, _format, trivia_questions, zero_shot_accuracies
from sw_core.testing import (TINY_MOE_TYPES, TINY_TYPES, ByteTokenizer, plant_expert_super_weight,
                             plant_super_weight, tiny_model)

SW1 = Coord(11, 507, 1229)


def whole_sequence_scores(model, pairs) -> list[float]:
    """Per (context, choice): the summed log P of the choice's tokens, one whole sequence per call."""
    out = []
    with torch.no_grad():
        for ctx, cont in pairs:
            logp = model(input_ids=torch.tensor([ctx + cont]), use_cache=False).logits[0].float().log_softmax(-1)
            out.append(sum(float(logp[len(ctx) - 1 + k, t]) for k, t in enumerate(cont)))
    return out


def zeroed_copy(model, parameter: str, index):
    """A deep copy of `model` with one entry of one parameter set to 0."""
    model = copy.deepcopy(model)
    with torch.no_grad():
        model.get_parameter(parameter)[index] = 0.0
    return model


@contextmanager
def pinned(model, module: str, token: int, channel: int, value: float):
    """A plain forward hook on `module` writes `value` at (token, channel) of its output (batch of one)."""
    def write(_, args, out):
        out = out.clone()
        out.reshape(-1, out.shape[-1])[token, channel] = value  # [1, T, C], or an MoE experts' [T, C]
        return out

    handle = model.get_submodule(module).register_forward_hook(write)
    try:
        yield model
    finally:
        handle.remove()


def assert_close(got, want):
    for (total, n), ref in zip(got, want, strict=True):
        assert abs(total - ref) <= 1e-4 + 1e-5 * abs(ref), (total, ref)


def trivia_pairs_of(loaded, questions):
    ctx = [loaded.encode(_format(q.question))[0].tolist() for q in questions]
    return [(c, loaded.tokenizer(" " + choice, add_special_tokens=False)["input_ids"])
            for c, q in zip(ctx, questions) for choice in q.choices]


def test_embedded_scores_and_picks_match_whole_sequences(embedded):
    questions = trivia_questions()[:2]
    pairs = trivia_pairs_of(embedded, questions)
    token = min(len(ctx) for ctx, _ in pairs)  # the first choice token of one question, a context token of others
    down = "model.layers.11.mlp.down_proj"
    # Per-row conditions: unedited, one super weight off, off with a pinned activation.
    edits = [None, off(SW1), Edit.of({SW1: 0.0}, [ActivationPin(11, 507, token, 300.0)])]
    zeroed = zeroed_copy(embedded.model, down + ".weight", (507, 1229))
    want = [whole_sequence_scores(embedded.model, pairs), whole_sequence_scores(zeroed, pairs)]
    with pinned(zeroed, down, token, 507, 300.0):
        want.append(whole_sequence_scores(zeroed, pairs))
    got = shared_prefix_log_probs(embedded, pairs, edits, batch_size=3)
    for g, w in zip(got, want, strict=True):
        assert_close(g, w)
    assert max(abs(a - b) for a, b in zip(want[0], want[1])) > 1.0  # each edit is measured, not a no-op
    assert max(abs(a - b) for a, b in zip(want[1], want[2])) > 1.0
    picks = [[max(range(4), key=lambda k: w[4 * q + k]) for q in range(len(questions))] for w in want]
    assert [r.picks for r in zero_shot_accuracies(embedded, edits, questions=questions)] == picks


def sliding_tiny(model_type: str, window: int):
    """A tiny model whose sliding-window layers keep only `window - 1` cached tokens."""
    torch.manual_seed(0)
    config = adapter_for(model_type).tiny_config(3)
    config.sliding_window = window
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval().requires_grad_(False)
    return wrap(model, ByteTokenizer(), ref=f"tiny-{model_type}", source="in-process")


def random_pairs(seed=0):
    """Contexts of two lengths, each followed by choices of 1 to 4 tokens."""
    g = torch.Generator().manual_seed(seed)
    contexts = [[1] + torch.randint(3, 250, (n,), generator=g).tolist() for n in (5, 5, 7)]
    return [(c, torch.randint(3, 250, (k,), generator=g).tolist()) for c in contexts for k in (1, 2, 4, 4)]


@pytest.mark.parametrize("model_type", [*TINY_TYPES, *TINY_MOE_TYPES, "gemma2 window 3"])
def test_tiny_architectures_match_whole_sequences(model_type):
    if model_type == "gemma2 window 3":
        loaded = sliding_tiny("gemma2", 3)
    else:
        loaded = tiny_model(model_type, layers=3)
    proj = loaded.layers[1]
    if proj.num_experts:
        coord = plant_expert_super_weight(loaded, 1, 0, 3, 5)
        zero = (proj.name + ".down_proj", (0, 3, 5))  # experts' down projections: [expert, out, in]
    else:
        coord = plant_super_weight(loaded, layer=1)
        zero = (proj.name + ".weight", (coord.col, coord.row) if proj.transposed else (coord.row, coord.col))
    assert new_cache(loaded) is not None  # every supported architecture shares the prefix
    pairs = random_pairs()
    # Pins at absolute positions: a context token (4); the first choice token after the short
    # contexts, a context token of the long one (6).
    edits = [None, off(coord), Edit.of({}, [ActivationPin(1, 7, 4, 40.0)]), Edit.of({}, [ActivationPin(1, 7, 6, 40.0)])]
    want = [whole_sequence_scores(loaded.model, pairs), whole_sequence_scores(zeroed_copy(loaded.model, *zero), pairs)]
    for token in (4, 6):
        with pinned(loaded.model, proj.name, token, 7, 40.0):
            want.append(whole_sequence_scores(loaded.model, pairs))
    got = shared_prefix_log_probs(loaded, pairs, edits, batch_size=2)
    for g, w in zip(got, want, strict=True):
        assert_close(g, w)
    for edited in want[1:]:
        assert max(abs(a - b) for a, b in zip(want[0], edited)) > 1e-3  # ten times the tolerance


def test_each_context_runs_once():
    loaded = tiny_model("llama", layers=2)
    pairs = random_pairs()
    seen = []
    handle = loaded.model.model.layers[0].register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[:2]))
    try:
        shared_prefix_log_probs(loaded, pairs, [None], batch_size=16)
    finally:
        handle.remove()
    contexts = {tuple(ctx) for ctx, _ in pairs}
    # Block 0 sees every context once, and of each choice all but its last token (1-token choices: nothing).
    assert sum(b * t for b, t in seen) == sum(map(len, contexts)) + sum(len(c) - 1 for _, c in pairs)
    assert len(seen) == 2 + 2 * 2  # a pass per context length; per length, one per choice length above 1


def test_a_model_without_a_plain_cache_scores_whole_sequences(monkeypatch):
    loaded = tiny_model("llama", layers=2)
    questions = [Question("two and two?", ("four", "five", "a cat", "x"), 0), Question("sky?", ("blue", "up"), 0)]
    pairs = trivia_pairs_of(loaded, questions)
    want = whole_sequence_scores(loaded.model, pairs)
    monkeypatch.setattr(_prefix, "new_cache", lambda loaded: None)  # as for a linear-attention cache
    assert shared_prefix_log_probs(loaded, pairs, [None]) is None
    result = zero_shot_accuracies(loaded, [None], questions=questions)[0]
    assert result.picks == [max(range(4), key=lambda k: want[k]), max(range(2), key=lambda k: want[4 + k])]
