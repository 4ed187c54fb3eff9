"""Work computed ahead for a visitor: the edited numbers and texts a page's next click will ask for.

As soon as a page shows its unedited numbers, it names what its buttons would compute
(`ahead(page, tasks)`); a background thread runs those cached computations one by one through the
job queue at background priority (`jobs.in_background`), so the click finds them in the cache.
The thread stops between tasks when the visitor opens another page or another prompt (a newer
`ahead` call of the same session), or leaves (the session ends). SW_PRECOMPUTE=0 turns it off.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Callable

from . import jobs, lanes

_lock = threading.Lock()
_current: dict[str, tuple[str, threading.Event, threading.Thread]] = {}  # session id -> (what, cancel, thread)


def enabled() -> bool:
    return os.environ.get("SW_PRECOMPUTE", "1").strip().lower() not in ("0", "false", "no", "off")


def _session_id() -> str | None:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx else None


def _session_alive(session_id: str) -> bool:
    from streamlit import runtime

    if not runtime.exists():  # AppTest and bare runs: no runtime to ask, the test decides
        return True
    return runtime.get_instance().is_active_session(session_id)


def ahead(what: str, tasks: list[Callable[[], object]]) -> threading.Thread | None:
    """Run `tasks` (cached computations) in the background for this session, once per `what`.

    A new `what` cancels the session's previous work; the same `what` again (a rerun) keeps it.
    Returns the thread (tests and the bench join it), or None when nothing new was started.
    """
    sid = _session_id()
    if sid is None or not enabled() or not tasks:
        return None
    with _lock:
        old = _current.get(sid)
        if old and old[0] == what:
            return None
        if old:
            old[1].set()
        cancel = threading.Event()
        thread = threading.Thread(target=_run, args=(sid, cancel, tasks), name=f"precompute {what}", daemon=True)
        _current[sid] = (what, cancel, thread)
    thread.start()
    return thread


def cancel(session_id: str | None = None) -> None:
    """Stop this session's background work (between two tasks)."""
    sid = session_id or _session_id()
    with _lock:
        old = _current.pop(sid, None) if sid else None
    if old:
        old[1].set()


def _run(sid: str, cancelled: threading.Event, tasks) -> None:
    lanes.usual_threads()  # started beside the page's texts: not with their one thread
    try:
        with jobs.in_background():
            for task in tasks:
                if cancelled.is_set() or not _session_alive(sid):
                    return
                task()
    except Exception:  # computed ahead for convenience: the click recomputes and shows any error
        logging.getLogger("explorer").exception("background precompute failed")
    finally:
        with _lock:
            if sid in _current and _current[sid][1] is cancelled:
                del _current[sid]


def running(session_id: str | None = None) -> threading.Thread | None:
    sid = session_id or _session_id()
    with _lock:
        entry = _current.get(sid) if sid else None
    return entry[2] if entry else None


def edit_tasks(loaded, edits, *, prompt: str, next_prompt: str | None = None, gen_prompt: str | None = None):
    """The cached computations a page shows for each of `edits`, numbers first, texts last: what
    `ahead` computes before the click that asks for them."""
    from functools import partial

    from . import cached, generation

    tasks = []
    for e in edits:
        tasks += [partial(cached.perplexity, loaded, e), partial(cached.next_distribution, loaded, e, prompt),
                  partial(cached.stopwords, loaded, e)]
        if next_prompt:
            tasks.append(partial(cached.next_distribution, loaded, e, next_prompt))
    tasks += [partial(generation.generated_text, loaded, e, gen_prompt or prompt) for e in edits]
    return tasks
