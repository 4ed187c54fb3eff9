"""The hook core: every read and every edit of a forward pass goes through this module.

Two ContextVars say what the calling thread / context wants of the passes it runs: the active
edit (`editing`, set by `sw_core.edits.applied`) and the active recorder (`recording`). The hooks
below are registered once per model, at load, by `sw_core.instrument`, and read both; every other
thread's pass costs them two lookups. Nothing is registered per scan or per edit: adding or
removing hooks while another thread runs a forward races inside torch's hook dictionaries.

Hook sites, in the order they act within one decoder block (one `Recorder` method each):
- every decoder linear, pre-hook: its input (`on_linear_input`, calibration passes);
- every block, pre-hook: the residual stream entering it (`on_block_start`);
- every dense down projection, ONE forward hook: first the active edit (`edited_output`), then
  the recorder reads the (edited) output (`on_down_proj`). One hook, so the order cannot drift;
- every Mixture-of-Experts experts module, ONE forward hook: the same for the fused experts
  (`on_experts`; `sw_core.moe` recomputes per expert what the edit / the recorder needs);
- every block, forward hook: the residual stream leaving it (`on_block_end`).

The one edit function, `edited_output`, recomputes each edited output row in float32 from the
layer's input with the edited weights (see `sw_core.edits` for why), and writes pins. An edit may
hold one edit per batch row (`Edit.per_row`): each row's edit is applied to that row's slice
only, so one padded batch measures many conditions (screening, verification). Nothing else writes
a layer's output: a recorder only reads.

Hooks read the weight from the module they are called with and close over nothing but a layer
index or a name, so `copy.deepcopy(model)` keeps working hooks of its own.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch

from .errors import UnsupportedArchitecture
from .moe import as_sequences, recompute_rows
from .positions import offset
from .weights import dense_weight_of

if TYPE_CHECKING:
    from .edits import Edit

_EDIT: contextvars.ContextVar["Edit | None"] = contextvars.ContextVar("sw_edit", default=None)
_RECORDER: contextvars.ContextVar["Recorder | None"] = contextvars.ContextVar("sw_recorder", default=None)
# (layer, rows): a pass that runs one sequence up to block `layer` and `rows` copies of it from there
_BRANCH: contextvars.ContextVar["tuple[int, int] | None"] = contextvars.ContextVar("sw_branch", default=None)


def active_edit() -> "Edit | None":
    """The edit active in this thread / context, if any."""
    return _EDIT.get()


def active_recorder() -> "Recorder | None":
    """The recorder active in this thread / context, if any."""
    return _RECORDER.get()


@contextmanager
def editing(edit: "Edit | None"):
    """`edit` is the active edit of this context for the body (None: no edit); reset on every exit.
    Callers use `sw_core.edits.applied`, which validates the edit first."""
    token = _EDIT.set(edit)
    try:
        yield edit
    finally:
        _EDIT.reset(token)


@contextmanager
def branching(layer: int, copies: int):
    """The body's passes run their B sequences up to decoder block `layer`, whose inputs are then
    repeated `copies` times (rows c B + b: copy c of sequence b): for conditions (per-row edits)
    that differ from that block on only, the blocks before it run once instead of once per
    condition. Under a KV cache, blocks before `layer` cache B rows, the later ones C x B.
    Reset on every exit."""
    token = _BRANCH.set((layer, copies))
    try:
        yield
    finally:
        _BRANCH.reset(token)


def first_edited_layer(edit: "Edit") -> int | None:
    """The first layer any row of `edit` changes (a factor other than 1, or a pin); None: none."""
    layers = [c.layer for e in (edit.rows or (edit,)) if e is not None for c, f in e.factors if f != 1.0]
    layers += [p.layer for e in (edit.rows or (edit,)) if e is not None for p in e.pins]
    return min(layers, default=None)


@contextmanager
def recording(rec: "Recorder | None"):
    """`rec` is the active recorder of this context for the body (None: none); reset on every exit,
    also when the forward raises."""
    token = _RECORDER.set(rec)
    try:
        yield rec
    finally:
        _RECORDER.reset(token)


class Recorder:
    """What one forward pass keeps: override the sites you need; each gets the layer index first.

    A recorder only reads. A recorder that reads dense down projections (overrides
    `on_down_proj`) must also say what it reads on a Mixture-of-Experts layer (`on_experts`):
    otherwise an MoE model is refused with a clear error instead of silently recording nothing.
    `inputs_of`: names of decoder linears whose whole input `on_linear_input` receives.
    """

    inputs_of: frozenset[str] = frozenset()

    def on_down_proj(self, layer: int, x: torch.Tensor, y: torch.Tensor) -> None:
        """A dense down projection ran: input x [..., T, in], (edited) output y [..., T, out]."""

    def on_experts(self, layer: int, module, args: tuple, y: torch.Tensor) -> None:
        """A Mixture-of-Experts layer ran: `module` the fused experts, `args` (hidden [N, hidden],
        top_k_index, top_k_weights), y [N, hidden] the routed experts' (edited) sum."""
        if type(self).on_down_proj is not Recorder.on_down_proj:
            raise UnsupportedArchitecture(
                f"{type(self).__name__} reads dense down projections, and layer {layer} is a "
                "Mixture-of-Experts layer: this reading is not available for MoE models.")

    def on_linear_input(self, name: str, x: torch.Tensor) -> None:
        """Decoder linear `name` (one of `inputs_of`) is about to run on x [..., in]."""

    def on_block_start(self, layer: int, args: tuple, kwargs: dict) -> None:
        """Decoder block `layer` is about to run (its input: `block_input(args, kwargs)`)."""

    def on_block_end(self, layer: int, args: tuple, kwargs: dict, output) -> None:
        """Decoder block `layer` ran (its output: `first_tensor(output)`)."""


def block_input(args, kwargs) -> torch.Tensor | None:
    return args[0] if args else kwargs.get("hidden_states")


def first_tensor(obj) -> torch.Tensor | None:
    """The hidden states of a block's output (a tensor, a tuple starting with one, or a ModelOutput)."""
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, (tuple, list)) and obj and isinstance(obj[0], torch.Tensor):
        return obj[0]
    return getattr(obj, "last_hidden_state", None)


# The hooks `sw_core.instrument` registers (one factory per site).

def down_proj_hook(layer: int, transposed: bool):
    def hook(module, inputs, output):
        edited = edited_output(layer, transposed, module, inputs, output)  # None: unchanged
        rec = _RECORDER.get()
        if rec is not None:
            rec.on_down_proj(layer, inputs[0], output if edited is None else edited)
        return edited

    return hook


_EXPERT_ARGS = ("hidden_states", "top_k_index", "top_k_weights")


def experts_hook(layer: int):
    def hook(module, args, kwargs, output):
        args = tuple(args) + tuple(kwargs[k] for k in _EXPERT_ARGS if k in kwargs)
        edited = edited_output(layer, False, module, args, output, experts=True)  # None: unchanged
        rec = _RECORDER.get()
        if rec is not None:
            rec.on_experts(layer, module, args, output if edited is None else edited)
        return edited

    return hook


def linear_input_hook(name: str):
    def hook(module, args):
        rec = _RECORDER.get()
        if rec is not None and name in rec.inputs_of:
            rec.on_linear_input(name, args[0])

    return hook


def block_start_hook(layer: int):
    def hook(module, args, kwargs):
        branch = _BRANCH.get()
        changed = None
        if branch is not None and layer >= branch[0]:
            args, kwargs = changed = _branched(args, kwargs, branch[1], first=layer == branch[0])
        rec = _RECORDER.get()
        if rec is not None:
            rec.on_block_start(layer, args, kwargs)
        return changed

    return hook


def _branched(args, kwargs, copies: int, first: bool = True):
    """The block's arguments with its B input rows repeated `copies` times, and every other
    per-row tensor the stack computed for them (a padding mask) with them; tensors computed for
    one row (rotary embeddings, position ids, a causal mask) broadcast as they are.
    first=False: a later block, whose input rows are branched already; the stack hands every
    block the same per-row tensors (a mask over cached tokens, [B, 1, T, S]): tiled again here."""
    h = block_input(args, kwargs)
    rows = h.shape[0] if first else h.shape[0] // copies

    def tile(v):
        if isinstance(v, torch.Tensor) and v.dim() and v.shape[0] == rows and (rows > 1 or v is h):
            return v.repeat(copies, *([1] * (v.dim() - 1)))
        if isinstance(v, tuple):
            return tuple(tile(x) for x in v)
        return v

    return tuple(tile(a) for a in args), {k: tile(v) for k, v in kwargs.items()}


def block_end_hook(layer: int):
    def hook(module, args, kwargs, output):
        rec = _RECORDER.get()
        if rec is not None:
            rec.on_block_end(layer, args, kwargs, output)

    return hook


# The one edit function.

def layer_factors(edit: "Edit | None", layer: int, row: int = 0) -> list:
    """(Coord, factor) pairs of `edit` at `layer` that change a weight; `row`: the batch row whose
    edit counts when `edit` holds one per row."""
    if edit is None:
        return []
    if edit.rows:
        edit = edit.rows[row] if row < len(edit.rows) else None
        if edit is None:
            return []
    return [cf for cf in edit.factors if cf[0].layer == layer and cf[1] != 1.0]


def _touches(edit: "Edit", layer: int) -> bool:
    return any(c.layer == layer and f != 1.0 for c, f in edit.factors) or any(p.layer == layer for p in edit.pins)


def edited_output(layer: int, transposed: bool, module, inputs, output, experts: bool = False):
    """Layer `layer`'s down projection output under the active edit; None when nothing changes.

    `module` is the module the hook fired on (the weight is read from it, so a deep copy edits
    its own weights). experts=True: `module` is a Mixture-of-Experts layer's experts module,
    `inputs` its arguments (hidden [N, hidden], top_k_index, top_k_weights), N = batch x tokens.
    """
    edit = _EDIT.get()
    if edit is None or edit.is_identity:
        return None
    if not edit.rows:
        if not _touches(edit, layer):
            return None
        y = output.clone()
        if experts:  # pins need the token axis back: [batch x tokens, hidden] -> [batch, tokens, hidden]
            _apply(edit, layer, transposed, module, inputs, as_sequences(output), as_sequences(y), experts)
        else:
            _apply(edit, layer, transposed, module, inputs, output, y, experts)
        return y
    rows = [(b, e) for b, e in enumerate(edit.rows) if e is not None and _touches(e, layer)]
    if not rows:
        return None
    n = len(edit.rows)
    if output.shape[0] % n if experts else output.numel() % n:
        raise RuntimeError(f"An edit for {n} batch rows ran on a batch of another size (output {tuple(output.shape)}).")
    y = output.clone()
    if experts:  # row b's tokens are rows [b T, (b + 1) T) of the flattened [batch x tokens, hidden]
        t = output.shape[0] // n
        for b, e in rows:
            part = slice(b * t, (b + 1) * t)
            _apply(e, layer, transposed, module, tuple(a[part] for a in inputs[:3]), output[part], y[part], True)
        return y
    x = inputs[0].reshape(n, -1, inputs[0].shape[-1])  # OPT's MLP runs on a flattened [B x T, C]
    out, new = output.reshape(n, -1, output.shape[-1]), y.view(n, -1, y.shape[-1])
    for b, e in rows:
        _apply(e, layer, transposed, module, (x[b],), out[b], new[b], False)
    return y


def _apply(edit: "Edit", layer: int, transposed: bool, module, inputs, output, y, experts: bool) -> None:
    """Write `edit`'s changes at `layer` into y (a view of the new output; `output` the unedited
    one, same shape: [..., T, C], or [N, C] for experts' factors)."""
    rows = [cf for cf in edit.factors if cf[0].layer == layer and cf[1] != 1.0]
    pins = [p for p in edit.pins if p.layer == layer]
    if rows and experts:
        flat = y.view(-1, y.shape[-1])
        recompute_rows(module, inputs, flat, rows)
    elif rows:
        recompute_dense_rows(module, transposed, inputs[0], y, rows)
    if pins:
        _apply_pins(pins, output, y)


def _apply_pins(pins, output: torch.Tensor, y: torch.Tensor) -> None:
    """Write each pin into y [..., T, C]; token positions are absolute (`sw_core.positions`)."""
    start = offset()  # absolute position of this call's first token
    for p in pins:
        local = p.token - start
        if 0 <= local < y.shape[-2]:
            y[..., local, p.channel] = output[..., local, p.channel] if p.value is None else p.value
        if p.above is not None:
            orig = output[..., p.channel]
            y[..., p.channel] = torch.where(orig.abs() >= p.above, orig, y[..., p.channel])


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
