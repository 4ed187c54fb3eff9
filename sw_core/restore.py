"""Restore the super activation (the paper's "Prune SW, +SA"): the one place that builds the pins.

Every caller (the app's restore switch through `Detection.restore_pins`, the impact table through
`metrics.impact`, the CLI) gets its pins here. A pin keeps the layer's unedited output on the
super activation's channel at the absolute token where it was detected, and at every other
position where that unedited output is itself a super activation (|y| >= `fraction` of the
detected size): a window cut from mid-text can carry it on token 1 as well as token 0. Both
parts are correct under a KV cache (see `sw_core.positions`): a decode step's new token is pinned
only if it carries a super activation of its own.
"""

from __future__ import annotations

from .edits import ActivationPin, Coord, Edit

RESTORE_FRACTION = 0.05  # a position carries the super activation when |y| >= 5% of its detected size
DEFAULT_SIZING_PROMPT = "Apple Inc. is a worldwide tech company."  # the paper's detection prompt


def pins(activations, fraction: float = RESTORE_FRACTION) -> list[ActivationPin]:
    """One pin per (layer, channel, token, value) super activation, value = its detected size."""
    out, seen = [], set()
    for layer, channel, token, value in activations:
        if (layer, channel, token) in seen:
            continue
        seen.add((layer, channel, token))
        out.append(ActivationPin(layer, channel, token, None, above=fraction * abs(value) if value else None))
    return out


def pins_for_coords(loaded, coords: list[Coord], prompt: str = DEFAULT_SIZING_PROMPT,
                    fraction: float = RESTORE_FRACTION) -> list[ActivationPin]:
    """Pins for super weights given only as coordinates: one scan of the unedited model per row
    finds where (token) and how large each row's activation is at each super weight's layer."""
    from .scan import scan

    rows = sorted({(c.layer, c.row) for c in coords})
    acts = []
    for row in sorted({r for _, r in rows}):
        trace = scan(loaded, prompt, edit=Edit(), track_channel=row).channel_trace  # Edit(): unedited
        for layer, r in rows:
            if r == row:
                values = trace[layer]
                token = max(range(len(values)), key=values.__getitem__)
                acts.append((layer, row, token, values[token]))
    return pins(acts, fraction)
