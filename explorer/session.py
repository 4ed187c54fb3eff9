"""The model the sidebar picked, shared by every session, and how expected errors are shown.

The model is loaded once per (ref, device, dtype, options) by `cached.load_model` and shared by every
session: it is never mutated; edits run inside `sw_core.edits.applied` in the script thread.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

import streamlit as st

from sw_core.errors import SuperWeightError
from sw_core.loading import Loaded, resolve_device, resolve_dtype

from .cached import DETECTION_PROMPTS, detection, load_model  # load_model: app.py loads through here

MODEL_KEY = "_sw_model_key"  # session_state: the load request the sidebar made


def resolved_request(ref: str, device: str, dtype: str, trust: bool = False, pickle: bool = False) -> tuple:
    """The request with "auto" resolved, so "auto" and the explicit choice share one cache entry."""
    dev = resolve_device(device)
    return (ref.strip() or "embedded", dev, str(resolve_dtype(dtype, dev)).replace("torch.", ""), trust, pickle)


def model() -> Loaded:
    """The Loaded model the sidebar picked (a cache hit: app.py loaded it before the page ran)."""
    key = st.session_state.get(MODEL_KEY)
    if key is None:
        st.error("No model is loaded: pick one in the sidebar.")
        st.stop()
    return load_model(*key)


@contextmanager
def errors_shown():
    """Show expected bad input (SuperWeightError) as st.error with its advice, then stop the page."""
    try:
        yield
    except SuperWeightError as e:
        st.error(str(e))
        st.stop()


GENERIC_ERROR = ("Something went wrong on this page, and it was logged on the server. Try another setting, "
                 "reload the page, or pick the 'embedded' model.")


@contextmanager
def unexpected_errors_hidden():
    """In public mode an unexpected exception becomes our own short message (logged in full on the
    server), never a traceback; locally it propagates so Streamlit shows it to the developer.

    Streamlit's stop and rerun signals are BaseExceptions, not Exceptions: they pass through.
    """
    from . import public

    try:
        yield
    except Exception:
        if not public.is_public():
            raise
        logging.getLogger("explorer").exception("unexpected error on a page")
        st.error(GENERIC_ERROR)
        st.stop()


def model_and_detection(message: str = "Detecting super weights ..."):
    """(loaded model, its detection on the paper's prompt) for a page."""
    loaded = model()
    with errors_shown(), st.spinner(message):
        det = detection(loaded, DETECTION_PROMPTS[:1])
    return loaded, det
