"""Generated text side by side, one column per (model, edit) setting, streamed when first computed."""

from __future__ import annotations

import streamlit as st

from . import limits
from .cached import continuation
from .jobs import queued

GEN_TOKENS = 32  # a sentence or two; a toggle's new text is drawn within the Classroom's 3 s
GEN_PROMPT = "The capital of France is"  # the pages' first prompt: without the super weights, "Paris" is lost


def side_by_side(settings: dict, prompt: str, max_new_tokens: int = GEN_TOKENS, *,
                 stacked: bool = False) -> dict[str, str]:
    """settings: {column label: (loaded, edit)}; returns {label: generated text}.

    stacked: one text under the other (in a narrow column beside a chart) instead of side by side.

    Each column's text is cached by (model, edit, prompt, tokens) alone, so two pages that label
    the same computation differently share it and can never read each other's labels.
    """
    from sw_core import generate

    limits.check_prompt(prompt)
    limits.check_new_tokens(max_new_tokens)
    boxes = {}
    places = [st.container() for _ in settings] if stacked else st.columns(len(settings))
    for col, label in zip(places, settings):
        col.markdown(f"**{label}**")
        boxes[label] = col.empty()
    texts = {}
    for label, (loaded, edit) in settings.items():
        box, c = boxes[label], continuation(loaded, edit, prompt, max_new_tokens)
        with c.lock:  # a second session asking for the same text waits for it instead of recomputing
            if not c.done:
                text = ""
                with queued("generate"):
                    for piece in generate.stream(loaded, prompt, max_new_tokens=max_new_tokens, edit=edit):
                        text += piece
                        box.code(prompt + text, language=None, wrap_lines=True)
                c.text, c.done = text, True  # only a finished text is shared
        texts[label] = c.text
        box.code(prompt + c.text, language=None, wrap_lines=True)
    return texts


def generated_text(loaded, edit, prompt: str, max_new_tokens: int = GEN_TOKENS) -> str:
    """The generated text for (model, edit, prompt, tokens), computed now if no one has: for work done
    ahead of a click (`precompute.py`), which draws nothing."""
    from sw_core import generate

    c = continuation(loaded, edit, prompt, max_new_tokens)
    with c.lock:
        if not c.done:
            with queued("generate"):
                c.text = "".join(generate.stream(loaded, prompt, max_new_tokens=max_new_tokens, edit=edit))
            c.done = True
    return c.text
