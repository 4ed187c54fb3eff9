"""Cached, queued mechanism views for the Mechanism screen (`sw_core.mechanism`)."""

from __future__ import annotations

from .computed import cached
from .jobs import queued

VOCABULARY_SENTENCES = 24  # next-word sentences for the class shift (the CLI's `explain` uses 64)
VOCABULARY_PROMPTS = 8  # built-in prompts for the every-position shift (the CLI uses all 24)


@cached(16)
def mechanism(loaded, prompt: str, coords: tuple):
    """Pathway, persistence and attention sink on `prompt` (three forward passes)."""
    from sw_core.mechanism import explain

    with queued("mechanism"):
        return explain(loaded, prompt, list(coords), with_vocabulary=False)


@cached(16)
def vocabulary(loaded, channel: int, sign: int, main: tuple):
    """The channel through the unembedding and the measured class shift with the main super weight off."""
    from sw_core.mechanism.vocabulary import vocabulary as measure
    from sw_core.metrics import next_word_prompts
    from sw_core.builtin_prompts import builtin_prompts

    with queued("vocabulary"):
        return measure(loaded, channel, sign, [main], sentences=next_word_prompts(VOCABULARY_SENTENCES),
                       prompts=builtin_prompts()[:VOCABULARY_PROMPTS])
