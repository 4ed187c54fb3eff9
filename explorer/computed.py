"""Cached results of sw_core computations, shared by every session (`st.cache_resource`).

Why cache_resource and not cache_data: results are read-only and shared, and need no pickling per
hit. A Loaded is hashed by `session.model_key` (HASH_FUNCS), never stored, so a cached result
cannot keep an evicted model alive. Heavy bodies run through the job queue (`jobs.queued`); a
cached function never calls another queued one inside its own queued block.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import streamlit as st

from .jobs import queued
from .session import HASH_FUNCS

DETECTION_PROMPTS = (
    "Apple Inc. is a worldwide tech company.",  # the paper's prompt: the first one is the page default
    "Summer is hot. Winter is",
    "The quick brown fox jumps over the lazy dog.",
    "In 1905, Albert Einstein published four papers on physics.",
)
PPL_TEXT, PPL_TOKENS = "britannica", 256  # short, so a toggle updates within seconds on a small CPU
STOP_PROMPTS = 12  # sentences of the shipped text, last word held out (a LAMBADA stand-in)
TRIVIA_QUESTIONS = 20
NEXT_TOKEN_PROMPT = "Summer is hot. Winter is"


def cached(max_entries: int):
    """st.cache_resource keyed by the model's identity, not its weights."""
    return st.cache_resource(show_spinner=False, max_entries=max_entries, hash_funcs=HASH_FUNCS)


@cached(64)
def spike_scan(loaded, prompt: str):
    """A scan of `prompt` that also traces, per token, the channel of the largest output spike."""
    from sw_core.scan import scan

    with queued("scan"):
        first = scan(loaded, prompt)
        spike = max(first.layers, key=lambda s: s.out_max)
        return scan(loaded, prompt, track_channel=spike.out_channel)


@cached(16)
def detection(loaded, prompts: tuple[str, ...]):
    from sw_core.detect import find_super_weights

    with queued("detection"):
        return find_super_weights(loaded, list(prompts), each=True)  # each weight's own impact too (3 passes)


@cached(8)
def screening(loaded, detected: tuple) -> list[dict]:
    """The screening table: candidates ranked by their measured perplexity ratio (sw_core.screening)."""
    from sw_core.screening import screening_table

    with queued("screening"):
        return screening_table(loaded, list(detected), top=15, per_layer=1)


@cached(256)
def perplexity(loaded, edit, text_name: str = PPL_TEXT, max_tokens: int = PPL_TOKENS) -> float:
    from sw_core import texts
    from sw_core.metrics import perplexity as ppl

    from . import limits

    limits.check_ppl_tokens(max_tokens)
    with queued("perplexity"):
        return ppl(loaded, texts.text(text_name, max_chars=8 * max_tokens), max_tokens=max_tokens, edit=edit)


@cached(128)
def stopwords(loaded, edit, n: int = STOP_PROMPTS):
    from sw_core.metrics import next_word_prompts, stopword_probabilities

    # Sorted by length: batches of similar prompts pad less (a quarter fewer tokens for the 12);
    # every figure is a mean over the prompts, so their order does not change it.
    prompts = sorted(next_word_prompts(n), key=lambda p: len(p.prompt))
    with queued("stop words"):
        return stopword_probabilities(loaded, edit, prompts=prompts)


@cached(256)
def next_distribution(loaded, edit, prompt: str):
    """P(next token | prompt) under `edit`: one forward pass, shared by the table and the chart."""
    from sw_core.metrics._forward import next_token_log_probs

    with queued("next tokens"):
        return next_token_log_probs(loaded, [loaded.encode(prompt)[0].tolist()], edit)[0].exp()


def next_tokens(loaded, edit, prompt: str = NEXT_TOKEN_PROMPT, k: int = 8):
    """Top-k next tokens, original and edited, side by side as a table."""
    import pandas as pd

    def top(e):
        p = next_distribution(loaded, e, prompt)
        values, ids = p.topk(k)
        return [loaded.tokenizer.decode([i]) for i in ids.tolist()], values.tolist()

    (a, pa), (b, pb) = top(None), top(edit)
    return pd.DataFrame({"original": a, "p original": pa, "edited": b, "p edited": pb})


@dataclass
class NextWords:
    """The words most likely after a prompt under either model, with both probabilities."""

    prompt: str
    words: list[str]
    original: list[float]
    edited: list[float]

    def largest_changes(self) -> tuple[int, int]:
        """(the word that lost the most probability, the word that gained the most), as indices.

        By the change in probability, not its ratio: "Paris" 77% -> 0% is the lesson, "London"
        1.2% -> 0% (the same ratio) is not.
        """
        n = range(len(self.words))
        return (max(n, key=lambda i: self.original[i] - self.edited[i]),
                max(n, key=lambda i: self.edited[i] - self.original[i]))


def next_words(loaded, edit, prompt: str, k: int = 5) -> NextWords:
    """The union of each model's top-k next tokens, ordered by the original model's probability."""
    p0, p1 = next_distribution(loaded, None, prompt), next_distribution(loaded, edit, prompt)
    ids = list(dict.fromkeys(p0.topk(k).indices.tolist() + p1.topk(k).indices.tolist()))
    ids.sort(key=lambda i: -float(p0[i]))
    return NextWords(prompt, [loaded.tokenizer.decode([i]) for i in ids], [float(p0[i]) for i in ids],
                     [float(p1[i]) for i in ids])


@cached(128)
def zero_shot(loaded, edit, n: int = TRIVIA_QUESTIONS):
    from sw_core.metrics import trivia_questions, zero_shot_accuracy

    with queued("zero-shot"):
        return zero_shot_accuracy(loaded, edit, questions=trivia_questions(limit=n))


@dataclass
class Continuation:
    """A generated continuation shared by every session that asks for the same computation."""

    text: str = ""
    done: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


@cached(256)
def continuation(loaded, edit, prompt: str, max_new_tokens: int) -> Continuation:
    """The (initially empty) continuation for (model, edit, prompt, tokens): filled by `generation.py`.

    Cached by what is computed, never by a column label. Generation runs outside this function so
    its text can stream into the page (a cached function may only draw into elements it created).
    """
    return Continuation()


def edit_tasks(loaded, edits, *, prompt: str, next_prompt: str | None = None, gen_prompt: str | None = None):
    """The cached computations a page shows for each of `edits`, numbers first, texts last: what
    `precompute.ahead` computes before the click that asks for them."""
    from functools import partial

    from . import generation

    tasks = []
    for e in edits:
        tasks += [partial(perplexity, loaded, e), partial(next_distribution, loaded, e, prompt),
                  partial(stopwords, loaded, e)]
        if next_prompt:
            tasks.append(partial(next_distribution, loaded, e, next_prompt))
    tasks += [partial(generation.fill, loaded, e, gen_prompt or prompt) for e in edits]
    return tasks
