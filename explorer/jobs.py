"""The job queue: heavy work (scans, perplexity, generation) runs a bounded number at a time, first come
first served, and work computed ahead for a visitor (`precompute.py`) only runs when nothing else does.

Why: every browser session of the app shares one process and a few CPU cores. Ten concurrent
perplexity runs would each take ten times longer and could exhaust memory; queueing them keeps
each one fast and lets the page say "queued". The bound is `limits.current().max_concurrent_jobs`,
read at every admission check so it follows the environment.

    with heavy_job("perplexity", on_wait=lambda pos: status.info(f"queued: {pos} in line")):
        ...  # at most N bodies run at once, process-wide

`on_wait(position)` is called in the caller's own thread (safe for Streamlit widgets) right
after queueing and then about every 0.5 s while waiting; position 1 means next in line. If it
raises (a Streamlit rerun, Ctrl-C), the caller leaves the queue and nothing is held.

Background jobs (inside `in_background()`) yield to every visitor: one is admitted only while a slot
is free and no visitor waits, one at a time, and a visitor's job never counts a running background
job against its limit, so a visitor's request never waits behind work computed ahead for anyone.
A job admitted beside others runs torch on its share of the cores, a background job on one (`_share`).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable

import streamlit as st
import torch

from . import limits

POLL_SECONDS = 0.5
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

_cond = threading.Condition(threading.Lock())
_waiting: deque = deque()  # tickets in arrival order
_running: dict[int, str] = {}  # ticket id -> job name (foreground)
_background: dict[int, str] = {}  # ticket id -> job name (computed ahead)
_BACKGROUND = ContextVar("sw_background_job", default=False)
_QUIET = ContextVar("sw_quiet_job", default=False)  # a thread beside a page's own: it draws nothing


class _Ticket:
    __slots__ = ("name", "since", "background")

    def __init__(self, name: str, background: bool = False):
        self.name = name
        self.since = time.monotonic()
        self.background = background


def _admit_locked(ticket: _Ticket) -> bool:
    if ticket.background:  # one at a time, only while a slot is free and no visitor waits
        if not _waiting and not _background and len(_running) < limits.current().max_concurrent_jobs:
            _background[id(ticket)] = ticket.name
            return True
        return False
    # FIFO: only the head of the queue may take a free slot, so no caller is overtaken.
    if _waiting and _waiting[0] is ticket and len(_running) < limits.current().max_concurrent_jobs:
        _waiting.popleft()
        _running[id(ticket)] = ticket.name
        _cond.notify_all()  # the next head may be admitted too if slots remain
        return True
    return False


@contextmanager
def quietly():
    """Jobs started in this block (in this thread) wait in line like any visitor's, drawing nothing:
    for a thread that computes beside a page (`lanes.beside`), where only the page's thread draws."""
    token = _QUIET.set(True)
    try:
        yield
    finally:
        _QUIET.reset(token)


@contextmanager
def in_background():
    """Jobs started in this block (in this thread) are background jobs: see the module's docstring."""
    token = _BACKGROUND.set(True)
    try:
        yield
    finally:
        _BACKGROUND.reset(token)


@contextmanager
def _threads_at_most(n: int):
    """The body runs torch on at most `n` threads in this thread; its own count is back afterwards."""
    before = torch.get_num_threads()
    if n >= before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _share(ticket: _Ticket, running: int) -> int:
    """Torch threads for a job admitted while `running` jobs (itself included) run.

    Why: each job's torch would otherwise start one thread per core, and four jobs at once run
    eight threads on two cores, each job's share of the machine then set by its thread count, not
    by its turn. A visitor's job admitted alone keeps every core; one admitted beside others takes
    its share, so a visitor's one-thread lanes (`lanes`) are not outnumbered by another's jobs.
    Work computed ahead takes one core at most, leaving the rest to visitors who arrive meanwhile.
    """
    return 1 if ticket.background else max(1, CORES // max(1, running))


def _running_locked() -> int:
    return len(_running) + len(_background)


@contextmanager
def _held(slots: dict, ticket: _Ticket):
    """The body of an admitted job: on its share of the cores, its slot in `slots` freed after it."""
    with _cond:
        running = _running_locked()
    try:
        with _threads_at_most(_share(ticket, running)):
            yield
    finally:
        with _cond:
            slots.pop(id(ticket), None)
            _cond.notify_all()


def _background_job(name: str):
    ticket = _Ticket(name, background=True)
    with _cond:
        while not _admit_locked(ticket):
            _cond.wait(POLL_SECONDS)
    with _held(_background, ticket):
        yield


@contextmanager
def heavy_job(name: str, on_wait: Callable[[int], None] | None = None):
    """Hold one of the process-wide job slots for the body; wait (in line) when all are taken."""
    if _BACKGROUND.get():
        yield from _background_job(name)
        return
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
    with _held(_running, ticket):
        yield


def queue_state() -> dict:
    """{"running": n, "waiting": n, "limit": n, "running_jobs": [names], "waiting_jobs": [names]}."""
    with _cond:
        return {
            "running": len(_running),
            "waiting": len(_waiting),
            "limit": limits.current().max_concurrent_jobs,
            "running_jobs": list(_running.values()),
            "waiting_jobs": [t.name for t in _waiting],
            "background_jobs": list(_background.values()),
        }


@contextmanager
def queued(name: str):
    """Hold a job slot for the body, showing the user's place in line (outside any collapsed box).

    Never nest: a queued body must not enter another queued block (two users could each hold a
    slot while waiting for a second one). In a background or quiet thread nothing is drawn.
    """
    if _BACKGROUND.get() or _QUIET.get():
        with heavy_job(name):
            yield
        return
    box = st.empty()

    def waiting(position: int) -> None:  # position 1 = next to run once a running job ends
        box.info(f"Queued: number {position} in line for {name}; the server runs "
                 f"{limits.current().max_concurrent_jobs} heavy jobs at a time ...")

    with heavy_job(name, on_wait=waiting):
        box.empty()
        yield
