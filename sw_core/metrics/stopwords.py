"""Stop-word probability: does the edited model fall back on "the", ".", ","?

The paper (Sec. 3.3, Fig. 5) finds that without the super weight the next-token distribution
moves toward stop words (2-5x more probable) and away from content words. Here: over the
LAMBADA-like prompt set of `prompts.py`, the mean probability of each stop word as the next
token, and of the held-out target word (a content word), original vs edited.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import BadInput
from ._forward import next_token_log_probs_under
from .prompts import NextWordPrompt, next_word_prompts

# Words take a leading space (they follow a word); punctuation does not.
STOP_WORDS = (" the", " and", " of", " a", " to", " in", " is", " that", ".", ",")


@dataclass
class StopWordProbs:
    """Mean next-token probabilities over the prompt set, for one condition."""

    words: dict[str, float]  # stop word -> mean probability
    stop_mass: float  # mean total probability of all the stop words
    target: float  # mean probability of the held-out word's first token
    target_top1: float  # fraction of prompts whose top token is that first token
    prompts: int


@dataclass
class WordRatio:
    word: str
    original: float
    edited: float
    ratio: float  # edited / original


@dataclass
class StopWordShift:
    """Original vs edited: ratio > 1 means the edit made the word more likely."""

    words: list[WordRatio]
    stop_mass: WordRatio
    target: WordRatio  # the content word the sentence actually ends with
    prompts: int


def _first_token(loaded, word: str) -> int:
    ids = loaded.tokenizer(word, add_special_tokens=False)["input_ids"]
    if not ids:
        raise BadInput(f"The word {word!r} gives no token with this tokenizer.")
    return ids[0]


def stopword_probabilities(loaded, edit=None, *, prompts: list[NextWordPrompt] | None = None,
                           words=STOP_WORDS, batch_size: int = 8, progress=None) -> StopWordProbs:
    """Mean next-token probability of each stop word (and of the true next word) under `edit`."""
    return stopword_probabilities_under(loaded, [edit], prompts=prompts, words=words, batch_size=batch_size,
                                        progress=progress)[0]


def stopword_probabilities_under(loaded, edits: list, *, prompts: list[NextWordPrompt] | None = None,
                                 words=STOP_WORDS, batch_size: int = 8, progress=None) -> list[StopWordProbs]:
    """`stopword_probabilities` under each of `edits`, the conditions batched together."""
    prompts = prompts if prompts is not None else next_word_prompts()
    if not prompts:
        raise BadInput("The prompt set is empty: give at least one prompt.")
    ids = [loaded.encode(p.prompt)[0].tolist() for p in prompts]
    word_ids = {w: _first_token(loaded, w) for w in words}
    targets = torch.tensor([_first_token(loaded, " " + p.target) for p in prompts])
    rows = torch.arange(len(prompts))
    stop_cols = torch.tensor(sorted(set(word_ids.values())))
    out = []
    for logp in next_token_log_probs_under(loaded, ids, edits, batch_size=batch_size, progress=progress):
        probs = logp.exp()  # [N, V]
        out.append(StopWordProbs(
            words={w: float(probs[:, i].mean()) for w, i in word_ids.items()},
            stop_mass=float(probs[:, stop_cols].sum(-1).mean()),
            target=float(probs[rows, targets].mean()),
            target_top1=float((probs.argmax(-1) == targets).float().mean()),
            prompts=len(prompts),
        ))
    return out


def _ratio(word: str, a: float, b: float) -> WordRatio:
    return WordRatio(word, a, b, b / a if a > 0 else float("inf"))


def stopword_shift(original: StopWordProbs, edited: StopWordProbs) -> StopWordShift:
    """Per-word ratios edited / original of two `stopword_probabilities` results."""
    return StopWordShift(
        words=[_ratio(w, original.words[w], edited.words[w]) for w in original.words if w in edited.words],
        stop_mass=_ratio("stop words", original.stop_mass, edited.stop_mass),
        target=_ratio("true next word", original.target, edited.target),
        prompts=original.prompts,
    )


def stopword_effect(loaded, edit, **kwargs) -> StopWordShift:
    """Both conditions at once: `stopword_probabilities` unedited and under `edit`, then the ratios."""
    return stopword_shift(stopword_probabilities(loaded, None, **kwargs), stopword_probabilities(loaded, edit, **kwargs))
