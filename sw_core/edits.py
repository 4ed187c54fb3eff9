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
edited value itself. Cost: (#edited rows) x T x in_features multiply-adds per layer.

"Restore the super activation" (the paper's Table 1 row "Prune SW, +SA"): the weights stay off,
and the layer's own unedited output is kept at (layer, channel) on the pinned positions
(`ActivationPin`; the pins come from `sw_core.restore`, the one place that builds them).
Positions are absolute: under a KV cache a decode step's tokens start at the cache length
(`sw_core.positions`), so a pin at token 0 never lands on a generated token.
"""

from __future__ import annotations

import contextvars
import math
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from .coord import Coord
from .errors import BadInput
from .moe import as_sequences, recompute_rows
from .positions import offset
from .weights import dense_weight_of

__all__ = ["Coord", "ActivationPin", "Edit", "INHERIT", "off", "scaled", "current_edit", "applied", "validate"]

_ACTIVE: contextvars.ContextVar["Edit | None"] = contextvars.ContextVar("sw_edit", default=None)


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
    """Weights with a factor each (0 = off, 1 = original) and activations to pin."""

    factors: tuple[tuple[Coord, float], ...] = ()
    pins: tuple[ActivationPin, ...] = ()

    @staticmethod
    def of(factors: dict | None = None, pins=()) -> "Edit":
        items = tuple(sorted((factors or {}).items()))
        return Edit(items, tuple(pins))

    @property
    def is_identity(self) -> bool:
        return not self.pins and all(f == 1.0 for _, f in self.factors)

    def by_layer(self) -> dict[int, list[tuple[Coord, float]]]:
        out: dict[int, list[tuple[Coord, float]]] = {}
        for c, f in self.factors:
            out.setdefault(c.layer, []).append((c, f))
        return out


def off(*coords: Coord) -> Edit:
    return Edit.of({c: 0.0 for c in coords})


def scaled(coords, factor: float) -> Edit:
    return Edit.of({c: factor for c in coords})


def current_edit() -> Edit | None:
    """The edit active in this thread / context, if any: the one explicit way to inherit it."""
    return _ACTIVE.get()


current = current_edit  # the former name


def validate(loaded, edit: Edit) -> None:
    """Raise BadInput for a coordinate or factor that cannot be applied to this model."""
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

    edit=None (or `Edit()`) runs the unedited model, also inside an outer `applied`; pass
    `INHERIT` to keep the caller's edit (or read it with `current_edit()`).
    """
    if edit is INHERIT:
        yield loaded
        return
    if edit is not None:
        validate(loaded, edit)  # the hooks that read it were registered by `instrument` at load
    token = _ACTIVE.set(edit)
    try:
        yield loaded
    finally:
        _ACTIVE.reset(token)


def edited_output(layer: int, transposed: bool, module, inputs, output, experts: bool = False):
    """Layer `layer`'s down projection output under the active edit; None when nothing changes.

    Called by the one hook per down projection (`sw_core.instrument`), with the module the hook
    fired on: the weight is read from it, so a deep copy of the model edits its own weights.
    experts=True: `module` is a Mixture-of-Experts layer's experts module, `inputs` its arguments
    (hidden, top_k_index, top_k_weights); edited rows are recomputed by `sw_core.moe`.
    """
    edit = _ACTIVE.get()
    if edit is None or edit.is_identity:
        return None
    rows = [cf for cf in edit.factors if cf[0].layer == layer and cf[1] != 1.0]
    pins = [p for p in edit.pins if p.layer == layer]
    if not rows and not pins:
        return None
    x = inputs[0]
    y = output.clone()
    if rows and experts:
        recompute_rows(module, inputs, y, rows)
    elif rows:
        recompute_dense_rows(module, transposed, x, y, rows)
    if pins and experts:  # the experts see [batch x tokens, hidden]: pins need the token axis back
        y = _apply_pins(pins, as_sequences(output), as_sequences(y)).reshape(-1, y.shape[-1])
    elif pins:
        _apply_pins(pins, output, y)
    return y


def _apply_pins(pins, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Write each pin into y [..., T, C] (and return it); token positions are absolute
    (`sw_core.positions`)."""
    start = offset()  # absolute position of this call's first token
    for p in pins:
        local = p.token - start
        if 0 <= local < y.shape[-2]:
            y[..., local, p.channel] = output[..., local, p.channel] if p.value is None else p.value
        if p.above is not None:
            orig = output[..., p.channel]
            y[..., p.channel] = torch.where(orig.abs() >= p.above, orig, y[..., p.channel])
    return y


def recompute_dense_rows(module, transposed: bool, x: torch.Tensor, y: torch.Tensor, rows) -> None:
    """Write into y [..., T, out] the output rows of `rows` ((Coord, factor) pairs of this layer)
    recomputed in float32 from x [..., T, in] with each weight scaled by its factor."""
    by_row: dict[int, list[tuple[int, float]]] = {}
    for c, f in rows:
        by_row.setdefault(c.row, []).append((c.col, f))
    row_ids = sorted(by_row)
    weight = dense_weight_of(module, transposed)
    w = weight[row_ids].to(device=x.device, dtype=torch.float32).clone()  # [R, in]
    for i, r in enumerate(row_ids):
        for col, f in by_row[r]:
            w[i, col] *= f
    new = x.to(torch.float32) @ w.t()  # [..., T, R]
    bias = getattr(module, "bias", None)
    if bias is not None:
        new += bias[row_ids].to(device=x.device, dtype=torch.float32)
    y[..., row_ids] = new.to(y.dtype)
