"""What every bench case gets: the model, the input, the repeat count, and quick mode."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from sw_core.edits import Coord

def bench_text(max_chars: int = 8000) -> str:
    """Real English prose shipped offline (`sw_core.texts`, 1911 Britannica)."""
    from sw_core.texts import PROSE, text

    return text(PROSE, max_chars=max_chars)


@dataclass
class BenchContext:
    loaded: object  # sw_core.loading.Loaded
    quick: bool = False
    repeats: int = 5
    tokens: int = 256  # input length for forward-pass cases
    text: str = field(default_factory=bench_text)
    reload: Callable | None = None  # builds the same model again; default: load(ref) again

    def load_again(self):
        """A fresh copy of the model, the way a user gets one (for the reload baseline)."""
        if self.reload is not None:
            return self.reload()
        from sw_core.loading import load

        return load(self.loaded.ref, device=self.device, dtype=self.loaded.dtype)

    @property
    def device(self) -> str:
        return str(self.loaded.input_device)

    def prompt(self, tokens: int | None = None) -> str:
        """A prefix of the bench text of about `tokens` tokens (for APIs that take text)."""
        n = tokens or self.tokens
        words = self.text.split(" ")
        lo, hi = 1, len(words)
        while lo < hi:  # the longest word prefix with <= n tokens
            mid = (lo + hi + 1) // 2
            if self.loaded.encode(" ".join(words[:mid])).shape[1] <= n:
                lo = mid
            else:
                hi = mid - 1
        return " ".join(words[:lo])

    def ids(self, tokens: int | None = None) -> torch.Tensor:
        """The bench text as token ids [1, T], T <= `tokens` (repeated if the text is too short)."""
        n = tokens or self.tokens
        text = self.text
        ids = self.loaded.encode(text)
        while ids.shape[1] < n:
            text = text + " " + self.text
            ids = self.loaded.encode(text)
        return ids[:, :n]

    def coord(self) -> Coord:
        """A weight to toggle: the known super weight of the embedded model, else layer 1's largest |w|."""
        if self.loaded.ref == "embedded":
            return Coord(11, 507, 1229)
        layer = min(1, self.loaded.num_layers - 1)
        w = self.loaded.layers[layer].dense_weight().detach()
        flat = int(w.abs().float().argmax())
        return Coord(layer, flat // w.shape[1], flat % w.shape[1])

    def sync(self) -> None:
        """Wait for queued GPU work, so a timing covers the work and not only its launch."""
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
