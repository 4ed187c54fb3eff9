"""The super-weight edit widgets: a toggle and a 0-3 scale per weight, and a restore switch."""

from __future__ import annotations

import streamlit as st

from . import urlcodec
from .urlstate import state_from_url, state_to_url

SCALE_RANGE = (0.0, 3.0)


def removing(coords):
    """The edit that sets every weight at `coords` to zero (None: no weight named, the original model)."""
    from sw_core.edits import off

    return off(*coords) if coords else None


def coord_key(c) -> str:
    return f"{c.layer}_{c.row}_{c.col}"


def _url_factors(det, prefix: str) -> dict:
    """The edit in ?sw=..., keeping only what this model's widgets can show; the rest is named as ignored."""
    seen = f"{prefix}_url" in st.session_state.get("_sw_seeded", ())
    url = state_from_url(f"{prefix}_url", "sw", urlcodec.decode_factors, default={}) or {}
    kept, ignored = urlcodec.usable_factors(url, det.coords(), *SCALE_RANGE)
    if not seen:  # shown once, when the URL is read (like every other ignored parameter)
        for reason in ignored:
            st.warning(f"Ignored the link's edit: {reason}.")
    return kept


def edit_controls(det, prefix: str = "sw"):
    """Widgets for every super weight of `det`; returns the Edit they describe (None: unedited).

    Seeded once from the URL (?sw=11.507.1229=0&restore=1) and written back to it on every run.
    """
    from sw_core.edits import Edit
    from sw_core.restore import restore_pins

    url = _url_factors(det, prefix)
    factors = {}
    for w in det.super_weights:
        k, f = coord_key(w.coord), url.get(w.coord, 1.0)
        st.session_state.setdefault(f"{prefix}_on_{k}", f != 0)
        st.session_state.setdefault(f"{prefix}_scale_{k}", float(f) if f else 1.0)
        c1, c2 = st.columns([2, 3])
        on = c1.toggle(f"{w.coord}  (w = {w.value:+.3f})", key=f"{prefix}_on_{k}")
        scale = c2.slider("scale", *SCALE_RANGE, step=0.1, key=f"{prefix}_scale_{k}", disabled=not on,
                          label_visibility="collapsed", help="Switched off: turn the weight on to scale it")
        factors[w.coord] = scale if on else 0.0
    state_from_url(f"{prefix}_restore", "restore", urlcodec.decode_bool, default=False)
    restore = st.toggle("Restore the super activation (weights stay off, the activation is pinned)",
                        key=f"{prefix}_restore")
    changed = {c: f for c, f in factors.items() if f != 1.0}
    state_to_url(sw=changed or None, restore=True if restore else None)
    if not changed and not restore:
        return None  # the original model: one cache entry however it was reached
    return Edit.of(changed, pins=restore_pins(None, det.coords(), det) if restore else ())  # sized by det
