"""Measured tables as Markdown, written between markers in README.md and docs/*.md (pure: no model runs).

A block reads

    <!-- numbers:NAME -->
    ...generated table...
    <!-- /numbers:NAME -->

and NAME is one of `RENDERERS`. Each renderer turns the stored measurements (docs/numbers/*.json,
bench/results.json) into the block's text, so a test can check that every document shows exactly
what the stored outputs say.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NUMBERS = ROOT / "docs" / "numbers"
BLOCK = re.compile(r"(<!-- numbers:([\w-]+) -->\n)(.*?)(<!-- /numbers:\2 -->)", re.S)


def _load(name: str) -> dict:
    return json.loads((NUMBERS / f"{name}.json").read_text(encoding="utf-8"))


def _num(x: float) -> str:
    """15.80, 1,024.18, 2.6e+05: two decimals with thousands separators, compact when huge."""
    return f"{x:.2g}" if abs(x) >= 1e6 else f"{x:,.2f}"


def _source(d: dict) -> str:
    return f"\n_{d['model']}, {d['device']}, {d['dtype']}; {d['text']}. Regenerate: `{d['command']}`._\n"


def app_perplexity() -> str:
    d = _load("app")
    rows = ["| condition | perplexity |", "|---|---|"]
    rows += [f"| {r['condition']} | {_num(r['perplexity'])} |" for r in d["edits"]]
    return "\n".join(rows) + "\n" + _source(d)


def app_quantization() -> str:
    d = _load("quantization")
    rows = [f"Original: {_num(d['original'])}.", "",
            "| setting | naive | super-weight aware | super weights after, naive / aware |", "|---|---|---|---|"]
    for r in d["pairs"]:
        sw = f"{', '.join(f'{v:.3g}' for v in r['sw_naive'])} / {', '.join(f'{v:.3g}' for v in r['sw_aware'])}"
        rows.append(f"| {r['setting']} | {_num(r['naive'])} | {_num(r['aware'])} | {sw} |")
    return "\n".join(rows) + "\n" + _source(d)


def quant_lesson() -> str:
    d = _load("quantization")
    lesson = d["lesson"]
    lines = [f"The Quantization page opens on **{lesson['setting']}**: perplexity {_num(d['original'])} (original) -> "
             f"**{_num(lesson['naive'])}** naive / **{_num(lesson['aware'])}** super-weight aware "
             f"(naive is {lesson['naive'] / lesson['aware']:.1f}x aware).", "",
             "| model | greedy continuation of \"" + lesson["prompt"] + "\" |", "|---|---|"]
    for who in ("original", "naive", "aware"):
        text = lesson["texts"][who].replace("\n", " ").replace("|", "\\|").strip()
        lines.append(f"| {who} | {text} |")
    return "\n".join(lines) + "\n" + _source(d)


def bench() -> str:
    d = json.loads((ROOT / "bench" / "results.json").read_text(encoding="utf-8"))
    lines = ["| case | value | baseline | ratio | goal | met |", "|---|---|---|---|---|---|"]
    for name, r in d.items():
        if not isinstance(r, dict) or "value" not in r:
            continue
        met = "—" if r.get("met") is None else ("yes" if r["met"] else "**no**")
        lines.append(f"| {name} | {r['value']:.4g} {r['unit']} | {r['baseline']:.4g} {r['unit']} | "
                     f"{r['ratio']:.3g} | {r.get('goal') or '—'} | {met} |")
    return "\n".join(lines) + "\n\n_From `bench/results.json`. Regenerate: `make bench`, then `make numbers`._\n"


def deploy_memory() -> str:
    d = _load("deploy")
    return (f"| measurement | value |\n|---|---|\n| fp32 model (embedded) | {d['model_mb']:,.0f} MB |\n"
            f"| bound: 2 x fp32 model + 1 GB | {d['bound_mb']:,.0f} MB |\n"
            f"| peak RSS of the public server, {d['sessions']} sessions | **{d['peak_rss_mb']:,.0f} MB** |\n"
            f"| pages each session opened | {', '.join(d['pages'])} |\n"
            f"| tracebacks seen in the pages | {d['exceptions_seen']} |\n"
            f"| malloc settings (as in the Dockerfile) | {', '.join(f'{k}={v}' for k, v in d['malloc'].items())} |\n"
            f"\n_{d['how']}. Regenerate: `{d['command']}`._\n")


RENDERERS = {"app-perplexity": app_perplexity, "app-quantization": app_quantization,
             "quant-lesson": quant_lesson, "bench": bench, "deploy-memory": deploy_memory}


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def filled(text: str) -> str:
    """`text` with every marker block replaced by its renderer's output (unknown names: KeyError)."""
    def fill(m: re.Match) -> str:
        name = m.group(2)
        if name not in RENDERERS:
            raise KeyError(f"unknown numbers block {name!r}: known are {', '.join(RENDERERS)}")
        return m.group(1) + RENDERERS[name]() + m.group(4)

    return BLOCK.sub(fill, text)


def stale_blocks(text: str) -> list[str]:
    """Names of the blocks in `text` whose content differs from what the stored measurements render."""
    return [m.group(2) for m in BLOCK.finditer(text) if m.group(3) != RENDERERS[m.group(2)]()]
