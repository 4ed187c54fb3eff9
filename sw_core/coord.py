"""A weight's address: layer, row (output channel) and column (input channel) of a down projection."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Coord:
    """A weight of layer `layer`'s down projection, [row = output channel, col = input channel].

    Ordered by (layer, row, col), so `sorted(coords)` lists weights in model order.
    """

    layer: int
    row: int
    col: int

    def __str__(self) -> str:
        return f"layer {self.layer} [{self.row}, {self.col}]"
