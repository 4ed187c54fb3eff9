"""Cross-prompt stability: does every prompt find the same super weights, at which token?

Each prompt (the built-in set of `sw_core.builtin_prompts`, plus the caller's) runs the detector on its
own. Per coordinate: the fraction of prompts that find it. Per prompt: the coordinates it found,
and the token position and value of its super activation (the paper: the first token, whatever
the text).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .detect import Rules, detect_in_prompt
from .edits import Coord
from .errors import BadInput
from .builtin_prompts import Prompt, builtin_prompts


@dataclass
class PromptCheck:
    text: str
    label: str
    add_bos: bool | None
    coords: list[Coord]  # what this prompt found
    activation_token: int | None  # token position of the strongest super activation, if any
    activation_value: float | None
    activation_channel: int | None
    max_spike_ratio: float


@dataclass
class CoordStability:
    coord: Coord
    found_in: int
    total: int

    @property
    def fraction(self) -> float:
        return self.found_in / self.total if self.total else 0.0


@dataclass
class Stability:
    model: str
    prompts: list[PromptCheck]
    coordinates: list[CoordStability] = field(default_factory=list)  # most stable first

    @property
    def all_agree(self) -> bool:
        """Every prompt found the same, non-empty set of coordinates."""
        sets = {frozenset(p.coords) for p in self.prompts}
        return len(sets) == 1 and bool(next(iter(sets)))

    def stable_coords(self, min_fraction: float = 1.0) -> list[Coord]:
        return [c.coord for c in self.coordinates if c.fraction >= min_fraction]

    def to_dict(self) -> dict:
        d = asdict(self)
        for c, s in zip(d["coordinates"], self.coordinates):
            c["fraction"] = s.fraction
        d["all_agree"] = self.all_agree
        return d


def _as_prompts(prompts) -> list[Prompt]:
    if prompts is None:
        return []
    if isinstance(prompts, (str, Prompt)):
        prompts = [prompts]
    out = []
    for p in prompts:
        if isinstance(p, Prompt):
            out.append(p)
        elif isinstance(p, str) and p.strip():
            out.append(Prompt(p, "user"))
        else:
            raise BadInput(f"Prompt {p!r} is empty or not text: give non-empty strings.")
    return out


def cross_prompt_stability(loaded, prompts: list[str] | None = None, *, builtin: bool = True, threshold: float = Rules.threshold,
             share: float = Rules.share, relative: float = Rules.relative,
             max_iterations: int = Rules.max_iterations, progress=None) -> Stability:
    """Run the detector's spike rules on the built-in prompts (unless builtin=False) and on `prompts`.

    Each prompt gets as many scans as `find_super_weights` gives it by default (rows that share a
    column show only once the first is off). Candidates are compared, not verified: the
    perplexity check does not depend on the prompt (`sw_core.verify`), so it runs once, in detect.
    progress(done, total) is called after each prompt.
    """
    todo = (builtin_prompts() if builtin else []) + _as_prompts(prompts)
    if not todo:
        raise BadInput("No prompt to run: give prompts, or keep the built-in ones (builtin=True).")
    checks: list[PromptCheck] = []
    counts: dict[Coord, int] = {}
    for i, p in enumerate(todo):
        r = detect_in_prompt(loaded, p.text, threshold=threshold, share=share,
                             max_iterations=max_iterations, relative=relative, add_bos=p.add_bos)
        coords = [w.coord for w in r.weights]
        top = max((w.activation for w in r.weights), key=lambda a: abs(a.value), default=None)
        checks.append(PromptCheck(
            p.text, p.label, p.add_bos, coords,
            None if top is None else top.token, None if top is None else top.value,
            None if top is None else top.channel, r.max_ratio,
        ))
        for c in coords:
            counts[c] = counts.get(c, 0) + 1
        if progress is not None:
            progress(i + 1, len(todo))
    stability = sorted((CoordStability(c, n, len(todo)) for c, n in counts.items()),
                       key=lambda s: (-s.found_in, s.coord.layer, s.coord.row, s.coord.col))
    return Stability(loaded.name, checks, stability)
