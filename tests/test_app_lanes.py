"""A first click computes beside the page: the texts in threads of their own, the stop words in a lane,
each on one torch thread. What they compute equals plain transformers on a copy whose weight is zeroed
in place; a failure reaches every follower and leaves no edit behind; one text is computed once."""

import math
import threading

import pytest
import torch
import torch.nn.functional as F

from explorer import cached, generation, jobs, lanes
from explorer.continuation import Continuation, follow
from sw_core import texts
from sw_core.edits import Coord, current_edit, off
from sw_core.metrics import next_word_prompts
from sw_core.metrics.stopwords import STOP_WORDS
from sw_core.testing import plant_super_weight, tiny_model

SW1 = Coord(11, 507, 1229)
PROMPT = "Summer is hot. Winter is"
TOKENS = 12


@pytest.fixture(scope="module")
def zeroed():
    """A private embedded model with the super weight zeroed in place: the plain reference."""
    from sw_core.loading import load

    own = load("embedded", device="cpu")
    with torch.no_grad():
        own.layers[SW1.layer].module.weight[SW1.row, SW1.col] = 0.0
    return own


def plain_greedy(loaded, prompt: str, n: int) -> str:
    """transformers' own greedy generate, decoded as the app shows it (up to the end token)."""
    ids = loaded.encode(prompt)
    eos = loaded.tokenizer.eos_token_id
    with torch.no_grad():
        out = loaded.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                    max_new_tokens=n, eos_token_id=eos, pad_token_id=eos, repetition_penalty=1.0)
    new = out[0, ids.shape[1]:].tolist()
    return loaded.tokenizer.decode(new[: new.index(eos)] if eos in new else new, skip_special_tokens=True)


def test_texts_generated_beside_the_page_equal_plain_generate(embedded, zeroed, digest, heavy_jobs):
    cached.continuation.clear()
    started = heavy_jobs()
    before = digest(embedded.model)
    settings = {"original": (embedded, None), "without": (embedded, off(SW1))}
    generation.start(settings, PROMPT, TOKENS)
    generation.start(settings, PROMPT, TOKENS)  # a second page asking meanwhile computes nothing again
    got = {label: generation.generated_text(loaded, edit, PROMPT, TOKENS) for label, (loaded, edit) in settings.items()}
    assert got == {"original": plain_greedy(embedded, PROMPT, TOKENS), "without": plain_greedy(zeroed, PROMPT, TOKENS)}
    assert got["original"] != got["without"]
    assert started == ["generate", "generate"]
    assert digest(embedded.model) == before and current_edit() is None
    seen = []  # the threads restored the process's torch threads for the threads that start later
    t = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    t.start()
    t.join()
    assert seen == [lanes.PROCESS_THREADS]


def test_numbers_computed_in_lanes_equal_plain_transformers(embedded, zeroed):
    """The Classroom's edited numbers, each on one torch thread (the stop words in a thread of its
    own, as the page computes them), against plain forward passes of the zeroed copy."""
    edit = off(SW1)
    cached.stopwords.clear()
    cached.perplexity.clear()
    lanes.beside(cached.stopwords, embedded, edit).join()
    with lanes.one_thread():
        assert torch.get_num_threads() == 1
        ppl = cached.perplexity(embedded, edit)
        stop = cached.stopwords(embedded, edit)  # computed beside: read from the cache
    assert torch.get_num_threads() == lanes.PROCESS_THREADS

    ids = zeroed.encode(texts.text(cached.PPL_TEXT, max_chars=8 * cached.PPL_TOKENS))[:, :cached.PPL_TOKENS]
    with torch.no_grad():
        logits = zeroed.model(input_ids=ids).logits[0, :-1]
    assert ppl == pytest.approx(math.exp(F.cross_entropy(logits, ids[0, 1:]).item()), rel=1e-4)

    stops = {zeroed.tokenizer(w, add_special_tokens=False)["input_ids"][0] for w in STOP_WORDS}
    mass = []
    for p in next_word_prompts(cached.STOP_PROMPTS):
        with torch.no_grad():
            probs = zeroed.model(input_ids=zeroed.encode(p.prompt)).logits[0, -1].softmax(-1)
        mass.append(float(probs[sorted(stops)].sum()))
    assert stop.stop_mass == pytest.approx(sum(mass) / len(mass), rel=1e-4)


def test_a_failed_text_reaches_every_follower_leaves_no_edit_and_is_tried_again(digest):
    planted = tiny_model("llama", layers=2, seed=4)
    coord = plant_super_weight(planted, layer=0, seed=4)
    before = digest(planted.model)
    cached.continuation.clear()

    class Boom(Exception):
        pass

    def boom(module, inputs, output):
        from sw_core.edits import current_edit as inside

        if inside() is not None:  # fails only where the edit is in effect: mid-generation
            raise Boom("hook failed")

    handle = planted.layers[1].module.register_forward_hook(boom)
    settings = {"a": (planted, off(coord)), "b": (planted, off(coord))}  # two pages, one computation
    try:
        generation.start(settings, "abc", 6)
        with pytest.raises(Boom, match="hook failed"):
            generation.generated_text(planted, off(coord), "abc", 6)
        with pytest.raises(Boom):
            list(follow([cached.continuation(planted, off(coord), "abc", 6)]))
    finally:
        handle.remove()
    assert current_edit() is None and digest(planted.model) == before
    generation.start(settings, "abc", 6)  # the next page run tries again
    from sw_core.generate import generate

    assert generation.generated_text(planted, off(coord), "abc", 6) == generate(planted, "abc", max_new_tokens=6,
                                                                                edit=off(coord))


def test_a_follower_sees_the_text_grow_and_ends_with_it():
    c = Continuation()
    assert c.claim() and not c.claim()  # one computes, the others follow
    seen = []

    def reader():
        for texts_so_far in follow([c]):
            seen.append(texts_so_far[0])

    t = threading.Thread(target=reader)
    t.start()
    for text in ("a", "ab", "abc"):
        c.grow(text)
    c.finish("abc")
    t.join(5)
    assert seen[-1] == "abc" and seen == sorted(seen, key=len) and not t.is_alive()
    assert not c.claim() and list(follow([c])) == [["abc"]]  # done: nothing to compute, one answer


def test_work_beside_the_page_draws_nothing_and_leaves_its_errors_to_the_page(monkeypatch):
    class NoDrawing:
        def __getattr__(self, name):
            raise AssertionError(f"st.{name} called beside the page")

    monkeypatch.setattr(jobs, "st", NoDrawing())
    done = []

    def task(x):
        with jobs.queued("beside"):  # would show the place in line on the page's own thread
            done.append(x)
        raise RuntimeError("left for the page's own call")

    lanes.beside(task, 1).join(5)
    assert done == [1] and jobs.queue_state()["running"] == 0


def test_a_thread_started_while_a_lane_runs_takes_the_usual_count():
    seen = []

    def page_run():  # what app.py and the work ahead do first
        lanes.usual_threads()
        seen.append(torch.get_num_threads())

    with lanes.one_thread():  # a lane holds one thread; threads starting now would begin with one
        t = threading.Thread(target=page_run)
        t.start()
        t.join()
    assert seen == [lanes.PROCESS_THREADS]


def test_a_text_no_page_waits_for_any_more_is_dropped_at_its_next_piece():
    import time

    from sw_core.testing import POSITIONS

    tiny = tiny_model("llama", layers=2, seed=1)
    cached.continuation.clear()
    n = POSITIONS - len(tiny.encode("hello")[0])  # far more pieces than it takes to notice
    page = threading.Thread(target=generation.start, args=({"a": (tiny, None)}, "hello", n))
    page.start()
    page.join()  # a page run that started the text and was left (a rerun) before following it
    c = cached.continuation(tiny, None, "hello", n)
    deadline = time.monotonic() + 30
    while any(t.name in ("sw-text", "sw-generate") for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name in ("sw-text", "sw-generate") for t in threading.enumerate())  # both threads stopped
    assert c.state() == ("", False, None) and not c.running  # nothing kept, no error
    assert c.claim()  # free: the next page that asks starts it anew


def test_a_job_beside_others_runs_on_its_share_of_the_cores(monkeypatch):
    """Admitted alone a job keeps every thread; beside others it takes cores / jobs running; after
    it the thread runs on its own count again. A lane's one thread is never raised; work computed
    ahead runs on one thread."""
    monkeypatch.setattr(jobs, "CORES", 4)
    monkeypatch.setenv("SW_MAX_CONCURRENT_JOBS", "4")
    seen, inside, release = {}, [], threading.Event()

    def job(name, threads):
        torch.set_num_threads(threads)
        with jobs.heavy_job(name):
            seen[name] = torch.get_num_threads()
            inside.append(name)
            release.wait(30)
        seen[name + " after"] = torch.get_num_threads()

    started = []
    for name, threads in (("alone", 4), ("second", 4), ("third", 4), ("lane", 1)):
        started.append(threading.Thread(target=job, args=(name, threads)))
        started[-1].start()
        for _ in range(3000):  # each admitted before the next arrives
            if name in inside:
                break
            threading.Event().wait(0.01)
    release.set()
    for t in started:
        t.join(30)
    assert seen["alone"] == 4 and seen["second"] == 2 and seen["third"] == 1 and seen["lane"] == 1
    assert seen["alone after"] == seen["second after"] == seen["third after"] == 4 and seen["lane after"] == 1
    assert jobs.queue_state()["running"] == 0
    own = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        with jobs.in_background(), jobs.heavy_job("ahead"):  # work computed ahead: one core at most, even alone
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 4
    finally:
        torch.set_num_threads(own)
