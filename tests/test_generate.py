"""sw_core.generate: greedy equals a plain argmax loop; edits stay in their own stream."""

import copy
import threading

import pytest
import torch

from sw_core import edits
from sw_core.edits import Coord, off
from sw_core.errors import BadInput
from sw_core.generate import compare, generate, stream, stream_side_by_side, stream_tokens
from sw_core.testing import POSITIONS, plant_super_weight, tiny_model

SUPER = off(Coord(11, 507, 1229), Coord(11, 507, 1487))
PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def tiny():
    return tiny_model("llama", layers=2, seed=1)


def _greedy_without_cache(loaded, prompt, n, model=None):
    """Reference: re-run the whole sequence at every step (no cache), plain argmax, no edit."""
    model = model or loaded.model
    ids = loaded.encode(prompt)
    out = []
    with torch.no_grad():
        for _ in range(n):
            nxt = int(model(ids, use_cache=False).logits[0, -1].argmax())
            out.append(nxt)
            ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
    return out


def test_greedy_with_kv_cache_matches_full_recompute(tiny):
    expected = _greedy_without_cache(tiny, "hello", 12)
    assert list(stream_tokens(tiny, "hello", max_new_tokens=12, stop_at_eos=False)) == expected
    pieces = list(stream(tiny, "hello", max_new_tokens=12, stop_at_eos=False))
    assert len(pieces) == 12  # one piece per token ("" while a UTF-8 character is incomplete)
    assert tiny.tokenizer.decode(expected).startswith("".join(pieces))


def test_edited_greedy_matches_a_direct_weight_edit_on_a_copy():
    planted = tiny_model("llama", layers=2, seed=4)
    coord = plant_super_weight(planted, layer=0, seed=4)
    edited = copy.deepcopy(planted.model)  # no edit is active here, so its copied hooks do nothing
    with torch.no_grad():
        edited.get_submodule(planted.layers[coord.layer].name).weight[coord.row, coord.col] = 0.0
    expected = _greedy_without_cache(planted, "abc", 10, model=edited)
    assert expected != _greedy_without_cache(planted, "abc", 10)  # the edit changes the text
    assert list(stream_tokens(planted, "abc", edit=off(coord), max_new_tokens=10, stop_at_eos=False)) == expected


def test_no_edit_generates_the_unedited_model_inside_a_callers_edit():
    planted = tiny_model("llama", layers=2, seed=4)
    coord = plant_super_weight(planted, layer=0, seed=4)
    unedited = _greedy_without_cache(planted, "abc", 10)
    with edits.applied(planted, off(coord)):  # the caller's edit does not reach the worker
        assert _greedy_without_cache(planted, "abc", 10) != unedited  # ...though it is active here
        assert list(stream_tokens(planted, "abc", edit=None, max_new_tokens=10, stop_at_eos=False)) == unedited


def test_bad_arguments_say_the_allowed_range(tiny):
    room = POSITIONS - len(tiny.encode("hi")[0])  # the context window left after the prompt
    for n in (0, -1, room + 1, 10**9):
        with pytest.raises(BadInput, match=f"{n:,} new tokens asked for; allowed: 1 to {room:,}"):
            stream(tiny, "hi", max_new_tokens=n)
    with pytest.raises(BadInput, match="whole number"):
        stream(tiny, "hi", max_new_tokens=2.5)
    with pytest.raises(BadInput, match="no room left"):
        stream(tiny, "x" * POSITIONS)
    with pytest.raises(BadInput, match="empty"):
        stream(tiny, "   ")
    with pytest.raises(BadInput, match="temperature"):
        stream(tiny, "hi", temperature=-1)
    with pytest.raises(BadInput, match="top_p"):
        stream(tiny, "hi", temperature=1, top_p=0)
    with pytest.raises(BadInput, match="chat template"):
        stream(tiny, "hi", chat=True)
    with pytest.raises(BadInput, match="out of range"):
        stream(tiny, "hi", edit=off(Coord(99, 0, 0)))


def test_no_web_server_caps_here(tiny, monkeypatch):
    """Request caps (SW_MAX_*) are the app's and the CLI's to enforce, not the library's."""
    monkeypatch.setenv("SW_PUBLIC", "1")
    monkeypatch.setenv("SW_MAX_NEW_TOKENS", "2")
    monkeypatch.setenv("SW_MAX_PROMPT_CHARS", "3")
    assert len(list(stream_tokens(tiny, "hello", max_new_tokens=5, stop_at_eos=False))) == 5


def test_an_error_inside_generation_reaches_the_reader(tiny):
    class Boom(Exception):
        pass

    def boom(module, inputs, output):
        raise Boom("hook failed")

    handle = tiny.layers[0].module.register_forward_hook(boom)
    try:
        with pytest.raises(Boom, match="hook failed"):
            list(stream_tokens(tiny, "hi", max_new_tokens=3))
    finally:
        handle.remove()
    assert len(list(stream_tokens(tiny, "hi", max_new_tokens=3, stop_at_eos=False))) == 3


def test_sampling_is_reproducible_with_a_seed(tiny):
    a = generate(tiny, "abc", max_new_tokens=16, temperature=1.0, top_p=0.9, seed=3, stop_at_eos=False)
    b = generate(tiny, "abc", max_new_tokens=16, temperature=1.0, top_p=0.9, seed=3, stop_at_eos=False)
    others = {generate(tiny, "abc", max_new_tokens=16, temperature=1.0, seed=s, stop_at_eos=False) for s in range(4, 8)}
    assert a == b
    assert len(others | {a}) > 1
    # Side by side the two streams sample concurrently: each keeps its own seeded generator.
    both = compare({"x": (tiny, None), "y": (tiny, None)}, "abc", max_new_tokens=16, temperature=1.0, top_p=0.9,
                   seed=3, stop_at_eos=False)
    assert both == {"x": a, "y": a}


def test_side_by_side_streams_do_not_see_each_others_edit(embedded, digest):
    before = digest(embedded.model)
    alone_orig = generate(embedded, PROMPT, max_new_tokens=5)
    alone_off = generate(embedded, PROMPT, max_new_tokens=5, edit=SUPER)
    both = compare({"original": (embedded, None), "no super weight": (embedded, SUPER)}, PROMPT, max_new_tokens=5)
    assert both == {"original": alone_orig, "no super weight": alone_off}
    assert "Paris" in alone_orig and "Paris" not in alone_off
    labels = [label for label, _ in stream_side_by_side({"a": (embedded, None), "b": (embedded, SUPER)}, PROMPT,
                                                        max_new_tokens=3, stop_at_eos=False)]
    assert labels == ["a", "b"] * 3  # interleaved one token at a time
    assert digest(embedded.model) == before and edits.current() is None


def test_closing_a_stream_midway_leaves_nothing_modified(embedded, digest):
    before = digest(embedded.model)
    baseline = generate(embedded, PROMPT, max_new_tokens=6)
    s = stream(embedded, PROMPT, edit=SUPER, max_new_tokens=50)
    next(s), next(s)
    s.close()
    assert edits.current() is None
    assert digest(embedded.model) == before
    assert generate(embedded, PROMPT, max_new_tokens=6) == baseline


def test_concurrent_threads_keep_their_own_edits(embedded):
    expected = {None: generate(embedded, PROMPT, max_new_tokens=6), "off": generate(embedded, PROMPT, max_new_tokens=6, edit=SUPER)}
    results, errors = {}, []

    def run(key):
        try:
            results[key] = generate(embedded, PROMPT, max_new_tokens=6, edit=SUPER if key == "off" else None)
        except Exception as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(k,)) for k in expected]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results == expected


def test_chat_mode_uses_the_template(embedded):
    text = generate(embedded, "What is the capital of France?", max_new_tokens=12, chat=True)
    assert "Paris" in text


def test_bench_case_compares_with_plain_transformers_generate():
    from bench.cases_generate import generate_cases
    from bench.context import BenchContext

    loaded = tiny_model("llama", layers=2, seed=2)
    (result,) = generate_cases(BenchContext(loaded, quick=True, repeats=1))
    assert result.name == "generate_vs_hf" and result.unit == "tokens/s"
    assert result.extra["same_tokens"]  # both sides made the same greedy tokens
    assert result.value > 0 and result.baseline > 0
