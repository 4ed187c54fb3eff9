"""Edits: never write weights, isolate threads exactly, equal in-place edits, work on bitsandbytes."""

import contextvars
import threading

import pytest
import torch

from sw_core.edits import INHERIT, ActivationPin, Coord, Edit, applied, current_edit, off, scaled
from sw_core.errors import BadInput
from sw_core.testing import tiny_model

SW1, SW2 = Coord(11, 507, 1229), Coord(11, 507, 1487)
PROMPT = "Summer is hot. Winter is"


def logits(loaded, ids, edit=None):
    with torch.inference_mode(), applied(loaded, edit):
        return loaded.model(input_ids=ids, use_cache=False).logits


def test_weights_bit_identical_after_edits_even_when_the_forward_raises(embedded, digest):
    before = digest(embedded.model)
    ids = embedded.encode(PROMPT)
    base = logits(embedded, ids)
    edits = [off(SW1, SW2), scaled([SW1], 2.5), Edit.of({SW1: 0.0}, [ActivationPin(11, 507, 0)]),
             Edit.of({}, [ActivationPin(11, 507, 1, value=-3.0)])]
    for e in edits:
        assert not torch.equal(logits(embedded, ids, e), base)

    def boom(module, inputs, output):
        raise RuntimeError("injected failure after the edited layer")

    handle = embedded.layers[12].module.register_forward_hook(boom)
    try:
        with pytest.raises(RuntimeError, match="injected"):
            logits(embedded, ids, off(SW1, SW2))
    finally:
        handle.remove()
    assert current_edit() is None
    assert digest(embedded.model) == before
    assert torch.equal(logits(embedded, ids), base)


def test_eight_threads_each_see_exactly_their_own_edit(embedded):
    ids = embedded.encode(PROMPT)
    edits = [None, Edit(), off(SW1), off(SW2), off(SW1, SW2), scaled([SW1, SW2], 2.0), scaled([SW1], 0.5),
             Edit.of({SW1: 0.0, SW2: 0.0}, [ActivationPin(11, 507, 0)]),
             Edit.of({}, [ActivationPin(11, 507, 0, value=0.0)]), off(Coord(3, 10, 20))]
    solo = [logits(embedded, ids, e) for e in edits]
    assert len({tuple(s[0, -1, :8].tolist()) for s in solo}) >= 8  # the edits really differ
    for _ in range(3):
        results: list = [None] * len(edits)
        barrier = threading.Barrier(len(edits))

        def work(i):
            barrier.wait()
            results[i] = logits(embedded, ids, edits[i])

        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(edits))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i, (got, want) in enumerate(zip(results, solo)):
            assert torch.equal(got, want), f"thread {i} ({edits[i]}) saw another thread's edit"


def test_edit_follows_into_a_thread_only_with_copy_context(embedded):
    ids = embedded.encode(PROMPT)
    plain = logits(embedded, ids)
    seen = {}
    with applied(embedded, off(SW1, SW2)):
        ctx = contextvars.copy_context()
        t1 = threading.Thread(target=lambda: seen.__setitem__("bare", current_edit()))
        t2 = threading.Thread(target=lambda: ctx.run(lambda: seen.__setitem__("copied", current_edit())))
        t1.start(), t2.start(), t1.join(), t2.join()
    assert seen["bare"] is None and seen["copied"] == off(SW1, SW2)
    assert torch.equal(logits(embedded, ids), plain)


def _in_place(loaded, factors: dict):
    """Reference: multiply the stored weights in place; returns an undo function."""
    saved = []
    for c, f in factors.items():
        w = loaded.layers[c.layer].weight_view()
        saved.append((w, c, w[c.row, c.col].clone()))
        with torch.no_grad():
            w[c.row, c.col] *= f

    def undo():
        with torch.no_grad():
            for w, c, v in saved:
                w[c.row, c.col] = v

    return undo


def _check_hook_equals_in_place(loaded, ids, factors, atol, rtol=1e-4):
    hooked = logits(loaded, ids, Edit.of(factors))
    undo = _in_place(loaded, factors)
    try:
        with torch.inference_mode():
            reference = loaded.model(input_ids=ids, use_cache=False).logits
    finally:
        undo()
    assert torch.allclose(hooked, reference, atol=atol, rtol=rtol), (hooked - reference).abs().max()
    return hooked, reference


def test_hook_edit_equals_in_place_edit_on_the_embedded_model(embedded, digest):
    from sw_core.loading import load

    before = digest(embedded.model)
    own = load("embedded", device="cpu")  # a private copy: in-place edits never touch the shared one
    ids = own.encode(PROMPT)
    base = logits(own, ids)
    for factors in ({SW1: 0.0}, {SW1: 0.0, SW2: 0.0}, {SW1: 2.0, Coord(2, 5, 7): 0.0}):
        hooked, _ = _check_hook_equals_in_place(own, ids, factors, atol=1e-2)
        assert (hooked - base).abs().max() > 0.5
    assert digest(embedded.model) == before


@pytest.mark.parametrize("model_type", ["gpt2", "opt", "llama"])
def test_hook_edit_equals_in_place_edit_on_tiny_models(model_type):
    tiny = tiny_model(model_type, layers=3)
    ids = tiny.encode("a tiny model, transposed or biased")
    proj = tiny.layers[1]
    assert proj.transposed == (model_type == "gpt2")
    out_f, in_f = proj.out_features, proj.in_features
    factors = {Coord(1, 3, 7): 0.0, Coord(1, 3, 9): 3.0, Coord(1, out_f - 1, in_f - 1): 0.5, Coord(0, 0, 0): 0.0}
    hooked, reference = _check_hook_equals_in_place(tiny, ids, factors, atol=1e-5)
    assert not torch.equal(hooked, logits(tiny, ids))


def test_pins_value_none_keeps_original_and_above_pins_every_spike(embedded):
    # Mid-text windows can carry the super activation on tokens 0 and 1 ("\n" "\n").
    ids = embedded.encode("much thanks:\n\n\n\nAnd I am sick at heart.")
    captured = {}
    # registered after the model's own hook (`instrument`, at load): the capture sees the edited output
    handle = embedded.layers[11].module.register_forward_hook(lambda m, i, o: captured.__setitem__("y", o[0, :, 507].clone()))
    try:
        logits(embedded, ids)
        original = captured["y"]
        logits(embedded, ids, off(SW1, SW2))
        damaged = captured["y"]
        logits(embedded, ids, Edit.of({SW1: 0.0, SW2: 0.0}, [ActivationPin(11, 507, 0)]))
        token0 = captured["y"]
        threshold = 0.05 * original.abs().max().item()
        logits(embedded, ids, Edit.of({SW1: 0.0, SW2: 0.0}, [ActivationPin(11, 507, above=threshold)]))
        everywhere = captured["y"]
    finally:
        handle.remove()
    spikes = original.abs() >= threshold
    assert spikes[0] and (damaged[0].abs() < 0.2 * original[0].abs())
    assert token0[0] == original[0] and torch.equal(token0[1:], damaged[1:])
    assert torch.equal(everywhere[spikes], original[spikes]) and torch.equal(everywhere[~spikes], damaged[~spikes])


@pytest.mark.parametrize("bad, message", [
    (off(Coord(30, 0, 0)), "Layer 30"),
    (off(Coord(0, 576, 0)), "Row 576"),
    (off(Coord(0, 0, 1536)), "Column 1536"),
    (scaled([SW1], float("nan")), "not a finite"),
    (scaled([SW1], -1.0), "negative"),
    (Edit.of({}, [ActivationPin(11, 999)]), "Row 999"),
    (Edit.of({}, [ActivationPin(11, 507, value=float("inf"))]), "not finite"),
    (Edit.of({}, [ActivationPin(11, 507, above=-1.0)]), "positive threshold"),
])
def test_bad_edits_are_refused_with_a_reason(embedded, bad, message):
    with pytest.raises(BadInput, match=message):
        with applied(embedded, bad):
            pass
    assert current_edit() is None


def test_edits_work_on_bitsandbytes_int8_layers(tmp_path, digest):
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    from sw_core.loading import wrap

    tiny = tiny_model("llama", layers=2)
    tiny.model.save_pretrained(tmp_path)
    q = AutoModelForCausalLM.from_pretrained(tmp_path, quantization_config=BitsAndBytesConfig(load_in_8bit=True),
                                             device_map="cpu")
    loaded = wrap(q, tiny.tokenizer, ref="tiny-int8", source="in-process")
    proj = loaded.layers[1]
    assert proj.module.weight.dtype == torch.int8
    before = digest(q)
    seen = []
    handle = proj.module.register_forward_hook(lambda m, i, o: seen.append((i[0].float().clone(), o.float().clone())))
    ids = loaded.encode("int8 rows")
    try:
        logits(loaded, ids)
        logits(loaded, ids, Edit.of({Coord(1, 5, 11): 0.0, Coord(1, 5, 12): 2.0}))
    finally:
        handle.remove()
    (x, y0), (x1, y1) = seen
    assert torch.equal(x, x1)  # layer 0 unedited: same input to layer 1
    w = proj.dense_weight().float()[5].clone()
    w[11], w[12] = 0.0, 2 * w[12]
    assert torch.allclose(y1[..., 5], x @ w, atol=1e-4)  # the edited row, recomputed from the int8 weights
    others = torch.arange(y0.shape[-1]) != 5
    assert torch.equal(y1[..., others], y0[..., others])
    assert digest(q) == before


def test_no_edit_by_default_and_inheriting_only_when_asked(embedded):
    """edit=None is the unedited model, also inside `applied`; INHERIT keeps the caller's edit."""
    from sw_core.metrics import perplexity

    text = "The quick brown fox jumps over the lazy dog. Summer is hot and winter is cold."
    both = off(Coord(11, 507, 1229), Coord(11, 507, 1487))
    plain = perplexity(embedded, text)
    with applied(embedded, both):
        default = perplexity(embedded, text)  # no edit argument: no edit
        none = perplexity(embedded, text, edit=None)
        inherited = perplexity(embedded, text, edit=INHERIT)
        assert current_edit() == both  # the explicit way to read the caller's edit
        with applied(embedded, None):
            assert current_edit() is None
        assert current_edit() == both
    assert default == none == plain
    assert inherited == perplexity(embedded, text, edit=both)
    assert inherited > 100 * plain


def test_an_edit_per_batch_row_equals_each_edit_alone_and_is_checked():
    """Row b of one batch under edits[b] gives row b's logits of its own pass; a batch of one row
    branches into every condition. Bad shapes are refused."""
    from sw_core.forward import forward

    tiny = tiny_model("llama", layers=3, seed=2)
    ids = tiny.encode("per-row edits in one batch")
    conds = [None, off(Coord(1, 3, 4)), Edit.of({Coord(2, 1, 1): 2.0}, [ActivationPin(0, 5, 1, value=7.0)])]
    one_each = torch.cat([forward(tiny, ids, edit=e) for e in conds])
    batched = forward(tiny, ids.expand(3, -1), edit=Edit.per_row(conds))
    branched = forward(tiny, ids, edit=Edit.per_row(conds))
    torch.testing.assert_close(batched, one_each, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(branched, one_each, rtol=1e-5, atol=1e-5)
    assert (one_each[1] - one_each[0]).abs().max() > 1e-4 and (one_each[2] - one_each[0]).abs().max() > 1e-4
    assert hash(Edit.per_row(conds)) == hash(Edit.per_row(conds))  # a frozen value, usable as a cache key
    with pytest.raises(BadInput, match="per-row edits"):
        forward(tiny, ids.expand(2, -1), edit=Edit.per_row(conds))
    with pytest.raises(BadInput, match="only the rows"):
        Edit(factors=((Coord(1, 3, 4), 0.0),), rows=(None,))
