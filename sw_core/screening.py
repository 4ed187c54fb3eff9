"""Screening: rank candidate weights by the measured perplexity cost of removing each one.

Candidates: the detector's super weights plus the largest |W| of each early down projection.
Each candidate's removal is measured, not estimated: the same short text runs once per candidate
with that one weight off. Batched: one padded batch holds the unedited text (row 0) and one row
per candidate, and a per-row edit at the down projection removes each row's own weight, so N
candidates cost ceil((N + 1) / batch_size) forward passes of batch_size rows instead of N + 1
single-row passes. The per-row edits are ordinary edits (`Edit.per_row`), applied by the one edit
hook (`sw_core.hooks`): the edited output row is recomputed (exact in bf16/fp16 too), thread-safe,
the shared weights are only read. In a Mixture-of-Experts layer each expert's down projection is
one matrix: its candidates name the expert (`Coord.expert`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field


from . import texts
from .edits import Coord, off, validate
from .errors import BadInput
from .metrics.perplexity import nll_under_edits

DEFAULT_TEXT = "britannica"
DEFAULT_TOKENS = 64


@dataclass(frozen=True)
class Candidate:
    coord: Coord
    source: str  # "detector", "largest |W|" or both


@dataclass
class ScreenRow:
    rank: int
    weight: str  # "layer 11 [507, 1229]" ("layer 1 expert 2 [9, 33]" in a Mixture-of-Experts layer)
    layer: int
    row: int
    col: int
    value: float  # W[row, col]
    source: str
    ppl: float  # the text's perplexity with this weight off
    ppl_ratio: float  # / the unedited perplexity
    expert: int | None = None  # Mixture-of-Experts: the expert whose down projection holds it


@dataclass
class Screening:
    model: str
    tokens: int  # tokens of text scored
    baseline_ppl: float
    rows: list[ScreenRow]
    forwards: int  # batched forward passes used
    batch_size: int
    seconds: float
    sequential_seconds: float | None = None  # the same candidates one pass each (compare=True)
    sequential_ppl: list[float] | None = field(default=None, repr=False)

    @property
    def speedup(self) -> float | None:
        return None if self.sequential_seconds is None else self.sequential_seconds / self.seconds

    def table(self, top: int | None = None) -> list[dict]:
        """The ranking as plain dicts (a table for the app or the CLI)."""
        keep = ("rank", "weight", "value", "source", "ppl", "ppl_ratio")
        return [{k: getattr(r, k) for k in keep} for r in self.rows[:top]]


def candidates(loaded, detected: list[Coord] = (), *, per_layer: int = 2, layers: int | None = None) -> list[Candidate]:
    """The detector's weights, then the `per_layer` largest |W| of each of the first `layers`
    down projections (default: the first half of the layers; in a Mixture-of-Experts layer, of
    each expert's); duplicates merged."""
    n = loaded.num_layers
    layers = max(1, math.ceil(n / 2)) if layers is None else layers
    if not 1 <= layers <= n or per_layer < 0:
        raise BadInput(f"layers={layers}, per_layer={per_layer}: need 1 <= layers <= {n} and per_layer >= 0.")
    sources: dict[Coord, list[str]] = {c: ["detector"] for c in detected}
    for i in range(layers):
        proj = loaded.layers[i]
        for expert in range(proj.num_experts) if proj.num_experts else [None]:
            w = proj.dense_weight() if expert is None else proj.expert_weight(expert)  # [out, in]
            flat = w.abs().reshape(-1).float().topk(per_layer).indices.tolist() if per_layer else []
            for f in flat:
                c = Coord(i, f // w.shape[1], f % w.shape[1], expert)
                sources.setdefault(c, []).append("largest |W|")
    return [Candidate(c, " + ".join(s)) for c, s in sources.items()]


def screen(loaded, cands: list[Candidate], *, text: str | None = None, max_tokens: int = DEFAULT_TOKENS,
           batch_size: int = 8, compare: bool = False) -> Screening:
    """Measure every candidate's perplexity ratio on the first `max_tokens` tokens of `text`."""
    if not cands:
        raise BadInput("No candidate weights to screen.")
    if max_tokens < 2 or batch_size < 1:
        raise BadInput(f"max_tokens={max_tokens}, batch_size={batch_size}: need at least 2 tokens and 1 row.")
    ids = loaded.encode(texts.text(DEFAULT_TEXT) if text is None else text, max_tokens=max_tokens)[0]
    if ids.numel() < 2:
        raise BadInput("The text has fewer than 2 tokens: give a longer text to score.")
    coords = [c.coord for c in cands]
    validate(loaded, off(*coords))  # a clear error for a coordinate out of range, before any pass
    jobs = [None] + [off(c) for c in coords]  # row 0: the unedited text
    start = time.perf_counter()
    ppl = nll_under_edits(loaded, ids, jobs, batch_size=batch_size).double().mean(-1).exp().tolist()
    seconds = time.perf_counter() - start
    base = ppl[0]
    rows = [ScreenRow(0, str(c), c.layer, c.row, c.col, loaded.layers[c.layer].value_at(c), cand.source,
                      p, p / base, c.expert) for cand, c, p in zip(cands, coords, ppl[1:])]
    rows.sort(key=lambda r: -r.ppl_ratio)
    for k, r in enumerate(rows, 1):
        r.rank = k
    out = Screening(loaded.name, int(ids.numel()), base, rows, math.ceil(len(jobs) / batch_size), batch_size, seconds)
    if compare:
        out.sequential_seconds, out.sequential_ppl = _sequential(loaded, ids, jobs)
    return out


def _sequential(loaded, ids, jobs) -> tuple[float, list[float]]:
    """The baseline the batching is measured against: one single-row pass per job."""
    start, out = time.perf_counter(), []
    for edit in jobs:
        out.append(float(nll_under_edits(loaded, ids, [edit], batch_size=1)[0].double().mean().exp()))
    return time.perf_counter() - start, out


def screening_table(loaded, detected: list[Coord] = (), *, top: int = 10, per_layer: int = 2,
                    layers: int | None = None, **screen_kwargs) -> list[dict]:
    """For the app's opt-in table: the `top` rows (rank, weight, value, source, ppl, ppl_ratio) of
    a screening of the detector's weights plus the largest |W| of the early layers."""
    cands = candidates(loaded, detected, per_layer=per_layer, layers=layers)
    return screen(loaded, cands, **screen_kwargs).table(top)
