"""One report section: its data (the JSON), its figures and tables (the HTML), or why it could not run."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..errors import SuperWeightError


class CannotRun(Exception):
    """Raised by a section that cannot run on this model; its message says why, for the reader."""


@dataclass
class Section:
    key: str  # its key in report.json
    title: str
    data: dict = field(default_factory=dict)
    why_not: str | None = None  # set when the section could not run
    notes: list[str] = field(default_factory=list)  # short paragraphs above the tables
    tables: list[tuple[str, list[dict]]] = field(default_factory=list)  # (caption, rows)
    figures: list = field(default_factory=list)  # plotly figures
    seconds: float = 0.0

    @property
    def ran(self) -> bool:
        return self.why_not is None

    def to_json(self) -> dict:
        return {"title": self.title, "ran": self.ran, "why_not": self.why_not, "seconds": round(self.seconds, 2),
                **self.data}


def run_section(key: str, title: str, build, ctx) -> Section:
    """build(ctx, section) fills the section; CannotRun (or a clear project error) becomes its why_not."""
    s = Section(key, title)
    start = time.perf_counter()
    try:
        build(ctx, s)
    except (CannotRun, SuperWeightError) as e:
        s.why_not = str(e)
        s.figures, s.tables = [], []
    s.seconds = time.perf_counter() - start
    return s
