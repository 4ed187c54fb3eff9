"""Every cached result of the app, shared by every session: the loaded models, the computations the
screens show, the mechanism views, the catalog check and the quantized copies.

Why `st.cache_resource` and not `st.cache_data`: results are read-only and shared, and need no
pickling per hit. A Loaded is hashed by `model_key` (HASH_FUNCS), never stored, so a cached
result cannot keep an evicted model alive. Heavy bodies run through the job queue
(`jobs.queued`); a cached function never calls another queued one inside its own queued block.
Each cache holds at most `max_entries` results (tests/test_app_cache_module.py checks that none is
unbounded), except the quantized copies, which are bounded by bytes (see `quantized_model`). No
`ttl`: a result never goes stale, since the shared model is never changed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import streamlit as st

from sw_core.builtin_prompts import NEXT_TOKEN_PROMPT, PAPER_PROMPT
from sw_core.loading import Loaded

from . import limits
from .continuation import Continuation
from .jobs import queued
from .public import is_public

DETECTION_PROMPTS = (
    PAPER_PROMPT,  # the first one is the page default
    NEXT_TOKEN_PROMPT,
    "The quick brown fox jumps over the lazy dog.",
    "In 1905, Albert Einstein published four papers on physics.",
)
PPL_TEXT, PPL_TOKENS = "britannica", 256  # short, so a toggle updates within seconds on a small CPU
STOP_PROMPTS = 12  # sentences of the shipped text, last word held out (a LAMBADA stand-in)
TRIVIA_QUESTIONS = 20
VOCABULARY_SENTENCES = 24  # next-word sentences for the class shift (the CLI's `explain` uses 64)
VOCABULARY_PROMPTS = 8  # built-in prompts for the every-position shift (the CLI uses all 24)


def model_key(loaded: Loaded) -> str:
    """What identifies a model for derived caches: a quantized copy differs from its original by `source`."""
    return f"{loaded.ref}|{loaded.source}|{loaded.input_device}|{loaded.dtype}"


# Derived caches hash a Loaded by this key instead of by its weights; they never store the model
# itself, so evicting a model from `load_model` frees it.
HASH_FUNCS = {Loaded: model_key}


def _shared(max_entries: int):
    """st.cache_resource keyed by the model's identity, not its weights."""
    return st.cache_resource(show_spinner=False, max_entries=max_entries, hash_funcs=HASH_FUNCS)


# --- the models ---------------------------------------------------------------------------------

@st.cache_resource(show_spinner=False, max_entries=2)
def load_model(ref: str, device: str, dtype: str, trust_remote_code: bool = False, allow_pickle: bool = False):
    """The model for one resolved load request (`session.resolved_request`), loaded once per process."""
    from sw_core.loading import load

    with queued(f"load {ref}"):
        return load(ref, device=device, dtype=dtype, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)


# --- scans, detection, screening ----------------------------------------------------------------

@_shared(64)
def spike_scan(loaded, prompt: str):
    """A scan of `prompt` that also traces, per token, the channel of the largest output spike."""
    from sw_core.scan import scan

    with queued("scan"):
        first = scan(loaded, prompt)
        spike = max(first.layers, key=lambda s: s.out_max)
        return scan(loaded, prompt, track_channel=spike.out_channel)


@_shared(16)
def detection(loaded, prompts: tuple[str, ...]):
    from sw_core.detect import find_super_weights

    with queued("detection"):
        return find_super_weights(loaded, list(prompts), each=True)  # each weight's own impact too (3 passes)


@_shared(8)
def screening(loaded, detected: tuple) -> list[dict]:
    """The screening table: candidates ranked by their measured perplexity ratio (sw_core.screening)."""
    from sw_core.screening import screening_table

    with queued("screening"):
        return screening_table(loaded, list(detected), top=15, per_layer=1)


@_shared(16)
def catalog_check(loaded, prompts: tuple[str, ...] = DETECTION_PROMPTS[:1]):
    """Which catalogued coordinates of `loaded` the detector re-finds on `prompts` (the pages' detection)."""
    from sw_core import catalog

    det = detection(loaded, prompts)  # queued on its own: not nested below
    with queued("catalog check"):
        return catalog.verify(loaded, det)


@_shared(1)
def catalog_entries() -> list[dict]:
    """Every published super weight in the shipped catalog, one dict per entry."""
    from sw_core import catalog

    return [e.to_dict() for e in catalog.all_entries()]


# --- what an edit changes -----------------------------------------------------------------------

@_shared(256)
def perplexity(loaded, edit, text_name: str = PPL_TEXT, max_tokens: int = PPL_TOKENS) -> float:
    from sw_core import texts
    from sw_core.metrics import perplexity as ppl

    limits.check_ppl_tokens(max_tokens)
    with queued("perplexity"):
        return ppl(loaded, texts.text(text_name, max_chars=8 * max_tokens), max_tokens=max_tokens, edit=edit)


@_shared(128)
def stopwords(loaded, edit, n: int = STOP_PROMPTS):
    from sw_core.metrics import next_word_prompts, stopword_probabilities

    # Sorted by length: batches of similar prompts pad less (a quarter fewer tokens for the 12);
    # every figure is a mean over the prompts, so their order does not change it.
    prompts = sorted(next_word_prompts(n), key=lambda p: len(p.prompt))
    with queued("stop words"):
        return stopword_probabilities(loaded, edit, prompts=prompts)


@_shared(256)
def next_distribution(loaded, edit, prompt: str):
    """P(next token | prompt) under `edit`: one forward pass, shared by the table and the chart."""
    from sw_core.metrics._forward import next_token_log_probs

    with queued("next tokens"):
        return next_token_log_probs(loaded, [loaded.encode(prompt)[0].tolist()], edit)[0].exp()


@_shared(128)
def zero_shot(loaded, edit, n: int = TRIVIA_QUESTIONS):
    from sw_core.metrics import trivia_questions, zero_shot_accuracy

    with queued("zero-shot"):
        return zero_shot_accuracy(loaded, edit, questions=trivia_questions(limit=n))


@_shared(256)
def continuation(loaded, edit, prompt: str, max_new_tokens: int) -> Continuation:
    """The (initially empty) continuation for (model, edit, prompt, tokens): filled by `generation.py`.

    Cached by what is computed, never by a column label. Generation runs outside this function, in
    a thread of its own, so pages can follow its text as it grows (`continuation.follow`).
    """
    return Continuation()


# --- the mechanism ------------------------------------------------------------------------------

@_shared(16)
def mechanism(loaded, prompt: str, coords: tuple):
    """Pathway, persistence and attention sink on `prompt` (three forward passes)."""
    from sw_core.mechanism import explain

    with queued("mechanism"):
        return explain(loaded, prompt, list(coords), with_vocabulary=False)


@_shared(16)
def vocabulary(loaded, channel: int, sign: int, main: tuple):
    """The channel through the unembedding and the measured class shift with the main super weight off."""
    from sw_core.builtin_prompts import builtin_prompts
    from sw_core.mechanism.vocabulary import vocabulary as measure
    from sw_core.metrics import next_word_prompts

    with queued("vocabulary"):
        return measure(loaded, channel, sign, [main], sentences=next_word_prompts(VOCABULARY_SENTENCES),
                       prompts=builtin_prompts()[:VOCABULARY_PROMPTS])


# --- quantized copies, bounded by bytes ---------------------------------------------------------
# Why our own LRU here and not st.cache_resource(max_entries=...): what a copy costs varies fourfold
# and more with the setting, measured on the embedded model (`own_bytes`): a down-projections-only
# copy ~0.1 GB, an every-linear-layer copy ~0.4 GB, a bitsandbytes reload the whole model. A count
# sized for the large copies keeps a quarter of the small ones it could; one sized for the small
# ones lets large copies overrun the budget fourfold. So the copies are kept while their own
# tensors (those not shared with the original) fit in `quant_budget_bytes()`, least recently used
# leaving first; a copy larger than the whole budget is used but not kept. `SW_QUANT_CACHE_MB`
# sets the budget (default 1024 MB, 256 MB in public mode).

DEFAULT_QUANT_BUDGET_MB = 1024  # two all-layer copies of the embedded model (the page compares two settings)
# Public mode: down-projection copies (~0.1 GB) are kept, an all-layer one (~0.4 GB) is rebuilt when
# needed again (0.2 s), so four sessions stay under 2x the model + 1 GB (docs/deploy.md).
PUBLIC_QUANT_BUDGET_MB = 256

_copies_lock = threading.Lock()
_copies: OrderedDict = OrderedDict()  # key -> (Loaded, bytes), least recently used first
_building: dict = {}  # key -> Lock: one build per key, the others wait for it and reuse it


def quant_budget_bytes() -> int:
    mb = limits.env_int("SW_QUANT_CACHE_MB", minimum=0)  # 0: keep no copy
    if mb is None:
        mb = PUBLIC_QUANT_BUDGET_MB if is_public() else DEFAULT_QUANT_BUDGET_MB
    return mb << 20


def own_bytes(copy, original) -> int:
    """Bytes of the tensors `copy` holds that `original` does not share with it."""
    def tensors(m):
        return list(m.parameters()) + list(m.buffers())

    shared = {t.data_ptr() for t in tensors(original.model)}
    seen, total = set(), 0
    for t in tensors(copy.model):
        ptr = t.data_ptr()
        if ptr not in shared and ptr not in seen:
            seen.add(ptr)
            total += t.numel() * t.element_size()
    return total


def quantized_copies_kept() -> dict:
    """{"copies": n, "bytes": total, "budget": budget} (for tests and the bench)."""
    with _copies_lock:
        return {"copies": len(_copies), "bytes": sum(b for _, b in _copies.values()), "budget": quant_budget_bytes()}


def forget_quantized_copies() -> None:
    with _copies_lock:
        _copies.clear()


def _kept_copy(key):
    with _copies_lock:
        hit = _copies.get(key)
        if hit is not None:
            _copies.move_to_end(key)
            return hit[0]
    return None


def _keep_copy(key, copy, size: int) -> None:
    budget = quant_budget_bytes()
    with _copies_lock:
        if size > budget:
            return  # used by this run, never kept
        _copies[key] = (copy, size)
        while sum(b for _, b in _copies.values()) > budget:
            _copies.popitem(last=False)


def quantized_model(loaded, setting, coords: tuple):
    """The quantized copy of the shared model (the shared model itself is never changed)."""
    from sw_core.quant import quantized

    key = (model_key(loaded), setting, tuple(coords))
    hit = _kept_copy(key)
    if hit is not None:
        return hit
    with _copies_lock:
        build_lock = _building.setdefault(key, threading.Lock())
    with build_lock:  # a second session asking for the same copy waits here, then finds it kept
        hit = _kept_copy(key)
        if hit is not None:
            return hit
        try:
            with queued(f"quantize {setting.label}"):
                copy = quantized(loaded, setting, list(coords))
        finally:
            with _copies_lock:
                _building.pop(key, None)
        if copy is not loaded:
            _keep_copy(key, copy, own_bytes(copy, loaded))
        return copy


@_shared(64)
def quant_perplexity(loaded, setting, coords: tuple, max_tokens: int = PPL_TOKENS) -> float:
    q = quantized_model(loaded, setting, coords)  # queues on its own: not nested below
    return perplexity(q, None, PPL_TEXT, max_tokens)


@st.cache_resource(show_spinner=False, max_entries=1)
def report_slots() -> threading.BoundedSemaphore:
    """The process-wide slots for building reports (`report_jobs`): `limits.max_report_jobs` at once."""
    return threading.BoundedSemaphore(limits.current().max_report_jobs)
