"""The screens' figures: the library draws (`sw_core.figures`, data in, figure out), this module
gives the screens those drawings and the ones that need cached numbers, so a screen imports no library.
"""

from __future__ import annotations

from dataclasses import dataclass

from sw_core import figures as plots
# The library's drawings a screen lays out as they are (re-exported: a screen imports no library).
from sw_core.figures import (activation_heatmap, attention_sink_figure, attention_sink_heatmap,  # noqa: F401
                             max_per_layer, pathway_figure, perplexity_ratio_bars, persistence_figure,
                             persistence_heatmap, vocabulary_class_figure, vocabulary_lens_figure)
from sw_core.metrics import stopword_shift

from .cached import NEXT_TOKEN_PROMPT, next_distribution, stopwords


@dataclass
class NextWords:
    """The words most likely after a prompt under either model, with both probabilities."""

    prompt: str
    words: list[str]
    original: list[float]
    edited: list[float]

    def largest_changes(self) -> tuple[int, int]:
        """(the word that lost the most probability, the word that gained the most), as indices.

        By the change in probability, not its ratio: "Paris" 77% -> 0% is the lesson, "London"
        1.2% -> 0% (the same ratio) is not.
        """
        n = range(len(self.words))
        return (max(n, key=lambda i: self.original[i] - self.edited[i]),
                max(n, key=lambda i: self.edited[i] - self.original[i]))


def next_words(loaded, edit, prompt: str, k: int = 5) -> NextWords:
    """The union of each model's top-k next tokens, ordered by the original model's probability."""
    p0, p1 = next_distribution(loaded, None, prompt), next_distribution(loaded, edit, prompt)
    ids = list(dict.fromkeys(p0.topk(k).indices.tolist() + p1.topk(k).indices.tolist()))
    ids.sort(key=lambda i: -float(p0[i]))
    return NextWords(prompt, [loaded.tokenizer.decode([i]) for i in ids], [float(p0[i]) for i in ids],
                     [float(p1[i]) for i in ids])


def next_tokens_table(loaded, edit, prompt: str = NEXT_TOKEN_PROMPT, k: int = 8):
    """Top-k next tokens, original and edited, side by side as a table."""
    import pandas as pd

    def top(e):
        p = next_distribution(loaded, e, prompt)
        values, ids = p.topk(k)
        return [loaded.tokenizer.decode([i]) for i in ids], values.tolist()

    (a, pa), (b, pb) = top(None), top(edit)
    return pd.DataFrame({"original": a, "p original": pa, "edited": b, "p edited": pb})


def shown(token: str) -> str:
    """A token as a chart label: a leading space as ␣, a newline as ↵ (else they are invisible)."""
    return token.replace(" ", "␣").replace("\n", "↵") or "∅"


def stopword_figure(loaded, edit, *, title: str = "Next-token probability of stop words", font_size: int = 14,
                    edited_name: str = "edited"):
    """The stop-word bar chart (original vs edited, ratio on top) and the shift it shows."""
    shift = stopword_shift(stopwords(loaded, None), stopwords(loaded, edit))
    words = [shown(w.word) for w in shift.words] + ["all stop words", "true next word"]
    ratios = shift.words + [shift.stop_mass, shift.target]
    fig = plots.probability_bars(words, [r.original for r in ratios], [r.edited for r in ratios],
                                 ratios=[r.ratio for r in ratios], title=f"{title} ({shift.prompts} sentences)",
                                 font_size=font_size, names=("original", edited_name), show_ratios=edit is not None)
    return fig, shift


def next_word_figure(loaded, edit, prompt: str, *, font_size: int = 14, edited_name: str = "edited", k: int = 5):
    """Bars of the likeliest next words after `prompt`, original vs edited, and the numbers behind them."""
    nw = next_words(loaded, edit, prompt, k=k)
    fig = plots.probability_bars([shown(w) for w in nw.words], nw.original, nw.edited,
                                 title=f"Next word after “{prompt}”", font_size=font_size,
                                 names=("original", edited_name), show_ratios=edit is not None)
    return fig, nw


def next_word_rows(loaded, edit, prompt: str, *, font_size: int = 20, edited_name: str = "edited",
                   k: int = 3, height: int = 400):
    """The next-word chart for a projector (`sw_core.figures.next_word_rows`) and the numbers behind it."""
    nw = next_words(loaded, edit, prompt, k=k)
    fig = plots.next_word_rows([shown(w) for w in nw.words], nw.original, nw.edited, prompt, font_size=font_size,
                               edited_name=edited_name, height=height, show_ratios=edit is not None)
    return fig, nw


def token_heatmap(scan):
    """The token heatmap and how it aggregated a long prompt (None: one column per token)."""
    return plots.token_heatmap(scan), plots.token_aggregation(scan)
