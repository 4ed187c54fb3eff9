"""A generated text shared by every session: one thread computes it, any number follow it as it grows.

The thread that `claim`s a continuation computes it and reports each longer text (`grow`), then the
end (`finish`) or its error (`fail`); anyone else `follow`s: sees the text so far, and the end. A
text is final only once done: a half-written one is shown as it grows, never kept as the answer.
A failed computation leaves the continuation free again, so the next `claim` tries anew.

One condition for every continuation, so a page following two texts wakes when either grows.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Iterator

_changed = threading.Condition()
WAKE_SECONDS = 0.25  # a follower looks again at least this often (a lost wake-up costs no more)


@dataclass
class Continuation:
    text: str = ""  # the text so far; final once `done`
    done: bool = False
    running: bool = False  # a thread is computing it now
    error: BaseException | None = None  # why the last computation failed

    def claim(self) -> bool:
        """True: the caller now computes the text (no one has, no one does); False: it need not."""
        with _changed:
            if self.done or self.running:
                return False
            self.running, self.error, self.text = True, None, ""
            return True

    def grow(self, text: str) -> None:
        with _changed:
            self.text = text
            _changed.notify_all()

    def finish(self, text: str) -> None:
        with _changed:
            self.text, self.done, self.running = text, True, False
            _changed.notify_all()

    def fail(self, error: BaseException) -> None:
        with _changed:
            self.text, self.error, self.running = "", error, False
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
