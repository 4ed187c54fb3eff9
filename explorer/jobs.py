"""Heavy jobs (scans, perplexity, generation) run a bounded number at a time, first come first served.

Why: every browser session of the app shares one process and a few CPU cores. Ten concurrent
perplexity runs would each take ten times longer and could exhaust memory; queueing them keeps
each one fast and lets the page say "queued". The bound is `limits.current().max_concurrent_jobs`,
read at every admission check so it follows the environment.

    with heavy_job("perplexity", on_wait=lambda pos: status.info(f"queued: {pos} in line")):
        ...  # at most N bodies run at once, process-wide

`on_wait(position)` is called in the caller's own thread (safe for Streamlit widgets) right
after queueing and then about every 0.5 s while waiting; position 1 means next in line. If it
raises (a Streamlit rerun, Ctrl-C), the caller leaves the queue and nothing is held.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from contextlib import contextmanager
from typing import Callable

from . import limits

POLL_SECONDS = 0.5

_cond = threading.Condition(threading.Lock())
_waiting: deque = deque()  # tickets in arrival order
_running: dict[int, str] = {}  # ticket id -> job name


class _Ticket:
    __slots__ = ("name", "since")

    def __init__(self, name: str):
        self.name = name
        self.since = time.monotonic()


def _admit_locked(ticket: _Ticket) -> bool:
    # FIFO: only the head of the queue may take a free slot, so no caller is overtaken.
    if _waiting and _waiting[0] is ticket and len(_running) < limits.current().max_concurrent_jobs:
        _waiting.popleft()
        _running[id(ticket)] = ticket.name
        _cond.notify_all()  # the next head may be admitted too if slots remain
        return True
    return False


@contextmanager
def heavy_job(name: str, on_wait: Callable[[int], None] | None = None):
    """Hold one of the process-wide job slots for the body; wait (in line) when all are taken."""
    ticket = _Ticket(name)
    admitted = False
    try:
        with _cond:
            _waiting.append(ticket)
            admitted = _admit_locked(ticket)
        while not admitted:
            with _cond:
                position = _waiting.index(ticket) + 1
            if on_wait is not None:
                on_wait(position)  # outside the lock: a slow or raising callback blocks no one
            with _cond:
                admitted = _admit_locked(ticket)
                if not admitted:
                    _cond.wait(POLL_SECONDS)  # woken early when a slot frees or the head leaves
                    admitted = _admit_locked(ticket)
    finally:
        if not admitted:
            with _cond:
                if ticket in _waiting:
                    _waiting.remove(ticket)
                _cond.notify_all()  # the caller behind may now be the head
    try:
        yield
    finally:
        with _cond:
            _running.pop(id(ticket), None)
            _cond.notify_all()


def queue_state() -> dict:
    """{"running": n, "waiting": n, "limit": n, "running_jobs": [names], "waiting_jobs": [names]}."""
    with _cond:
        return {
            "running": len(_running),
            "waiting": len(_waiting),
            "limit": limits.current().max_concurrent_jobs,
            "running_jobs": list(_running.values()),
            "waiting_jobs": [t.name for t in _waiting],
        }
