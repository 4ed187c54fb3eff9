"""A weight's address: layer, row (output channel) and column (input channel) of a down projection,
and, in a Mixture-of-Experts layer, the expert whose down projection holds it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import total_ordering


@total_ordering
@dataclass(frozen=True)
class Coord:
    """A weight of layer `layer`'s down projection, [row = output channel, col = input channel].

    expert: None for a dense MLP; in a Mixture-of-Experts layer, the expert's index.
    Ordered by (layer, expert, row, col) with dense (None) first, so `sorted(coords)` lists
    weights in model order.
    """

    layer: int
    row: int
    col: int
    expert: int | None = None

    def _key(self) -> tuple[int, int, int, int]:
        return (self.layer, -1 if self.expert is None else self.expert, self.row, self.col)

    def __lt__(self, other: "Coord") -> bool:
        if not isinstance(other, Coord):
            return NotImplemented
        return self._key() < other._key()

    def to_dict(self) -> dict:
        """{"layer", "row", "col"}, plus "expert" in a Mixture-of-Experts layer."""
        d = {"layer": self.layer, "row": self.row, "col": self.col}
        return d if self.expert is None else {**d, "expert": self.expert}

    def __str__(self) -> str:
        where = f"layer {self.layer}" if self.expert is None else f"layer {self.layer} expert {self.expert}"
        return f"{where} [{self.row}, {self.col}]"
