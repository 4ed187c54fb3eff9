"""Restore the super activation (the paper's "Prune SW, +SA"): the one place that builds the pins.

One entry point, `restore_pins(loaded, coords, detection=None)`, for every caller (the app's
restore switch, the impact table, the CLI). One sizing rule: a super weight's activation is the
unedited model's output on its row, at the token where it is largest on a prompt (the paper's
detection prompt), and its size there. A detection has already measured it for the super weights
it found; any other row is measured by one scan.

A pin keeps the layer's unedited output on the super activation's channel at that absolute token,
and at every other position where that unedited output is itself a super activation (|y| >=
`fraction` of the measured size): a window cut from mid-text can carry it on token 1 as well as
token 0. Both parts are correct under a KV cache (see `sw_core.positions`): a decode step's new
token is pinned only if it carries a super activation of its own.
"""

from __future__ import annotations

from .builtin_prompts import PAPER_PROMPT
from .edits import ActivationPin, Coord
from .scan import scan

RESTORE_FRACTION = 0.05  # a position carries the super activation when |y| >= 5% of its measured size
DEFAULT_SIZING_PROMPT = PAPER_PROMPT


def restore_pins(loaded, coords: list[Coord], detection=None, *, prompt: str = DEFAULT_SIZING_PROMPT,
                 fraction: float = RESTORE_FRACTION) -> list[ActivationPin]:
    """Pins that keep the super activation of every (layer, row) of `coords`.

    detection (a `sw_core.detect.Detection`): its measured super activations size the rows it
    found; every other row is measured by one scan of the unedited model on `prompt` per row
    (`loaded` may be None when the detection measured every row).
    """
    rows = sorted({(c.layer, c.row) for c in coords})
    acts = []
    if detection is not None:
        acts = [(a.layer, a.channel, a.token, a.value) for a in detection.super_activations()
                if (a.layer, a.channel) in rows]
    measured = {(layer, row) for layer, row, _, _ in acts}
    missing = [r for r in rows if r not in measured]
    if missing and loaded is None:
        raise ValueError(f"Rows {missing} were not measured by the detection: pass the model to size them.")
    for channel in sorted({row for _, row in missing}):
        trace = scan(loaded, prompt, track_channel=channel).channel_trace  # the unedited model
        for layer, row in missing:
            if row == channel:
                values = trace[layer]
                token = max(range(len(values)), key=values.__getitem__)
                acts.append((layer, row, token, values[token]))
    return _pins(acts, fraction)


def _pins(activations, fraction: float) -> list[ActivationPin]:
    """One pin per (layer, channel, token, value) super activation, value = its measured size."""
    out, seen = [], set()
    for layer, channel, token, value in activations:
        if (layer, channel, token) in seen:
            continue
        seen.add((layer, channel, token))
        out.append(ActivationPin(layer, channel, token, None, above=fraction * abs(value) if value else None))
    return out
