"""The paper's own figures (assets/paper_figures.json), shown beside this model's, labelled as the paper's."""

from __future__ import annotations

import functools
import json
from pathlib import Path

PAPER_FIGURES = Path(__file__).resolve().parents[2] / "assets" / "paper_figures.json"


@functools.lru_cache(maxsize=1)
def paper_figures() -> dict:
    return json.loads(PAPER_FIGURES.read_text(encoding="utf-8"))


def citation() -> str:
    return paper_figures()["source"]


def label(where: str) -> str:
    """e.g. "paper, Llama-7B, Table 1": every paper number in the report carries such a label."""
    return f"paper ({where})"
