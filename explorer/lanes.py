"""Lanes: pieces of one page's work that run side by side (its texts, its stop words, its other
numbers), each on one torch thread.

Why: torch gives each computing thread one OpenMP thread per core. Two computations at once then
run four threads on two cores, and an OpenMP team waits at every operation for a member the OS has
preempted: on a busy 2-core machine a 256-token forward pass took 3-5x the CPU time with two
threads as with one. With one thread each, the lanes keep both cores busy and nothing waits.

`torch.set_num_threads` also sets the count that threads started later begin with, so a lane ends
by restoring the process's own count (read when this module is first imported), not whatever it
found, and the threads that may start while a lane runs (a page run, work ahead) set their own
count first (`usual_threads`) instead of inheriting a lane's.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from contextlib import contextmanager

import torch

from . import jobs

PROCESS_THREADS = torch.get_num_threads()


def usual_threads() -> None:
    """This thread runs torch on the process's own count, whatever a lane left for new threads."""
    torch.set_num_threads(PROCESS_THREADS)


@contextmanager
def one_thread():
    """The body runs torch on one thread in this thread."""
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(PROCESS_THREADS)


def beside(task, *args) -> threading.Thread:
    """Start `task(*args)`, a cached computation the caller asks for later, in a thread of its own
    that runs torch on one thread and draws nothing. The caller's own call then waits for it (a
    cached function computes each value once) or, if it failed, computes it again and raises."""
    def run():
        with one_thread(), jobs.quietly():
            try:
                task(*args)
            except Exception:  # noqa: BLE001 - the caller's own call raises it where it is shown
                logging.getLogger("explorer").debug("computing beside the page failed", exc_info=True)

    thread = threading.Thread(target=contextvars.copy_context().run, args=(run,), name="sw-beside", daemon=True)
    thread.start()
    return thread
