"""Restore the super activation: one implementation, absolute positions, the same with and without a KV cache."""

import pytest
import torch

from sw_core import edits
from sw_core.detect import find_super_weights
from sw_core.edits import ActivationPin, Coord, Edit
from sw_core.generate import stream_tokens
from sw_core.restore import restore_pins
from sw_core.testing import tiny_model

SW1, SW2 = Coord(11, 507, 1229), Coord(11, 507, 1487)
PROMPT = "The capital of France is"


def greedy_without_cache(loaded, prompt, n, edit):
    """The reference: every step re-runs the whole sequence, no cache, the edit in force."""
    ids = loaded.encode(prompt)
    out = []
    with torch.no_grad(), edits.applied(loaded, edit):
        for _ in range(n):
            nxt = int(loaded.model(input_ids=ids, use_cache=False).logits[0, -1].argmax())
            out.append(nxt)
            ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
    return out


def test_both_off_and_restored_generates_the_same_with_and_without_cache(embedded):
    restored = Edit.of({SW1: 0.0, SW2: 0.0}, restore_pins(embedded, [SW1, SW2]))
    with_cache = list(stream_tokens(embedded, PROMPT, edit=restored, max_new_tokens=10, stop_at_eos=False))
    assert with_cache == greedy_without_cache(embedded, PROMPT, 10, restored)
    # ... and restoring matters: with both off and nothing restored the text differs.
    assert with_cache != list(stream_tokens(embedded, PROMPT, edit=edits.off(SW1, SW2), max_new_tokens=10,
                                            stop_at_eos=False))


@pytest.mark.parametrize("model_type", ["llama", "gpt2"])
def test_a_token_pin_lands_on_its_absolute_position_during_decoding(model_type):
    # A value pin on token 0: a pin read relative to each call would also write it on every
    # generated token (index 0 of a one-token decode step) and change the greedy text.
    tiny = tiny_model(model_type, layers=2, seed=4)
    edit = Edit.of({}, [ActivationPin(1, 3, 0, value=60.0), ActivationPin(0, 5, 4, value=-40.0)])
    with_cache = list(stream_tokens(tiny, "hello there", edit=edit, max_new_tokens=12, stop_at_eos=False))
    assert with_cache == greedy_without_cache(tiny, "hello there", 12, edit)
    # The same pin at the position of the first generated token does land there, once.
    n = tiny.encode("hello there").shape[1]
    late = Edit.of({}, [ActivationPin(1, 3, n, value=60.0)])
    got = list(stream_tokens(tiny, "hello there", edit=late, max_new_tokens=12, stop_at_eos=False))
    assert got == greedy_without_cache(tiny, "hello there", 12, late)


def test_restore_pins_find_the_token_and_size_of_the_super_activation(embedded):
    """Sized by a scan, or by what a detection measured: one rule, the same pins."""
    (pin,) = restore_pins(embedded, [SW1, SW2])
    assert (pin.layer, pin.channel, pin.token, pin.value) == (11, 507, 0, None)
    ids = embedded.encode("Apple Inc. is a worldwide tech company.")
    seen = {}
    down = embedded.model.get_submodule(embedded.layers[11].name)
    h = down.register_forward_hook(lambda m, a, o: seen.update(y=o[0, :, 507].abs().clone()))  # returns None
    try:  # own reference: the unedited down projection's |y[507]| read by a hook of this test
        with torch.no_grad():
            embedded.model(input_ids=ids, use_cache=False)
    finally:
        h.remove()
    assert int(seen["y"].argmax()) == 0 and pin.above == pytest.approx(0.05 * float(seen["y"].max()), rel=1e-4)
    assert restore_pins(None, [SW1, SW2], find_super_weights(embedded)) == [pin]


@pytest.mark.parametrize("model_type", ["llama", "gpt2", "opt"])
def test_every_block_of_a_decode_step_sees_the_absolute_position_of_its_token(model_type):
    """The position hook sits on the module that runs the layers: with n tokens in the KV cache,
    each block of the next step reads offset n (read by a recorder at every block), and 0 after."""
    from sw_core.hooks import Recorder, recording
    from sw_core.positions import offset

    class Offsets(Recorder):
        def __init__(self):
            self.seen = []

        def on_block_start(self, layer, args, kwargs):
            self.seen.append(offset())

    loaded = tiny_model(model_type, layers=2)
    ids = loaded.encode("hello there")
    n = ids.shape[1]
    with torch.no_grad():
        cache = loaded.model(input_ids=ids, use_cache=True).past_key_values
        rec = Offsets()
        with recording(rec):
            loaded.model(input_ids=torch.tensor([[5]]), past_key_values=cache, use_cache=True)
    assert rec.seen == [n, n] and offset() == 0
