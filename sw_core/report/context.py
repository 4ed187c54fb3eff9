"""What every section reads: the model, the settings and the ONE detection of the report."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..edits import Coord


@dataclass
class Context:
    loaded: object
    settings: object  # ReportSettings
    detection: object = None  # sw_core.detect.Detection, run once by the detection section
    shared: dict = field(default_factory=dict)  # results one section passes to a later one (Table 1 -> sweep)

    @property
    def coords(self) -> list[Coord]:
        return self.detection.coords() if self.detection is not None else []

    def groups(self) -> list[list[Coord]]:
        """The super weights per super activation (one layer and row each), as explain() wants them."""
        out: dict[tuple[int, int], list[Coord]] = {}
        for c in self.coords:
            out.setdefault((c.layer, c.row), []).append(c)
        return list(out.values())
