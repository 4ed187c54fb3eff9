"""Page state <-> URL query parameters (the Streamlit side; the text format is in `urlcodec.py`)."""

from __future__ import annotations

import streamlit as st

from sw_core.errors import SuperWeightError

from . import urlcodec


def state_from_url(key: str, param: str, decode=str, default=None, echo: bool = True):
    """Seed session_state[key] from the query parameter once per session (so a URL reproduces a view).

    A value that cannot be used is ignored with the reason shown, never silently replaced, and
    removed from the URL (a copied link then carries only what the page shows). echo=False: the
    message does not repeat the value (e.g. a file path someone put into a link).
    """
    seeded = st.session_state.setdefault("_sw_seeded", set())
    if key not in seeded:
        seeded.add(key)
        raw = st.query_params.get(param)
        if raw is not None:
            try:
                st.session_state[key] = decode(raw)
            except (ValueError, SuperWeightError) as e:
                shown = f"{param}={raw[:40]}" if echo else param
                st.warning(f"Ignored the link's {shown}: {e}")
                del st.query_params[param]
    if key not in st.session_state and default is not None:
        st.session_state[key] = default
    return st.session_state.get(key)


def state_to_url(**params) -> None:
    """Write page state into the URL; None or an empty value removes the parameter."""
    for name, value in params.items():
        text = urlcodec.encode_value(value)
        if text in (None, ""):
            if name in st.query_params:
                del st.query_params[name]
        elif st.query_params.get(name) != text:
            st.query_params[name] = text
