"""Medians of repeated timings, and the result record every bench case returns."""

from __future__ import annotations

import gc
import math
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

MIN_REPEATS = 5


@dataclass
class Timing:
    """Seconds per call: the median of `values` (one value per repeat, after the warm-up)."""

    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def repeats(self) -> int:
        return len(self.values)


_frozen = 0  # depth of nested old_objects_set_aside() blocks


@contextmanager
def old_objects_set_aside():
    """Collections inside scan only the objects made since it was entered.

    A process that imported transformers holds about a million objects: a full collection takes
    0.2-0.3 s, which before every repeat made a quick bench run mostly garbage collection. The older
    objects are collected once, then frozen (never freed while frozen, never scanned), and thawed
    on leaving the outermost block."""
    global _frozen
    if not _frozen:
        gc.collect()
        gc.freeze()
    _frozen += 1
    try:
        yield
    finally:
        _frozen -= 1
        if not _frozen:
            gc.unfreeze()


def median_seconds(fn, repeats: int = MIN_REPEATS, warmup: int = 1, inner: int = 1) -> Timing:
    """Time `fn()` `repeats` times (each repeat = `inner` calls, reported per call) after `warmup` calls.

    gc runs before each repeat, not during it, so a collection does not land in one sample only.
    """
    for _ in range(warmup):
        fn()
    values = []
    with old_objects_set_aside():
        for _ in range(max(1, repeats)):
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter()
                for _ in range(inner):
                    fn()
                values.append((time.perf_counter() - start) / inner)
            finally:
                gc.enable()
    return Timing(values)


def paired_median_seconds(fn, baseline_fn, repeats: int = MIN_REPEATS, warmup: int = 1,
                          inner: int = 1) -> tuple[Timing, Timing]:
    """Time `fn` and `baseline_fn` alternately (a, b, a, b, ...), so a slow phase of a shared
    machine hits both sides alike; returns (Timing of fn, Timing of baseline_fn)."""
    for _ in range(warmup):
        fn()
        baseline_fn()
    a, b = [], []
    with old_objects_set_aside():
        for _ in range(max(1, repeats)):
            a += median_seconds(fn, 1, warmup=0, inner=inner).values
            b += median_seconds(baseline_fn, 1, warmup=0, inner=inner).values
    return Timing(a), Timing(b)


@dataclass(frozen=True)
class Goal:
    """A target such as `ratio <= 1.10` or `value <= 0.001` (field is "ratio" or "value")."""

    field: str
    op: str  # "<=" or ">="
    limit: float

    def met_by(self, value: float, ratio: float) -> bool:
        x = ratio if self.field == "ratio" else value
        if not math.isfinite(x):
            return False
        return x <= self.limit if self.op == "<=" else x >= self.limit

    def __str__(self) -> str:
        return f"{self.field} {self.op} {self.limit:g}"


@dataclass
class BenchResult:
    """One figure: `value` of the thing measured, `baseline` of what it is compared to, same unit."""

    name: str
    value: float
    baseline: float
    unit: str
    goal: Goal | None
    what: str  # what `value` measures
    baseline_what: str  # what `baseline` measures
    repeats: int
    baseline_repeats: int
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        if self.baseline == 0:
            return math.inf if self.value else 1.0
        return self.value / self.baseline

    @property
    def met(self) -> bool | None:
        return None if self.goal is None else self.goal.met_by(self.value, self.ratio)

    def to_json(self) -> dict:
        return {
            "value": float(self.value),
            "baseline": float(self.baseline),
            "ratio": float(self.ratio),
            "goal": str(self.goal) if self.goal else None,
            "unit": self.unit,
            "met": self.met,
            "what": self.what,
            "baseline_what": self.baseline_what,
            "repeats": self.repeats,
            "baseline_repeats": self.baseline_repeats,
            "note": self.note,
            **({"extra": self.extra} if self.extra else {}),
        }


def timed_result(name, value: Timing, baseline: Timing, *, what, baseline_what, goal=None,
                 unit="s", scale=1.0, note="", extra=None) -> BenchResult:
    """A BenchResult from two Timings (medians), optionally scaled (e.g. 1e3 for ms)."""
    return BenchResult(
        name=name, value=value.median * scale, baseline=baseline.median * scale, unit=unit,
        goal=goal, what=what, baseline_what=baseline_what, repeats=value.repeats,
        baseline_repeats=baseline.repeats, note=note, extra=extra or {},
    )
