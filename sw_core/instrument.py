"""The one place that registers hooks on a model: `instrument(loaded)`, called once by `load`.

Every hook this project needs is registered here, once, before the model is shared: adding or
removing hooks while another thread runs a forward through the module races inside torch's hook
dictionaries, so nothing is ever registered per scan or per edit. Each hook is permanent and
does nothing unless its thread / context asked for it through a `ContextVar` (an active edit,
an active scan recorder), so concurrent callers see only their own edit and their own scan.

The decoder stack carries a pre-hook and an always-called post-hook that set the absolute
position of the call's first token (`sw_core.positions`: activation pins under a KV cache).
The hooks themselves, and what each hands to the active edit and recorder, are `sw_core.hooks`
(the hook core): a pre-hook on every decoder linear and on every block, ONE forward hook on every
down projection (a Mixture-of-Experts layer has no module per expert, transformers 5 fuses them:
its hook is on the experts module), and a forward hook on every block. A MoE block also carries
a pre-hook that notes its sequence length (`sw_core.moe`).

Hooks read the weight from the module they are called with and close over nothing but a layer
index or a name, so `copy.deepcopy(model)` (a quantized private copy) keeps working hooks of its
own; `instrument` sees the copied mark and registers nothing twice.
"""

from __future__ import annotations

from .hooks import block_end_hook, block_start_hook, down_proj_hook, experts_hook, linear_input_hook
from .moe import note_sequence_length
from .positions import on_stack_end, on_stack_start

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
            t.module.register_forward_pre_hook(linear_input_hook(t.name))
        blocks = adapter.blocks(model)
        for p, (_, block) in zip(loaded.layers, blocks):
            block.register_forward_pre_hook(block_start_hook(p.layer), with_kwargs=True)
            if p.num_experts:
                moe_block = adapter.moe_block(block)  # the router's and experts' parent
                moe_block.register_forward_pre_hook(note_sequence_length, with_kwargs=True)
                p.module.register_forward_hook(experts_hook(p.layer), with_kwargs=True)
            else:
                p.module.register_forward_hook(down_proj_hook(p.layer, p.transposed))
            block.register_forward_hook(block_end_hook(p.layer), with_kwargs=True)
        setattr(model, _MARK, True)


def check_instrumented(loaded) -> None:
    if not is_instrumented(loaded.model):
        raise RuntimeError(
            "This model has no scan / edit hooks: build a Loaded with sw_core.loading.load or "
            "sw_core.loading.wrap, or call sw_core.instrument.instrument(loaded) before sharing it."
        )
