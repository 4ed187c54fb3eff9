"""Metrics of what an edit does to a model: perplexity, stop-word probability, next tokens,
zero-shot accuracy, and the control edit (the largest weights that are not super weights)."""

from .control import control_edit, largest_other_weights
from .next_tokens import NextTokenComparison, TokenProb, compare_next_tokens, top_next_tokens
from .perplexity import perplexity, token_nll
from .prompts import NextWordPrompt, next_word_prompts
from .stopwords import (STOP_WORDS, StopWordProbs, StopWordShift, WordRatio, stopword_effect,
                        stopword_probabilities, stopword_shift)
from .zeroshot import Question, ZeroShotResult, trivia_pairs, trivia_questions, zero_shot_accuracy

__all__ = [
    "perplexity", "token_nll",
    "NextWordPrompt", "next_word_prompts",
    "STOP_WORDS", "StopWordProbs", "StopWordShift", "WordRatio", "stopword_probabilities", "stopword_shift",
    "stopword_effect",
    "TokenProb", "NextTokenComparison", "top_next_tokens", "compare_next_tokens",
    "Question", "ZeroShotResult", "trivia_pairs", "trivia_questions", "zero_shot_accuracy",
    "control_edit", "largest_other_weights",
]
