"""The one place that registers hooks on a model: `instrument(loaded)`, called once by `load`.

Every hook this project needs is registered here, once, before the model is shared: adding or
removing hooks while another thread runs a forward through the module races inside torch's hook
dictionaries, so nothing is ever registered per scan or per edit. Each hook is permanent and
does nothing unless its thread / context asked for it through a `ContextVar` (an active edit,
an active scan recorder), so concurrent callers see only their own edit and their own scan.

The decoder stack carries a pre-hook and an always-called post-hook that set the absolute
position of the call's first token (`sw_core.positions`: activation pins under a KV cache).
The hooks, in the order they act within one decoder block:
1. every decoder linear, pre-hook: hands its input to the active recorder (calibration passes);
2. every block, pre-hook: the residual stream entering the block (for the scan);
3. every down projection, ONE forward hook: first `edits.edited_output` (the active edit, if
   any), then the scan records that (edited) output. One hook, so the order cannot drift.
   A Mixture-of-Experts layer has no module per expert (transformers 5 fuses them): its hook is
   on the experts module, and `sw_core.moe` recomputes per expert what the edit / scan needs;
4. every block, forward hook: the residual stream leaving the block.

Hooks read the weight from the module they are called with and close over nothing but a layer
index or a name, so `copy.deepcopy(model)` (a quantized private copy) keeps working hooks of its
own; `instrument` sees the copied mark and registers nothing twice.
"""

from __future__ import annotations

from .edits import edited_output
from .moe import note_sequence_length
from .positions import on_stack_end, on_stack_start
from .scan import active_recorder

_MARK = "_sw_instrumented"  # set on the model; a deep copy carries it along with the hooks


def is_instrumented(model) -> bool:
    return bool(getattr(model, _MARK, False))


def instrument(loaded) -> None:
    """Register every hook on `loaded.model` once (idempotent, thread-safe). Call before sharing."""
    model = loaded.model
    with loaded.lock:
        if is_instrumented(model):
            return
        adapter = loaded.arch
        _, stack = adapter.stack(model)
        stack.register_forward_pre_hook(on_stack_start, with_kwargs=True)
        stack.register_forward_hook(on_stack_end, with_kwargs=True, always_call=True)
        for t in adapter.linears(model):
            t.module.register_forward_pre_hook(_linear_input_hook(t.name))
        blocks = adapter.blocks(model)
        for p, (_, block) in zip(loaded.layers, blocks):
            block.register_forward_pre_hook(_block_start_hook(p.layer), with_kwargs=True)
            if p.num_experts:
                moe_block = model.get_submodule(p.name.rpartition(".")[0])  # the experts' parent
                moe_block.register_forward_pre_hook(note_sequence_length, with_kwargs=True)
                p.module.register_forward_hook(_experts_hook(p.layer), with_kwargs=True)
            else:
                p.module.register_forward_hook(_down_proj_hook(p.layer, p.transposed))
            block.register_forward_hook(_block_end_hook(p.layer), with_kwargs=True)
        setattr(model, _MARK, True)


def check_instrumented(loaded) -> None:
    if not is_instrumented(loaded.model):
        raise RuntimeError(
            "This model has no scan / edit hooks: build a Loaded with sw_core.loading.load or "
            "sw_core.loading.wrap, or call sw_core.instrument.instrument(loaded) before sharing it."
        )


def _down_proj_hook(layer: int, transposed: bool):
    def hook(module, inputs, output):
        edited = edited_output(layer, transposed, module, inputs, output)  # None: unchanged
        rec = active_recorder()
        if rec is not None:
            rec.on_proj(layer, inputs, output if edited is None else edited)
        return edited

    return hook


def _experts_hook(layer: int):
    def hook(module, args, kwargs, output):
        args = tuple(args) + tuple(kwargs[k] for k in ("hidden_states", "top_k_index", "top_k_weights") if k in kwargs)
        edited = edited_output(layer, False, module, args, output, experts=True)  # None: unchanged
        rec = active_recorder()
        if rec is not None:
            rec.on_experts(layer, module, args, output if edited is None else edited)
        return edited

    return hook


def _linear_input_hook(name: str):
    def hook(module, args):
        rec = active_recorder()
        if rec is not None and rec.inputs_of:
            rec.on_linear_input(name, args)

    return hook


def _block_start_hook(layer: int):
    def hook(module, args, kwargs):
        rec = active_recorder()
        if rec is not None:
            rec.on_block_start(layer, args, kwargs)

    return hook


def _block_end_hook(layer: int):
    def hook(module, args, kwargs, output):
        rec = active_recorder()
        if rec is not None:
            rec.on_block_end(layer, args, kwargs, output)

    return hook
