"""Heavy work goes through the process-wide job queue (`jobs.py`); while it waits, say where it stands."""

from __future__ import annotations

from contextlib import contextmanager

import streamlit as st

from . import jobs, limits


@contextmanager
def queued(name: str):
    """Hold a job slot for the body, showing the user's place in line (outside any collapsed box).

    Never nest: a queued body must not enter another queued block (two users could each hold a
    slot while waiting for a second one).
    """
    box = st.empty()

    def waiting(position: int) -> None:  # position 1 = next to run once a running job ends
        box.info(f"Queued: number {position} in line for {name}; the server runs "
                 f"{limits.current().max_concurrent_jobs} heavy jobs at a time ...")

    with jobs.heavy_job(name, on_wait=waiting):
        box.empty()
        yield
