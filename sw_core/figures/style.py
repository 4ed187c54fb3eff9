"""What every figure shares: colours, log colour scales, layer axes."""

from __future__ import annotations

import math

LOG_FLOOR = 1e-3  # |values| below this are drawn as this (log of zero is undefined)
ORIGINAL, EDITED = "#1f77b4", "#d62728"
# Dark (small) to bright (large), blue-green-yellow: no warm colour at the low end, so a hot-looking
# cell is always a large value, and it reads in grey scale and for red-green colour blindness.
HEAT_SCALE = "Viridis"
MIN_LABEL_PX = 12  # text drawn on a chart (ratios, values) is never smaller than this


def layer_axis(n_layers: int, reverse: bool = False) -> dict:
    """An axis over layers 0..n-1 with ticks only at layers that exist (every 1, 2 or 5)."""
    step = 1 if n_layers <= 32 else 2 if n_layers <= 64 else 5
    lo, hi = -0.5, n_layers - 0.5
    return dict(tickmode="array", tickvals=list(range(0, n_layers, step)), range=[hi, lo] if reverse else [lo, hi],
                autorange=False, automargin=True)


def log10_abs(values) -> list[list[float]] | list[float]:
    if values and isinstance(values[0], (list, tuple)):
        return [log10_abs(v) for v in values]
    return [math.log10(max(abs(float(v)), LOG_FLOOR)) for v in values]


def log_colorbar(zmin: float, zmax: float, title: str) -> dict:
    ticks = list(range(math.floor(zmin), math.ceil(zmax) + 1))
    return dict(title=title, tickvals=ticks, ticktext=[f"{10 ** t:g}" for t in ticks])
