"""Generated text side by side, one column per (model, edit) setting, drawn as it is computed.

Each text is computed once for every session (`cached.continuation`), in a thread of its own
(`start`): a page starts its texts first, measures its numbers while they are generated (one torch
thread each, `lanes`), then `side_by_side` draws each text as it grows, whoever computes it (this
page, another session, the work ahead). A text is dropped midway only when every page run that
asked for it has ended (`continuation`).
"""

from __future__ import annotations

import contextvars
import threading
from contextlib import suppress

import streamlit as st

from sw_core.errors import BadInput

from . import jobs, lanes, limits
from .cached import continuation
from .continuation import follow

GEN_TOKENS = 32  # a sentence or two; a toggle's new text is drawn within the Classroom's 3 s
GEN_PROMPT = "The capital of France is"  # the pages' first prompt: without the super weights, "Paris" is lost


def start(settings: dict, prompt: str, max_new_tokens: int = GEN_TOKENS) -> None:
    """Start computing each text of `settings` ({label: (loaded, edit)}) that no one has computed
    or is computing, each in a thread of its own running torch on one thread (`lanes`). A prompt
    or length the limits refuse starts nothing: `side_by_side` says why where the texts are drawn."""
    with suppress(BadInput):
        _started(settings, prompt, max_new_tokens)


def _started(settings: dict, prompt: str, max_new_tokens: int) -> list:
    """The continuation of each setting, every one computed, being computed, or started now."""
    limits.check_prompt(prompt)
    limits.check_new_tokens(max_new_tokens)
    out = []
    for loaded, edit in settings.values():
        c = continuation(loaded, edit, prompt, max_new_tokens)
        if c.claim(threading.current_thread()):  # dropped if this run, and every other asking, ends first
            # In a copy of this context: a text that background work starts stays background work (`jobs`).
            threading.Thread(target=contextvars.copy_context().run, name="sw-text", daemon=True,
                             args=(_compute_beside, c, loaded, edit, prompt, max_new_tokens)).start()
        out.append(c)
    return out


def _compute_beside(c, loaded, edit, prompt: str, max_new_tokens: int) -> None:
    with lanes.one_thread():
        _compute(c, loaded, edit, prompt, max_new_tokens)


def _compute(c, loaded, edit, prompt: str, max_new_tokens: int) -> None:
    """Generate the claimed continuation `c`, reporting each piece; any error is handed to its followers."""
    from sw_core import generate

    text = ""
    try:
        with jobs.heavy_job("generate"):  # no place in line drawn: this thread belongs to no page
            pieces = generate.stream(loaded, prompt, max_new_tokens=max_new_tokens, edit=edit)
            try:
                for piece in pieces:
                    text += piece
                    if not c.grow(text):
                        return  # no one waits for it any more
            finally:
                pieces.close()  # stops the generating thread at its next token
    except BaseException as e:  # noqa: BLE001 - raised by every follower
        c.fail(e)
    else:
        c.finish(text)


def side_by_side(settings: dict, prompt: str, max_new_tokens: int = GEN_TOKENS, *,
                 stacked: bool = False) -> dict[str, str]:
    """settings: {column label: (loaded, edit)}; returns {label: generated text}.

    stacked: one text under the other (in a narrow column beside a chart) instead of side by side.

    Each column's text is cached by (model, edit, prompt, tokens) alone, so two pages that label
    the same computation differently share it and can never read each other's labels.
    """
    pending = _started(settings, prompt, max_new_tokens)
    places = [st.container() for _ in settings] if stacked else st.columns(len(settings))
    boxes = []
    for col, label in zip(places, settings):
        col.markdown(f"**{label}**")
        boxes.append(col.empty())
    drawn: list = [None] * len(settings)
    for texts in follow(pending):
        for i, text in enumerate(texts):
            if text != drawn[i]:
                boxes[i].code(prompt + text, language=None, wrap_lines=True)
                drawn[i] = text
    return dict(zip(settings, drawn))


def generated_text(loaded, edit, prompt: str, max_new_tokens: int = GEN_TOKENS) -> str:
    """The generated text for (model, edit, prompt, tokens), computed now in this thread if no one
    has: for work done ahead of a click (`precompute.py`), which draws nothing."""
    c = continuation(loaded, edit, prompt, max_new_tokens)
    if c.claim():
        _compute(c, loaded, edit, prompt, max_new_tokens)
    return list(follow([c]))[-1][0]
