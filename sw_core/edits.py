"""Edits of single weights (toggle / scale) that never touch the shared model's weights.

Why hooks and not in-place edits under a lock: the loaded model is shared by every app session
and thread. A lock around in-place edits would serialise every forward pass of every user, and
an interrupted generation or a crash between "edit" and "undo" could leave weights modified. Here
each down projection carries one permanent forward hook (registered by `sw_core.instrument` at
load) that reads the caller's edit from a `contextvars.ContextVar`; the shared weights are read,
never written, so concurrent callers see
exactly their own edit and nothing can be left modified. It also works on bitsandbytes layers
(the hook reads the dequantized row).

How an edit is applied: for each edited output row r, the hook recomputes
    y[..., r] = x . w_r' (+ bias[r])
in float32, where w_r' is row r with each edited entry multiplied by its factor. Recomputing the
row, rather than subtracting (1 - f) * W[r, c] * x[c] from y, keeps the result accurate in
bf16/fp16 too, where y[r] of a super activation (~1e4) carries a rounding error larger than the
edited value itself. Cost: (#edited rows) x T x in_features multiply-adds per layer. The hook and
the recomputation live in `sw_core.hooks` (the hook core); this module holds the edit values.

"Restore the super activation" (the paper's Table 1 row "Prune SW, +SA"): the weights stay off,
and the layer's own unedited output is kept at (layer, channel) on the pinned positions
(`ActivationPin`; the pins come from `sw_core.restore`, the one place that builds them).
Positions are absolute: under a KV cache a decode step's tokens start at the cache length
(`sw_core.positions`), so a pin at token 0 never lands on a generated token.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

from .coord import Coord
from .errors import BadInput
from .hooks import active_edit, editing

__all__ = ["Coord", "ActivationPin", "Edit", "INHERIT", "off", "scaled", "current_edit", "applied", "validate"]


class _Inherit:
    """The type of `INHERIT`: pass it as `edit=` to keep the edit the caller applied."""

    def __repr__(self) -> str:
        return "INHERIT"


INHERIT = _Inherit()


@dataclass(frozen=True)
class ActivationPin:
    """Pin output channel `channel` of layer `layer`'s down projection at sequence position `token`.

    `token` is absolute: position 0 is the first token of the sequence, also when a KV cache holds
    the earlier tokens and the forward pass runs only the new ones.
    value=None keeps the unedited layer's own output there (restores the super activation of
    every input exactly, whatever the prompt); a number writes that value.

    above=A (with value=None) also pins every position whose unedited |output| is at least A: a
    window cut from the middle of a text can carry the super activation on its first two tokens
    (e.g. a split "\n\n"), not only on token 0. It reads values, not positions, so it is the
    same with and without a KV cache.
    """

    layer: int
    channel: int
    token: int = 0
    value: float | None = None
    above: float | None = None


@dataclass(frozen=True)
class Edit:
    """Weights with a factor each (0 = off, 1 = original) and activations to pin; or, in `rows`,
    one edit per batch row (None: that row unedited), for a batch that measures many conditions
    in one forward pass (`Edit.per_row`)."""

    factors: tuple[tuple[Coord, float], ...] = ()
    pins: tuple[ActivationPin, ...] = ()
    rows: tuple["Edit | None", ...] = ()

    def __post_init__(self):
        if self.rows and (self.factors or self.pins):
            raise BadInput("An edit per batch row holds only the rows' edits: put shared factors or pins in each row's edit.")
        if any(r is not None and r.rows for r in self.rows):
            raise BadInput("A batch row's edit cannot itself hold edits per row.")

    @staticmethod
    def of(factors: dict | None = None, pins=()) -> "Edit":
        items = tuple(sorted((factors or {}).items()))
        return Edit(items, tuple(pins))

    @staticmethod
    def per_row(edits) -> "Edit":
        """Batch row b runs under edits[b] (None: unedited); the batch must have len(edits) rows."""
        edits = tuple(edits)
        if not edits:
            raise BadInput("An edit per batch row needs at least one row.")
        return Edit(rows=tuple(None if e is None or e.is_identity else e for e in edits))

    @property
    def is_identity(self) -> bool:
        if self.rows:
            return all(r is None for r in self.rows)
        return not self.pins and all(f == 1.0 for _, f in self.factors)


def off(*coords: Coord) -> Edit:
    return Edit.of({c: 0.0 for c in coords})


def scaled(coords, factor: float) -> Edit:
    return Edit.of({c: factor for c in coords})


def current_edit() -> Edit | None:
    """The edit active in this thread / context, if any: the one explicit way to inherit it."""
    return active_edit()


current = current_edit  # the former name


def validate(loaded, edit: Edit) -> None:
    """Raise BadInput for a coordinate or factor that cannot be applied to this model."""
    for row in edit.rows:
        if row is not None:
            validate(loaded, row)
    n = loaded.num_layers
    for c, f in edit.factors:
        if not isinstance(f, (int, float)) or not math.isfinite(f):
            raise BadInput(f"Scale {f!r} for {c} is not a finite number: use a value such as 0 (off), 1 (original) or 2.")
        if f < 0:
            raise BadInput(f"Scale {f} for {c} is negative: use 0 (off) to 3; flip a sign on purpose with a custom edit only.")
        _check_coord(loaded, c.layer, c.row, c.col, n)
        _check_expert(loaded, c)
    for p in edit.pins:
        _check_coord(loaded, p.layer, p.channel, None, n)
        if p.value is not None and not math.isfinite(p.value):
            raise BadInput(f"Pinned activation value {p.value!r} is not finite.")
        if p.above is not None and (p.value is not None or not math.isfinite(p.above) or p.above <= 0):
            raise BadInput(f"Pin 'above={p.above!r}' needs a positive threshold and value=None (it keeps original outputs).")
        if p.token < 0:
            raise BadInput(f"Pin token {p.token} is negative: token positions count from 0.")


def _check_coord(loaded, layer, row, col, n):
    if not 0 <= layer < n:
        raise BadInput(f"Layer {layer} is out of range: this model has layers 0..{n - 1}.")
    proj = loaded.layers[layer]
    out_f, in_f = proj.out_features, proj.in_features
    if not 0 <= row < out_f:
        raise BadInput(f"Row {row} is out of range for layer {layer}: rows (output channels) are 0..{out_f - 1}.")
    if col is not None and not 0 <= col < in_f:
        raise BadInput(f"Column {col} is out of range for layer {layer}: columns (input channels) are 0..{in_f - 1}.")


def _check_expert(loaded, c: Coord) -> None:
    experts = getattr(loaded.layers[c.layer], "num_experts", 0)
    if experts and c.expert is None:
        raise BadInput(f"Layer {c.layer} is a Mixture-of-Experts layer: say which expert (0..{experts - 1}) holds {c}.")
    if not experts and c.expert is not None:
        raise BadInput(f"Layer {c.layer} has one dense MLP, no experts: drop the expert index from {c}.")
    if experts and not 0 <= c.expert < experts:
        raise BadInput(f"Expert {c.expert} is out of range for layer {c.layer}: experts are 0..{experts - 1}.")


@contextmanager
def applied(loaded, edit):
    """Run the body with `edit` in effect for this thread / context only; undone on every exit.

    edit=None runs the unedited model, also inside an outer `applied`; pass
    `INHERIT` to keep the caller's edit (or read it with `current_edit()`).
    """
    if edit is INHERIT:
        yield loaded
        return
    if edit is not None:
        validate(loaded, edit)  # the hooks that read it were registered by `instrument` at load
    with editing(edit):
        yield loaded
