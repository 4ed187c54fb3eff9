"""A LAMBADA-like "predict the next word" prompt set cut from the shipped texts.

Each prompt is a whole sentence of running prose minus its last word; the held-out word is the
target. Deterministic: the same sentences in the same order every time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .. import texts
from ..errors import BadInput

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


@dataclass(frozen=True)
class NextWordPrompt:
    prompt: str  # the sentence without its last word
    target: str  # the last word, without punctuation


def next_word_prompts(n: int = 64, *, source: str = "britannica", min_words: int = 8,
                      max_words: int = 40) -> list[NextWordPrompt]:
    """The first `n` usable sentences of `source` (a shipped name or a .txt path), last word held out."""
    if n < 1:
        raise BadInput(f"n={n}: ask for at least one prompt.")
    body = texts.text(source)
    out: list[NextWordPrompt] = []
    for para in body.split("\n\n"):
        for sentence in _SENTENCE_END.split(" ".join(para.split())):
            words = sentence.split()
            if not min_words <= len(words) <= max_words:
                continue
            target = re.sub(r"[^\w'-]+$", "", words[-1])
            if not target.isalpha():  # skip dates, numbers, references
                continue
            out.append(NextWordPrompt(" ".join(words[:-1]), target))
            if len(out) == n:
                return out
    if not out:
        raise BadInput(f"No sentence of {min_words}-{max_words} words found in '{source}': give running prose.")
    return out
