"""Attention sink: how much attention every head puts on the super-activation token.

Massive activations act as attention sinks (Sun et al., 2024): many heads park their attention
on the token that carries them. Per layer and head, the mean over the later query tokens of the
attention probability on the sink token, original vs super weights removed (eager attention
recomputed per layer; see `recording`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .recording import PassRecord


@dataclass
class AttentionSink:
    token: int
    original: list[list[float]]  # [layer][head]
    removed: list[list[float]]
    removed_weights: list[str]
    queries: int  # query tokens averaged over (the tokens after the sink)

    @staticmethod
    def _mean(rows) -> float:
        vals = [v for row in rows for v in row]
        return sum(vals) / len(vals) if vals else float("nan")

    @property
    def mean_original(self) -> float:
        return self._mean(self.original)

    @property
    def mean_removed(self) -> float:
        return self._mean(self.removed)

    def layer_means(self, which: str = "original") -> list[float]:
        return [sum(row) / len(row) for row in getattr(self, which)]

    def to_dict(self) -> dict:
        return {"token": self.token, "original": self.original, "removed": self.removed,
                "removed_weights": self.removed_weights, "queries": self.queries,
                "mean_original": self.mean_original, "mean_removed": self.mean_removed,
                "layer_means_original": self.layer_means("original"),
                "layer_means_removed": self.layer_means("removed")}


def attention_sink(orig: PassRecord, removed: PassRecord, token: int, n_tokens: int, removed_weights) -> AttentionSink:
    return AttentionSink(
        token=token, original=[r.tolist() for r in orig.sink], removed=[r.tolist() for r in removed.sink],
        removed_weights=[str(c) for c in removed_weights], queries=max(1, n_tokens - token - 1),
    )
