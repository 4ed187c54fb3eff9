"""A generated text shared by every session: one thread computes it, any number follow it as it grows.

Whoever `claim`s a free continuation computes it (or starts a thread that does), reporting each
longer text (`grow`), then the end (`finish`) or its error (`fail`); anyone `follow`s it: sees the
text so far, and the end. A
text is final only once done: a half-written one is shown as it grows, never kept as the answer.
A failed computation leaves the continuation free again, so the next `claim` tries anew.

The threads that asked for a text (`claim(asker)`: a page's script thread that started it or found
it running) are kept: once every one of them has ended (a session's script thread ends when its
runs are over, reruns included) the computing thread drops the text at its next piece (`grow` says
so), as a closed stream did, instead of computing on for a page that left before drawing it.

One condition for every continuation, so a page following two texts wakes when either grows.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Iterator

_changed = threading.Condition()
WAKE_SECONDS = 0.25  # a follower looks again at least this often (a lost wake-up costs no more)


@dataclass
class Continuation:
    text: str = ""  # the text so far; final once `done`
    done: bool = False
    running: bool = False  # a thread is computing it now
    error: BaseException | None = None  # why the last computation failed
    askers: list = field(default_factory=list, repr=False)  # threads waiting for it (none: keep it)

    def claim(self, asker: threading.Thread | None = None) -> bool:
        """True: the caller now computes the text (no one has, no one does); False: it need not.
        `asker`: the thread that wants the text, for as long as it runs (None: wanted regardless)."""
        with _changed:
            if self.done:
                return False
            if not self.running:
                self.running, self.error, self.text, self.askers = True, None, "", []
                claimed = True
            else:
                claimed = False
            if asker not in self.askers:
                self.askers.append(asker)
            return claimed

    def grow(self, text: str) -> bool:
        """Report the text so far; False: every thread that asked for it has ended, so the caller
        stops computing it (the continuation is free again)."""
        with _changed:
            if None not in self.askers and not any(t.is_alive() for t in self.askers):
                self.running, self.text, self.askers = False, "", []
                return False
            self.text = text
            _changed.notify_all()
            return True

    def finish(self, text: str) -> None:
        with _changed:
            self.text, self.done, self.running, self.askers = text, True, False, []
            _changed.notify_all()

    def fail(self, error: BaseException) -> None:
        with _changed:
            self.text, self.error, self.running, self.askers = "", error, False, []
            _changed.notify_all()

    def state(self) -> tuple[str, bool, BaseException | None]:
        """(text so far, done, error of a computation that ended without a text)."""
        with _changed:
            return self.text, self.done, None if self.running else self.error


def follow(continuations: list[Continuation]) -> Iterator[list[str]]:
    """The texts so far, first as they are and then each time one of them grows, until every one
    is done; raises the error of one whose computation failed. Each must be done or claimed (by anyone)."""
    seen, shown = None, None
    while True:
        with _changed:  # a re-entrant lock: `state` takes it again
            if seen is not None and [c.state() for c in continuations] == seen:
                _changed.wait(WAKE_SECONDS)
            seen = [c.state() for c in continuations]
        for _, _, error in seen:
            if error is not None:
                raise error
        texts = [text for text, _, _ in seen]
        if texts != shown:
            shown = texts
            yield texts
        if all(done for _, done, _ in seen):
            return
