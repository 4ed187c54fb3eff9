"""The top next tokens after one prompt, original vs edited (the paper's "Summer is hot. Winter is")."""

from __future__ import annotations

from dataclasses import dataclass

from ..builtin_prompts import NEXT_TOKEN_PROMPT
from ..errors import BadInput
from ._forward import next_token_log_probs

DEFAULT_PROMPT = NEXT_TOKEN_PROMPT


@dataclass
class TokenProb:
    token: str
    token_id: int
    probability: float


@dataclass
class NextTokenComparison:
    prompt: str
    original: list[TokenProb]
    edited: list[TokenProb]


def top_next_tokens(loaded, prompt: str = DEFAULT_PROMPT, k: int = 10, edit=None) -> list[TokenProb]:
    """The `k` most probable next tokens after `prompt` under `edit`, most probable first."""
    if not isinstance(k, int) or k < 1:
        raise BadInput(f"k={k!r}: ask for at least one token.")
    probs = next_token_log_probs(loaded, [loaded.encode(prompt)[0].tolist()], edit)[0].exp()
    values, ids = probs.topk(min(k, probs.numel()))
    return [TokenProb(loaded.tokenizer.decode([i]), i, float(v)) for v, i in zip(values.tolist(), ids.tolist())]


def compare_next_tokens(loaded, edit, prompt: str = DEFAULT_PROMPT, k: int = 10) -> NextTokenComparison:
    return NextTokenComparison(prompt, top_next_tokens(loaded, prompt, k), top_next_tokens(loaded, prompt, k, edit))
