"""The report's measurements through the metrics' public functions, with the report's settings."""

from __future__ import annotations

from ..errors import BadInput
from ..metrics.impact import impact_rows


def zero_shot_count(wanted: int) -> tuple[int, str | None]:
    """How many zero-shot questions to ask, and why none when the shipped set is unavailable."""
    if wanted == 0:
        return 0, "zero-shot accuracy: skipped (0 questions asked for)"
    from ..metrics.zeroshot import trivia_questions

    try:
        trivia_questions(limit=1)
    except BadInput as e:
        return 0, f"zero-shot accuracy cannot run: {e}"
    return wanted, None


def texts(settings) -> dict[str, str]:
    from .. import texts as shipped

    return {name: shipped.text(name) for name in settings.texts}


def rows(loaded, conds, settings, *, questions: int, stop_prompts: int, max_tokens: int | None = None) -> list:
    """impact_rows with the settings Table 1 and the scale sweep share (one window per text).
    max_tokens: fewer tokens per text than the settings' (the per-weight sweep), window shrunk alike."""
    tokens = settings.max_tokens if max_tokens is None else max_tokens
    window = min(settings.window, tokens)
    return impact_rows(loaded, conds, texts=texts(settings), max_tokens=tokens, window=window,
                       stride=window, zero_shot=questions if questions else 0, stop_prompts=stop_prompts,
                       batch_size=4)
