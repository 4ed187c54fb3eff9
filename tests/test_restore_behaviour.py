"""Pins land on absolute positions with a KV cache on every kind of decoder stack.

The position hook sits on the module that runs the layers (the adapter's stack); where it sat
anywhere else, a decode step would see its one new token as position 0 and a pin on token 0
would be written again at every generated token. One architecture per distinct stack path of
the adapter records, so a new kind of stack is covered as soon as its record exists.
"""

import pytest
from test_restore import greedy_without_cache  # the no-cache reference loop

from sw_core.arch import ARCHITECTURES, MOE_ARCHITECTURES
from sw_core.edits import ActivationPin, Edit
from sw_core.generate import stream_tokens
from sw_core.testing import tiny_model

_FIRST_BY_STACK: dict = {}
for _type, _adapter in {**ARCHITECTURES, **MOE_ARCHITECTURES}.items():
    _FIRST_BY_STACK.setdefault(_adapter.stack_paths, _type)
ONE_PER_STACK = sorted(_FIRST_BY_STACK.values())
PROMPT = "hello there"


def test_every_kind_of_stack_is_covered():
    assert {"llama", "gpt2", "gpt_neox", "opt", "gemma3"} <= set(ONE_PER_STACK)


@pytest.mark.parametrize("model_type", ONE_PER_STACK)
def test_pins_on_the_prompt_and_on_a_generated_token_land_once(model_type):
    tiny = tiny_model(model_type, layers=2, seed=4)
    n = tiny.encode(PROMPT).shape[1]
    first, generated = ActivationPin(1, 3, 0, value=60.0), ActivationPin(1, 3, n, value=60.0)
    want = {pin: greedy_without_cache(tiny, PROMPT, 8, Edit.of({}, [pin])) for pin in (first, generated)}
    # What a pin read relative to each call would do: write token 0's value on every new token too.
    relative = Edit.of({}, [ActivationPin(1, 3, t, value=60.0) for t in [0, *range(n, n + 8)]])
    assert greedy_without_cache(tiny, PROMPT, 8, relative) != want[first]  # the test tells the two apart
    assert want[generated] != greedy_without_cache(tiny, PROMPT, 8, Edit())  # the pin matters
    for pin, tokens in want.items():
        assert list(stream_tokens(tiny, PROMPT, edit=Edit.of({}, [pin]), max_new_tokens=8,
                                  stop_at_eos=False)) == tokens
