"""Vocabulary effect: which tokens the super activation's channel promotes, and what removing a
super weight does to the next-token distribution, by token class.

1. Channel lens: the final norm scales channel c by its gain g[c]; the unembedding then adds
   W_U[v, c] * g[c] * h[c] / rms(h) to token v's logit. So the channel's own direction over the
   vocabulary is W_U[:, c] * g[c] (times the sign of the super activation): its largest entries are
   the tokens it promotes, its smallest the tokens it suppresses. (For a LayerNorm the mean
   subtraction adds a small term shared by all channels, left out.)
2. Measured shift: the next-token probability summed per token class, original vs the weight
   removed, on two prompt sets: the stop-word metric's next-word sentences (prose, the last
   position: the paper's setting) and the built-in prompts (code, numbers, eight languages...,
   every position after the first, which is the super-activation token itself).
   Classes by the token's text: stop words (English function words, a superset of the stop-word
   metric's list), punctuation, digits, content words (letters), other (spaces, symbols, mixed).
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass

import torch

from ..edits import off
from ..metrics._forward import condition_logits, next_token_log_probs_under
from ..metrics.prompts import next_word_prompts
from ..metrics.stopwords import STOP_WORDS
from ..builtin_prompts import builtin_prompts
from .layout import apply_vec, final_norm_and_head

DEFAULT_SENTENCES = 64  # next-word sentences, as the stop-word metric's default
CLASSES = ("stop words", "punctuation", "digits", "content words", "other")
FUNCTION_WORDS = frozenset({w.strip() for w in STOP_WORDS if w.strip().isalpha()} | {
    "a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "by", "for", "with", "from",
    "as", "is", "are", "was", "were", "be", "been", "it", "its", "this", "that", "these", "those", "he",
    "she", "they", "we", "you", "i", "his", "her", "their", "our", "not", "no", "so", "than", "then",
    "there", "which", "who", "what", "when", "where", "has", "have", "had", "do", "does", "did", "can",
    "will", "would", "could", "should", "may", "might", "into", "about", "also", "all", "some",
})


@dataclass
class TokenScore:
    token: str
    id: int
    score: float  # logit change per unit of the normalized channel value


@dataclass
class ClassShift:
    name: str
    original: float  # mean next-token probability mass of the class
    removed: float
    ratio: float  # removed / original


@dataclass
class Vocabulary:
    channel: int
    sign: int  # sign of the super activation (its direction is W_U[:, c] * gain * sign)
    promoted: list[TokenScore]
    suppressed: list[TokenScore]
    classes: list[ClassShift]  # next-word sentences, last position
    classes_builtin: list[ClassShift]  # built-in prompts, every position after the first
    removed_weights: list[str]
    sentences: int
    prompts: int
    positions: int


def token_class(text: str) -> str:
    s = text.strip()
    if not s:
        return "other"
    if s.lower() in FUNCTION_WORDS:
        return "stop words"
    if all(unicodedata.category(ch).startswith("P") for ch in s):
        return "punctuation"
    if s.isdigit():
        return "digits"
    if s.isalpha():
        return "content words"
    return "other"


def class_matrix(loaded) -> torch.Tensor:
    """[vocab, classes] one-hot of each token's class (built once per `vocabulary` call; the app
    caches the results, the library keeps nothing)."""
    tok = loaded.tokenizer
    vocab = loaded.model.get_output_embeddings().weight.shape[0]
    texts = tok.batch_decode([[i] for i in range(vocab)]) if hasattr(tok, "batch_decode") else \
        [tok.decode([i]) for i in range(vocab)]
    index = {c: i for i, c in enumerate(CLASSES)}
    classes = torch.tensor([index[token_class(t)] for t in texts])
    return torch.nn.functional.one_hot(classes, len(CLASSES)).float()


def channel_lens(loaded, channel: int, sign: int, k: int = 10) -> tuple[list[TokenScore], list[TokenScore]]:
    """(promoted, suppressed) tokens of `channel` through the final norm and the unembedding."""
    norm, head = final_norm_and_head(loaded)
    d = head.shape[1]
    probe = torch.zeros(d)
    probe[channel] = 1.0
    gain = float(apply_vec(norm, probe)[channel]) / math.sqrt(d)  # RMSNorm of a one-hot: sqrt(d) * g[c]
    scores = head[:, channel].detach().float().cpu() * gain * sign
    top, bottom = scores.topk(k), (-scores).topk(k)
    return _named(loaded, top.indices, scores), _named(loaded, bottom.indices, scores)


def _named(loaded, ids, scores) -> list[TokenScore]:
    return [TokenScore(loaded.tokenizer.decode([int(i)]), int(i), float(scores[i])) for i in ids]


def class_mass(loaded, edits: list, prompts, classes: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Mean next-token probability per class over every position after the first of `prompts`
    (built-in `Prompt`s), under each of `edits` (None: unedited): [C, classes]; and the number of
    positions. The conditions share each pass (per-row edits). classes: `class_matrix`."""
    m = classes.to(loaded.input_device)
    total, positions = torch.zeros(len(edits), len(CLASSES)), 0
    for p in prompts:
        ids = loaded.encode(p.text, add_bos=p.add_bos)
        if ids.shape[1] < 2:
            continue
        logits = condition_logits(loaded, ids, edits)[:, 0, 1:]  # [C, T - 1, V]
        total += (logits.softmax(-1) @ m).sum(1).cpu()
        positions += logits.shape[1]
    return total / max(1, positions), positions


def class_mass_next_word(loaded, edits: list, sentences, classes: torch.Tensor) -> torch.Tensor:
    """Mean next-token probability per class at the end of each next-word sentence, under each of
    `edits`: [C, classes]."""
    ids = [loaded.encode(p.prompt)[0].tolist() for p in sentences]
    return (next_token_log_probs_under(loaded, ids, edits).exp() @ classes).mean(1)


def _shifts(orig, rem) -> list[ClassShift]:
    return [ClassShift(n, float(a), float(b), float(b / a) if a > 0 else float("inf")) for n, a, b in zip(CLASSES, orig, rem)]


def vocabulary(loaded, channel: int, sign: int, removed_weights, *, prompts=None, sentences=None,
               k: int = 10) -> Vocabulary:
    """The channel lens and both measured class shifts (`removed_weights` off vs the original)."""
    promoted, suppressed = channel_lens(loaded, channel, sign, k)
    prompts = builtin_prompts() if prompts is None else prompts
    sentences = next_word_prompts(DEFAULT_SENTENCES) if sentences is None else sentences
    edit, classes = off(*removed_weights), class_matrix(loaded)
    (orig, rem), positions = class_mass(loaded, [None, edit], prompts, classes)
    words = _shifts(*class_mass_next_word(loaded, [None, edit], sentences, classes))
    return Vocabulary(channel, sign, promoted, suppressed, words, _shifts(orig, rem),
                      [str(c) for c in removed_weights], len(sentences), len(prompts), positions)
