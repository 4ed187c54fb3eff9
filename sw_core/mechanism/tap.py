"""Read (or change) tensors inside one forward pass, thread-safely, through the permanent hooks.

Why not hooks of our own: adding or removing a hook on the shared model while another thread runs
a forward through it races inside torch. The project registers every hook once, at load
(`sw_core.instrument`); the hooks on each down projection and each decoder block hand their
arguments to whatever recorder `sw_core.scan.recording` made active in the calling context, and
are a no-op for every other thread. A `Tap` is such a recorder: active for one pass in this
context only (`tapped`), reset on every exit, also when the forward raises.

The coupling to `sw_core.scan` is this file only: `recording` and the recorder's method names.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch


class Tap:
    """Override what you need; each method gets the layer index first. Keep only what is shown."""

    inputs_of = frozenset()  # no decoder linear's whole input is wanted

    def on_proj(self, i: int, inputs, output) -> None:  # the down projection ran
        pass

    def on_linear_input(self, name: str, args) -> None:  # unused: inputs_of is empty
        pass

    def on_experts(self, i: int, module, args, output) -> None:  # a Mixture-of-Experts layer ran
        pass

    def on_block_start(self, i: int, args, kwargs) -> None:  # decoder layer i is about to run
        pass

    def on_block_end(self, i: int, args, kwargs, output) -> None:  # decoder layer i ran
        pass


def first_tensor(obj) -> torch.Tensor:
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, (tuple, list)):
        return obj[0]
    return obj.last_hidden_state


def layer_input(args, kwargs) -> torch.Tensor:
    return args[0] if args else kwargs["hidden_states"]


@contextmanager
def tapped(tap: Tap):
    """Route this context's forward passes to `tap` (and not to a scan) until the block exits."""
    from ..scan import recording

    with recording(tap):
        yield tap
