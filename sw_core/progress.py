"""Progress of long steps (download, conversion, loading, scan, verification, perplexity) as callbacks.

The library never prints: a caller passes `progress(step, done, total)` (step: a short name such
as "download" or "convert"; done / total: units of that step, total None when unknown) and shows it
as it likes (the CLI: a tqdm bar with ETA; the app: `st.progress`). `steps` adapts it to the
`progress(done, total)` callbacks of the scan and metric functions; `captured` routes the progress
bars of transformers and huggingface_hub to it while a load runs.
"""

from __future__ import annotations

import io
import threading
from weakref import WeakSet
from contextlib import contextmanager
from typing import Callable

from tqdm.auto import tqdm as _tqdm

Progress = Callable[[str, float, "float | None"], None]

_capture_lock = threading.Lock()  # transformers' tqdm hook is process-wide: one load at a time sets it


def report(progress: Progress | None, step: str, done: float, total: float | None) -> None:
    if progress is not None:
        progress(step, done, total)


def steps(progress: Progress | None, step: str):
    """A `(done, total)` callback that reports as `step`, or None without a progress."""
    if progress is None:
        return None
    return lambda done, total: progress(step, done, total)


def forwarding_tqdm(progress: Progress, step: str, only: tuple[str, ...] = ()):
    """A tqdm class that draws nothing and forwards its counts to `progress` as `step`.

    only: forward only bars whose description starts with one of these (huggingface_hub opens a
    byte bar and a file-count bar; the bytes are the useful one)."""

    class Forwarding(_tqdm):
        _instances = WeakSet()  # its own registry: a visible bar must not make room for it on screen

        def __init__(self, *args, **kwargs):
            kwargs.update(file=io.StringIO(), mininterval=0.2, leave=False, disable=False)
            kwargs.pop("name", None)
            super().__init__(*args, **kwargs)
            self._wanted = not only or str(self.desc or "").startswith(only)

        def update(self, n=1):
            out = super().update(n)
            if self._wanted:
                progress(step, self.n, self.total or None)
            return out

        def close(self):
            if self._wanted and not self.disable:
                progress(step, self.n, self.total or None)
            super().close()

    return Forwarding


@contextmanager
def captured(progress: Progress | None, step: str):
    """While inside: transformers' own progress bars (loading weights, dequantizing a GGUF) report
    to `progress` as `step` instead of printing. Nothing changes without a progress."""
    if progress is None:
        yield
        return
    from transformers import modeling_gguf_pytorch_utils as gguf_utils
    from transformers.utils import logging as hf_logging

    cls = forwarding_tqdm(progress, step)
    with _capture_lock:
        previous_hook = hf_logging.set_tqdm_hook(lambda factory, args, kwargs: cls(*args, **kwargs))
        previous_gguf = gguf_utils.tqdm
        gguf_utils.tqdm = cls
        try:
            yield
        finally:
            gguf_utils.tqdm = previous_gguf
            hf_logging.set_tqdm_hook(previous_hook)
