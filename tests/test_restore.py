"""Restore the super activation: one implementation, absolute positions, the same with and without a KV cache."""

import pytest
import torch

from sw_core import edits
from sw_core.edits import ActivationPin, Coord, Edit
from sw_core.generate import stream_tokens
from sw_core.restore import pins, pins_for_coords
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
    restored = Edit.of({SW1: 0.0, SW2: 0.0}, pins([(11, 507, 0, 24000.0)]))
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


def test_pins_for_coords_find_the_token_and_size_of_the_super_activation(embedded):
    (pin,) = pins_for_coords(embedded, [SW1, SW2])
    assert (pin.layer, pin.channel, pin.token, pin.value) == (11, 507, 0, None)
    assert 0.05 * 2.0e4 < pin.above < 0.05 * 3.0e4
