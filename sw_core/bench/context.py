"""What every bench case gets: the model, the input, the repeat count, and quick mode."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..edits import Coord

# A plain English paragraph used when sw_core.texts is not available (≈ 350 tokens).
FALLBACK_TEXT = (
    "The history of the printed book begins long before the printing press. Scribes copied texts "
    "by hand for centuries, and a single bible could take a monastery years to finish. When "
    "movable type arrived in Europe in the fifteenth century, the cost of a book fell sharply, "
    "and printers in Venice, Paris and London competed to publish grammars, almanacs, sermons and "
    "the works of ancient authors. Literacy spread slowly at first, then quickly, as cheap "
    "pamphlets carried news and arguments from town to town. Governments soon learned to license "
    "presses and to punish authors whose opinions they disliked, yet forbidden books were "
    "smuggled across borders in barrels and bales of cloth. By the eighteenth century, lending "
    "libraries allowed people who could not afford books to borrow them for a small fee, and "
    "newspapers appeared every morning in the larger cities. Steam-powered presses in the "
    "nineteenth century multiplied the output of a single shop many times over, and paper made "
    "from wood pulp replaced paper made from rags. Novels were published in monthly parts, so "
    "that readers waited eagerly for the next chapter of a story, much as people now wait for the "
    "next episode of a series. Public libraries, free to every citizen, opened in many countries, "
    "and schools required every child to learn to read. Today a reader can carry thousands of "
    "books on a small device, yet printed books are still sold in great numbers, and many people "
    "say they remember what they read on paper better than what they read on a screen. The "
    "long story of the book is, in the end, a story about how ideas travel from one mind to "
    "another, and about who is allowed to decide which ideas may travel at all."
)


def bench_text(max_chars: int = 8000) -> str:
    """Real English prose shipped offline (`sw_core.texts`, 1911 Britannica), else the fallback."""
    try:
        from ..texts import text
    except ImportError:
        return FALLBACK_TEXT
    try:
        return text("britannica", max_chars=max_chars)
    except Exception:  # noqa: BLE001 - e.g. the text package is missing: the bench still runs
        return FALLBACK_TEXT


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
        from ..loading import load

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
