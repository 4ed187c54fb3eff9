"""The mechanism's readings of one forward pass: a `Tap` is a recorder of the hook core.

Why not hooks of our own: adding or removing a hook on the shared model while another thread runs
a forward through it races inside torch. Every hook is registered once, at load, and hands each
site to the recorder active in the calling context (`sw_core.hooks`); pass a Tap as
`forward(loaded, ids, record=tap)` and it is active for that one pass, in this context only.

A Tap that reads dense down projections and not the experts of a Mixture-of-Experts layer is
refused on such a layer with a clear error (`Recorder.on_experts`), never silently empty.
"""

from __future__ import annotations

from ..hooks import Recorder, block_input, first_tensor

__all__ = ["Tap", "block_input", "first_tensor", "layer_input"]


class Tap(Recorder):
    """Override the sites you need (`sw_core.hooks.Recorder`); keep only what is shown."""


layer_input = block_input  # a decoder layer's input hidden states, from its (args, kwargs)
