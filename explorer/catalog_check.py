"""The Catalog page's check of the loaded model, cached for every session and run through the job queue."""

from __future__ import annotations

from .computed import DETECTION_PROMPTS, cached, detection
from .jobs import queued


@cached(16)
def verified(loaded, prompts: tuple[str, ...] = DETECTION_PROMPTS[:1]):
    """Which catalogued coordinates of `loaded` the detector re-finds on `prompts` (the pages' detection)."""
    from sw_core import catalog

    det = detection(loaded, prompts)  # queued on its own: not nested below
    with queued("catalog check"):
        return catalog.verify(loaded, det)
