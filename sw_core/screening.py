"""Screening: rank candidate weights by the measured perplexity cost of removing each one.

Candidates: the detector's super weights plus the largest |W| of each early down projection.
Each candidate's removal is measured, not estimated: the same short text runs once per candidate
with that one weight off. Batched: one padded batch holds the unedited text (row 0) and one row
per candidate, and a per-row edit at the down projection removes each row's own weight, so N
candidates cost ceil((N + 1) / batch_size) forward passes of batch_size rows instead of N + 1
single-row passes. The per-row edit recomputes the edited output row, as `sw_core.edits` does
(exact in bf16/fp16 too), through the project's permanent hooks (`mechanism.tap`): thread-safe,
the shared weights are only read.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from .edits import Coord, Edit, applied, off, recompute_dense_rows, validate
from .errors import BadInput
from .mechanism.tap import Tap, first_tensor, tapped

DEFAULT_TEXT = "britannica"
DEFAULT_TOKENS = 64


@dataclass(frozen=True)
class Candidate:
    coord: Coord
    source: str  # "detector", "largest |W|" or both


@dataclass
class ScreenRow:
    rank: int
    weight: str  # "layer 11 [507, 1229]"
    layer: int
    row: int
    col: int
    value: float  # W[row, col]
    source: str
    ppl: float  # the text's perplexity with this weight off
    ppl_ratio: float  # / the unedited perplexity


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
    down projections (default: the first half of the layers); duplicates merged."""
    n = loaded.num_layers
    layers = max(1, math.ceil(n / 2)) if layers is None else layers
    if not 1 <= layers <= n or per_layer < 0:
        raise BadInput(f"layers={layers}, per_layer={per_layer}: need 1 <= layers <= {n} and per_layer >= 0.")
    sources: dict[Coord, list[str]] = {c: ["detector"] for c in detected}
    for i in range(layers):
        w = loaded.layers[i].dense_weight()
        flat = w.abs().reshape(-1).float().topk(per_layer).indices.tolist() if per_layer else []
        for f in flat:
            c = Coord(i, f // w.shape[1], f % w.shape[1])
            sources.setdefault(c, []).append("largest |W|")
    return [Candidate(c, " + ".join(s)) for c, s in sources.items()]


class _RowEdits(Tap):
    """Batch row b runs with its own weight off: at layer L, y[b, :, r] = x[b] . W[r] with W[r, c] = 0."""

    def __init__(self, loaded, per_row: dict[int, Coord], batch: int):
        self.batch = batch
        self.by_layer: dict[int, list[tuple[int, Coord]]] = {}
        for b, c in per_row.items():
            self.by_layer.setdefault(c.layer, []).append((b, c))
        self.loaded = loaded

    def on_proj(self, i, inputs, output):
        if i not in self.by_layer:
            return
        proj, out = self.loaded.layers[i], first_tensor(output)
        # [B, T, C] views (OPT's MLP runs on a flattened [B * T, C]); writes go through to `out`,
        # which the layer passes on. The row is recomputed as every edit recomputes it.
        x, y = inputs[0].view(self.batch, -1, inputs[0].shape[-1]), out.view(self.batch, -1, out.shape[-1])
        for b, c in self.by_layer[i]:
            recompute_dense_rows(proj.module, proj.transposed, x[b], y[b], [(c, 0.0)])


def _row_nll(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Mean next-token NLL per batch row, for rows that all hold the same ids [T]."""
    logp = logits[:, :-1].float().log_softmax(-1)
    target = ids[1:].to(logp.device).expand(logp.shape[0], -1)
    return -logp.gather(-1, target[..., None])[..., 0].mean(-1).cpu()


def screen(loaded, cands: list[Candidate], *, text: str | None = None, max_tokens: int = DEFAULT_TOKENS,
           batch_size: int = 8, compare: bool = False) -> Screening:
    """Measure every candidate's perplexity ratio on the first `max_tokens` tokens of `text`."""
    from . import texts

    if not cands:
        raise BadInput("No candidate weights to screen.")
    if max_tokens < 2 or batch_size < 1:
        raise BadInput(f"max_tokens={max_tokens}, batch_size={batch_size}: need at least 2 tokens and 1 row.")
    ids = loaded.encode(texts.text(DEFAULT_TEXT) if text is None else text)[0, :max_tokens]
    if ids.numel() < 2:
        raise BadInput("The text has fewer than 2 tokens: give a longer text to score.")
    jobs: list[Coord | None] = [None] + [c.coord for c in cands]  # None: the unedited row
    validate(loaded, off(*jobs[1:]))  # a clear error for a coordinate out of range, before any pass
    nll, start, forwards = [], time.perf_counter(), 0
    for lo in range(0, len(jobs), batch_size):
        group = jobs[lo:lo + batch_size]
        per_row = {b: c for b, c in enumerate(group) if c is not None}
        batch = ids[None].expand(len(group), -1).to(loaded.input_device)
        with torch.inference_mode(), applied(loaded, Edit()), tapped(_RowEdits(loaded, per_row, len(group))):
            logits = loaded.model(input_ids=batch, use_cache=False).logits
        nll.append(_row_nll(logits, ids))
        forwards += 1
    seconds = time.perf_counter() - start
    ppl = torch.cat(nll).double().exp().tolist()
    base = ppl[0]
    rows = [ScreenRow(0, str(c.coord), c.coord.layer, c.coord.row, c.coord.col,
                      float(loaded.layers[c.coord.layer].dense_weight()[c.coord.row, c.coord.col]),
                      c.source, p, p / base) for c, p in zip(cands, ppl[1:])]
    rows.sort(key=lambda r: -r.ppl_ratio)
    for k, r in enumerate(rows, 1):
        r.rank = k
    out = Screening(loaded.name, int(ids.numel()), base, rows, forwards, batch_size, seconds)
    if compare:
        out.sequential_seconds, out.sequential_ppl = _sequential(loaded, ids, jobs)
    return out


def _sequential(loaded, ids, jobs) -> tuple[float, list[float]]:
    """The baseline the batching is measured against: one single-row pass per job, edits by `off`."""
    start, out = time.perf_counter(), []
    for c in jobs:
        with torch.inference_mode(), applied(loaded, Edit() if c is None else off(c)):
            logits = loaded.model(input_ids=ids[None].to(loaded.input_device), use_cache=False).logits
        out.append(float(_row_nll(logits, ids)[0].double().exp()))
    return time.perf_counter() - start, out


def screening_table(loaded, detected: list[Coord] = (), *, top: int = 10, per_layer: int = 2,
                    layers: int | None = None, **screen_kwargs) -> list[dict]:
    """For the app's opt-in table: the `top` rows (rank, weight, value, source, ppl, ppl_ratio) of
    a screening of the detector's weights plus the largest |W| of the early layers."""
    cands = candidates(loaded, detected, per_layer=per_layer, layers=layers)
    return screen(loaded, cands, **screen_kwargs).table(top)
