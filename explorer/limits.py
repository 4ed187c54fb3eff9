"""Caps on user input that hold everywhere: generous by default, tighter on a public server.

Why caps at all: one page request must not be able to occupy a shared CPU for minutes (a 1 MB
prompt, 100,000 generated tokens). Locally the caps only catch mistakes; with `SW_PUBLIC=1` they
keep a free Space responsive. Each cap can be overridden by an environment variable
(`SW_MAX_PROMPT_CHARS`, `SW_MAX_NEW_TOKENS`, `SW_MAX_PPL_TOKENS`, `SW_MAX_CONCURRENT_JOBS`).
"""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass, replace

from sw_core.errors import BadInput
from .public import is_public


@dataclass(frozen=True)
class Limits:
    max_prompt_chars: int
    max_new_tokens: int
    max_ppl_tokens: int
    max_concurrent_jobs: int
    max_report_jobs: int  # reports built at once (each takes CPU-minutes), on top of the job queue's bound


# Local use: caps that only catch mistakes.
DEFAULT = Limits(max_prompt_chars=20_000, max_new_tokens=1024, max_ppl_tokens=100_000, max_concurrent_jobs=4,
                 max_report_jobs=2)
# A public server (2 shared vCPUs on a free Space): a few seconds of work per request.
PUBLIC = Limits(max_prompt_chars=2_000, max_new_tokens=128, max_ppl_tokens=2_048, max_concurrent_jobs=2,
                max_report_jobs=1)

_ENV = {
    "max_prompt_chars": "SW_MAX_PROMPT_CHARS",
    "max_new_tokens": "SW_MAX_NEW_TOKENS",
    "max_ppl_tokens": "SW_MAX_PPL_TOKENS",
    "max_concurrent_jobs": "SW_MAX_CONCURRENT_JOBS",
    "max_report_jobs": "SW_MAX_REPORT_JOBS",
}


def current() -> Limits:
    """The limits in force now: public ones when SW_PUBLIC=1, else the defaults; env overrides win."""
    base = PUBLIC if is_public() else DEFAULT
    overrides = {name: env_int(var) for name, var in _ENV.items()}
    overrides = {name: value for name, value in overrides.items() if value is not None}
    return replace(base, **overrides) if overrides else base


def env_int(var: str, minimum: int = 1) -> int | None:
    """The whole number in environment variable `var` (None when unset or blank); BadInput if invalid."""
    raw = os.environ.get(var)
    if raw is None or not raw.strip():
        return None
    try:
        value = int(raw)
    except ValueError:
        raise BadInput(f"{var}={raw!r} is not an integer: set it to a whole number of at least {minimum} or unset it.") from None
    if value < minimum:
        raise BadInput(f"{var}={value} must be at least {minimum}.")
    return value


def check_prompt(text) -> str:
    """`text` unchanged if it is a non-empty string within the prompt cap, else BadInput."""
    if not isinstance(text, str):
        raise BadInput(f"The prompt must be text, not {type(text).__name__}.")
    if not text.strip():
        raise BadInput("The prompt is empty: type some text to run the model on.")
    cap = current().max_prompt_chars
    if len(text) > cap:
        raise BadInput(
            f"The prompt is {len(text):,} characters long; the limit here is {cap:,}. Shorten it."
        )
    return text


def _check_count(n, what: str, cap: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (numbers.Integral, float)):
        raise BadInput(f"The number of {what} must be a whole number from 1 to {cap:,}, not {n!r}.")
    if isinstance(n, float) and not n.is_integer():
        raise BadInput(f"The number of {what} must be a whole number from 1 to {cap:,}, not {n}.")
    n = int(n)
    if not 1 <= n <= cap:
        raise BadInput(f"{n:,} {what} asked for; allowed: 1 to {cap:,}.")
    return n


def check_new_tokens(n) -> int:
    """`n` as an int if 1 <= n <= max_new_tokens, else BadInput saying the allowed range."""
    return _check_count(n, "new tokens", current().max_new_tokens)


def check_ppl_tokens(n) -> int:
    """`n` as an int if 1 <= n <= max_ppl_tokens (tokens scored by a perplexity run), else BadInput."""
    return _check_count(n, "perplexity tokens", current().max_ppl_tokens)
