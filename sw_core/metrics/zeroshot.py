"""Zero-shot multiple-choice accuracy on a question set that ships offline.

The set: the English trivia question/answer pairs of `chatterbot-corpus` (BSD-3; installed with
--no-deps, its files read through importlib.metadata), each made into a `choices`-way question
whose distractors are other questions' answers, drawn with a fixed seed. A question is answered
by the choice with the highest log-likelihood given "Question: ...\nAnswer:", summed over the
choice's tokens ("acc") or averaged per token ("acc_norm"-like, `normalize=True`). Chance is
1 / choices.
"""

from __future__ import annotations

import functools
import importlib.metadata as md
import random
from dataclasses import dataclass
from pathlib import Path

from ..errors import BadInput
from ._forward import continuation_log_probs_under
from ._prefix import shared_prefix_log_probs

_TRIVIA = "chatterbot_corpus/data/english/trivia.yml"


@dataclass(frozen=True)
class Question:
    question: str
    choices: tuple[str, ...]
    answer: int  # index into choices


@dataclass
class ZeroShotResult:
    accuracy: float
    correct: int
    questions: int
    chance: float
    normalize: bool
    picks: list[int]  # the chosen index per question


@functools.lru_cache(maxsize=1)
def trivia_pairs() -> tuple[tuple[str, str], ...]:
    """(question, answer) pairs of chatterbot-corpus english/trivia.yml, malformed entries skipped."""
    import yaml

    try:
        path = Path(md.distribution("chatterbot-corpus").locate_file(_TRIVIA))
    except md.PackageNotFoundError:
        raise BadInput("The zero-shot set comes from the 'chatterbot-corpus' package, which is not installed: run `make setup`.") from None
    if not path.is_file():
        raise BadInput(f"{_TRIVIA} is missing from the installed chatterbot-corpus: reinstall it with `make setup`.")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    pairs, seen = [], set()
    for conv in data.get("conversations") or []:
        if not (isinstance(conv, list) and len(conv) >= 2):
            continue  # one entry in the file is a bare string
        q, a = (" ".join(str(x).split()) for x in conv[:2])
        a = a.rstrip(".")
        if q and a and q not in seen:
            seen.add(q)
            pairs.append((q, a))
    return tuple(pairs)


def trivia_questions(choices: int = 4, seed: int = 0, limit: int | None = None) -> list[Question]:
    """Multiple-choice questions: each true answer plus `choices - 1` other answers, shuffled by `seed`."""
    pairs = trivia_pairs()
    if not 2 <= choices <= len(pairs):
        raise BadInput(f"choices={choices}: use 2..{len(pairs)}.")
    rng = random.Random(seed)
    answers = sorted({a for _, a in pairs})
    out = []
    for q, a in pairs[:limit] if limit else pairs:
        others = [x for x in answers if x.lower() != a.lower()]
        options = rng.sample(others, choices - 1) + [a]
        rng.shuffle(options)
        out.append(Question(q, tuple(options), options.index(a)))
    return out


def _format(question: str) -> str:
    return f"Question: {question}\nAnswer:"


def zero_shot_accuracy(loaded, edit=None, *, questions: list[Question] | None = None, normalize: bool = False,
                       batch_size: int = 16, progress=None) -> ZeroShotResult:
    """Fraction of `questions` (default: all trivia, 4-way) whose most likely choice is right, under `edit`."""
    return zero_shot_accuracies(loaded, [edit], questions=questions, normalize=normalize, batch_size=batch_size,
                                progress=progress)[0]


def zero_shot_accuracies(loaded, edits: list, *, questions: list[Question] | None = None, normalize: bool = False,
                         batch_size: int = 16, progress=None) -> list[ZeroShotResult]:
    """`zero_shot_accuracy` under each of `edits`, the conditions batched together (per-row edits)."""
    questions = questions if questions is not None else trivia_questions()
    if not questions:
        raise BadInput("No questions given: pass at least one Question.")
    pairs, owner = [], []
    for qi, q in enumerate(questions):
        ctx = loaded.encode(_format(q.question))[0].tolist()
        for choice in q.choices:
            cont = loaded.tokenizer(" " + choice, add_special_tokens=False)["input_ids"]
            pairs.append((ctx, cont))
            owner.append(qi)
    # Each question's context runs once, its choices on top of it; a model whose cache cannot share
    # a prefix (not plain per-layer keys/values) runs every (context, choice) sequence whole.
    per_edit = (shared_prefix_log_probs(loaded, pairs, edits, batch_size=batch_size, progress=progress)
                or continuation_log_probs_under(loaded, pairs, edits, batch_size=batch_size, progress=progress))
    out = []
    for scores in per_edit:
        per_q: list[list[float]] = [[] for _ in questions]
        for qi, (total, n) in zip(owner, scores):
            per_q[qi].append(total / n if normalize else total)
        picks = [max(range(len(s)), key=s.__getitem__) for s in per_q]
        correct = sum(p == q.answer for p, q in zip(picks, questions))
        out.append(ZeroShotResult(correct / len(questions), correct, len(questions), 1 / len(questions[0].choices),
                                  normalize, picks))
    return out
