"""The paper's analysis of one model in one call: `build_report` runs each section on ONE detection,
`write_report` writes report.html (self-contained) and report.json (the data behind every figure).

Sections (each a module with `build(ctx, section)`; keys are report.json's):
detection, activations, table1, scale_sweep, block_sweep, mechanism. A section that cannot run on
this model (no super weight found, no zero-shot set) says why instead of vanishing.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import activations, block_sweep, detection, mechanism, scale_sweep, table1
from .card import model_card
from .context import Context
from .section import CannotRun, Section, run_section
from .settings import ReportSettings

__all__ = ["ReportSettings", "Report", "Section", "CannotRun", "SECTIONS", "build_report", "write_report"]

# key -> (title, builder), in report order; table1 runs before scale_sweep, which reuses its anchors
SECTIONS = {
    "detection": ("Detection", detection.build),
    "activations": ("Where the super activation is", activations.build),
    "table1": ("Table 1: removing the super weights", table1.build),
    "scale_sweep": ("Scale sweep", scale_sweep.build),
    "block_sweep": ("Block-size sweep (RTN int4)", block_sweep.build),
    "mechanism": ("Mechanism", mechanism.build),
}


@dataclass
class Report:
    card: dict
    sections: list[Section]
    settings: ReportSettings
    seconds: float

    def to_json(self) -> dict:
        from dataclasses import asdict

        out = {"model": self.card, "settings": asdict(self.settings), "seconds": round(self.seconds, 2)}
        out.update({s.key: s.to_json() for s in self.sections})
        return out

    def json_text(self) -> str:
        """report.json's text: strict JSON (a non-finite number, e.g. an infinite perplexity, is null)."""
        plain = json.loads(json.dumps(self.to_json(), default=_jsonable))
        return json.dumps(_finite(plain), indent=1, allow_nan=False)

    def html(self) -> str:
        from .html import render

        return render(self.card, self.sections)


def build_report(loaded, settings: ReportSettings | None = None, *, detection=None, sections=None,
                 progress=None) -> Report:
    """Run the sections (default: all) on `loaded`. progress(section, done, total, elapsed) after each.
    detection: one the caller already has (made with the default rules on `settings.prompt`), else run once here."""
    settings = (settings or ReportSettings()).check()
    keys = list(SECTIONS) if sections is None else [k for k in SECTIONS if k in sections]
    ctx, out, start = Context(loaded, settings, detection), [], time.perf_counter()
    if ctx.detection is None and "detection" not in keys:  # every section reads the detection
        ctx.detection = detection.find_super_weights(loaded, settings.prompt)
    for i, key in enumerate(keys):
        title, build = SECTIONS[key]
        if key != "detection" and ctx.detection is None:
            s = Section(key, title, why_not="Detection could not run (see its section), and every other section reads it.")
        else:
            s = run_section(key, title, build, ctx)
        out.append(s)
        if progress is not None:
            progress(s, i + 1, len(keys), time.perf_counter() - start)
    return Report(model_card(loaded), out, settings, time.perf_counter() - start)


def write_report(report: Report, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """report.html and report.json in `out_dir` (created), each written atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    html_path, json_path = out / "report.html", out / "report.json"
    _atomic(html_path, report.html())
    _atomic(json_path, report.json_text())
    return html_path, json_path


def _atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a report is for sharing
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _finite(o):
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_finite(v) for v in o]
    return o


def _jsonable(o):
    import dataclasses

    if dataclasses.is_dataclass(o):
        return dataclasses.asdict(o)
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, (set, tuple)):
        return list(o)
    return str(o)
