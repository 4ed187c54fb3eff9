"""Reliability under failure and load: an edit never outlives its forward pass.

Fault injection: a forward hook that raises while an edit is applied, a scan that dies midway,
generation closed or abandoned midway. Afterwards the weights are bit-identical, no hook is
left behind, and the next un-edited forward equals the original logits exactly.
Concurrency: 8 threads x 20 requests with random edits on the one shared model give exactly
the logits (torch.equal) of the same requests run alone.
"""

import random
import threading

import pytest
import torch

from sw_core import edits, generate
from sw_core.edits import ActivationPin, Coord, Edit, applied, off, scaled
from sw_core.metrics._forward import logits_of
from sw_core.scan import scan

SW = Coord(11, 507, 1229)
SW2 = Coord(11, 507, 1487)
PROMPT = "The capital of France is"


class Injected(RuntimeError):
    pass


@pytest.fixture(scope="module")
def baseline(embedded):
    """Original weights' digest, plain logits of PROMPT, and the hook counts of every module."""
    from conftest import weights_digest

    ids = embedded.encode(PROMPT)
    return {
        "digest": weights_digest(embedded.model),
        "ids": ids,
        "logits": logits_of(embedded, ids),
        "hooks": _hook_counts(embedded.model),
    }


def _hook_counts(model) -> dict:
    return {name: (len(m._forward_hooks), len(m._forward_pre_hooks)) for name, m in model.named_modules()}


def _assert_pristine(embedded, baseline, digest):
    assert edits.current() is None
    assert _hook_counts(embedded.model) == baseline["hooks"]
    assert digest(embedded.model) == baseline["digest"]
    assert torch.equal(logits_of(embedded, baseline["ids"]), baseline["logits"])


@pytest.mark.parametrize("layer", [5, 11, 29])
def test_exception_in_a_forward_hook_under_an_edit(embedded, baseline, digest, layer):
    def boom(module, inputs, output):
        raise Injected(f"injected at layer {layer}")

    handle = embedded.layers[layer].module.register_forward_hook(boom)
    try:
        with pytest.raises(Injected):
            with applied(embedded, off(SW, SW2)), torch.no_grad():
                embedded.model(input_ids=baseline["ids"])
        with pytest.raises(Injected):  # the scan's own hooks must come off too
            scan(embedded, PROMPT, edit=scaled([SW], 3.0))
    finally:
        handle.remove()
    _assert_pristine(embedded, baseline, digest)


def test_edit_is_really_applied_then_gone(embedded, baseline, digest):
    # Guards the tests above: the edit changes the logits while applied, so "equal afterwards" means something.
    edited = logits_of(embedded, baseline["ids"], off(SW, SW2))
    assert not torch.equal(edited, baseline["logits"])
    _assert_pristine(embedded, baseline, digest)


def _stream(embedded, n=12):
    return generate.stream(embedded, PROMPT, edit=off(SW, SW2), max_new_tokens=n, stop_at_eos=False)


def test_generation_closed_midway(embedded, baseline, digest):
    pieces = _stream(embedded)
    got = [next(pieces) for _ in range(3)]
    assert len(got) == 3
    pieces.close()
    with pytest.raises(StopIteration):
        next(pieces)
    _assert_pristine(embedded, baseline, digest)


def test_generation_consumer_raises_midway(embedded, baseline, digest):
    with pytest.raises(Injected):
        for i, _ in enumerate(_stream(embedded)):
            if i == 2:
                raise Injected("the page was closed")
    _assert_pristine(embedded, baseline, digest)


def test_suspended_edited_stream_does_not_leak_into_other_work(embedded, baseline, digest):
    """A stream paused between tokens (as a browser session does) must not edit this thread's
    other forward passes: the edit is entered around each step, never across a yield."""
    pieces = _stream(embedded, 6)
    first = next(pieces)
    assert edits.current() is None
    assert torch.equal(logits_of(embedded, baseline["ids"]), baseline["logits"])
    rest = list(pieces)  # resumed after un-edited work in between: same text as an uninterrupted run
    assert first + "".join(rest) == "".join(_stream(embedded, 6))
    _assert_pristine(embedded, baseline, digest)


EDITS = [
    None,
    off(SW),
    off(SW, SW2),
    scaled([SW], 2.0),
    Edit.of({SW: 0.0, SW2: 0.0}, pins=[ActivationPin(11, 507)]),  # prune SW, restore the activation
]
PROMPTS = ["Hello there.", "The cat sat on the mat.", "Apple Inc. is a worldwide tech company.", "1 2 3 4"]


def test_concurrent_requests_equal_solo_runs(embedded, baseline, digest):
    ids = {p: embedded.encode(p) for p in PROMPTS}
    solo = {(p, i): logits_of(embedded, ids[p], e) for p in PROMPTS for i, e in enumerate(EDITS)}
    solo_scan = {i: scan(embedded, PROMPTS[2], edit=e).out_maxima() for i, e in enumerate(EDITS) if e}
    assert not torch.equal(solo[(PROMPTS[0], 0)], solo[(PROMPTS[0], 2)])  # the edits matter

    mismatches, errors = [], []
    start = threading.Barrier(8)

    def worker(seed):
        rng = random.Random(seed)
        torch.set_num_threads(1)  # as the app's queue gives each of several jobs at once (a new thread would start one per core)
        start.wait()
        try:
            for r in range(10):  # 80 requests from 8 threads at once
                p = rng.choice(PROMPTS)
                i = rng.randrange(len(EDITS))
                if r % 3 == 2 and EDITS[i] is not None:  # some requests are scans (their own hooks)
                    if scan(embedded, PROMPTS[2], edit=EDITS[i]).out_maxima() != solo_scan[i]:
                        mismatches.append(("scan", i))
                elif not torch.equal(logits_of(embedded, ids[p], EDITS[i]), solo[(p, i)]):
                    mismatches.append((p, i))
        except Exception as e:  # noqa: BLE001 - reported below with the thread's seed
            errors.append((seed, repr(e)))

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert mismatches == []
    _assert_pristine(embedded, baseline, digest)
