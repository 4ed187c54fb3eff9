"""Persistence: the residual stream on the super activation's channel, layer by layer, per token.

Read from the decoder layers' outputs (before the final norm), original vs super weights removed:
where the value appears (creation), how long it stays, where the late layers cancel it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .recording import PassRecord


@dataclass
class Persistence:
    channel: int
    token: int  # the super-activation token, for the one-line summary
    tokens: list[str]
    original: list[list[float]]  # [layer][token]: residual after the layer, on `channel`
    removed: list[list[float]]  # the same with `removed_weights` off
    removed_weights: list[str]

    def at_token(self, which: str = "original") -> list[float]:
        return [row[self.token] for row in getattr(self, which)]

    def large_layers(self, which: str = "original", fraction: float = 0.25) -> list[int]:
        """Layers where |value| at the token is at least `fraction` of the original's peak."""
        peak = max(abs(v) for v in self.at_token("original"))
        return [i for i, v in enumerate(self.at_token(which)) if abs(v) >= fraction * peak]


def persistence(orig: PassRecord, removed: PassRecord, token: int, tokens: list[str], removed_weights) -> Persistence:
    return Persistence(
        channel=orig.channel, token=token, tokens=tokens,
        original=[r.tolist() for r in orig.resid], removed=[r.tolist() for r in removed.resid],
        removed_weights=[str(c) for c in removed_weights],
    )
