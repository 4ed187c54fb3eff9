"""The public allowlist follows docs/deploy.md: every model on it, the two largest loaded at once
(the app keeps two models), fits the default Space hardware's memory by the documented budget."""

import re
from pathlib import Path

import pytest

from explorer import public

ROOT = Path(__file__).resolve().parents[1]
COUNT = re.compile(r"#\s*([\d,]+) parameters")
BUDGET = re.compile(r"Allowlist budget: (\d+) GB of RAM[^.]*?; fp32 weights of the two largest allowlisted "
                    r"models \+ ([\d.]+) GB", re.S)


def _counts(path: Path) -> dict[str, int]:
    """reference -> the parameter count its line states (a line without one is a mistake)."""
    counts = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        ref = line.split("#", 1)[0].strip()
        if not ref:
            continue
        m = COUNT.search(line)
        if not m:
            raise AssertionError(f"allowlist line {line!r} does not state its parameter count ('# N parameters')")
        counts[ref] = int(m.group(1).replace(",", ""))
    return counts


def _budget() -> tuple[float, float]:
    m = BUDGET.search((ROOT / "docs" / "deploy.md").read_text(encoding="utf-8"))
    assert m, "docs/deploy.md no longer states the allowlist budget the test checks"
    return float(m.group(1)) * 1e9, float(m.group(2)) * 1e9


def _fits(counts: dict[str, int], ram: float, working: float) -> bool:
    two = sorted(counts.values())[-2:]
    return 4 * sum(two) + working <= ram


def test_every_allowlisted_model_states_its_size():
    counts = _counts(public.DEFAULT_ALLOWLIST)
    assert set(counts) == set(public.allowlist())


def test_the_allowlist_fits_the_documented_budget(monkeypatch):
    monkeypatch.delenv("SW_ALLOWLIST", raising=False)
    ram, working = _budget()
    counts = _counts(public.DEFAULT_ALLOWLIST)
    assert _fits(counts, ram, working), (
        f"the two largest allowlisted models need {4 * sum(sorted(counts.values())[-2:]) / 1e9:.1f} GB in fp32 "
        f"+ {working / 1e9:.1f} GB: more than the {ram / 1e9:.0f} GB of docs/deploy.md")


def test_the_budget_check_refuses_a_7b_model():
    """The check can fail: a Llama-7B-sized entry breaks the budget."""
    ram, working = _budget()
    counts = _counts(public.DEFAULT_ALLOWLIST) | {"huggyllama/llama-7b": 6_738_415_616}
    assert not _fits(counts, ram, working)


def test_the_embedded_line_states_the_embedded_models_count(embedded):
    counts = _counts(public.DEFAULT_ALLOWLIST)
    assert counts["embedded"] == sum(p.numel() for p in embedded.model.parameters())
