"""report.html: ONE self-contained file. plotly.js is inlined once (with the first figure), so the
page opens with no network; every section has an <h2> heading, and a section that could not run
shows why. Every number goes through `numbers.cell` (no scientific notation, % for fractions)."""

from __future__ import annotations

import html
import re

import plotly.io as pio

from .card import card_line
from .numbers import Percent, cell
from .paper import citation

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:16px 24px;color:#222}
h1{font-size:1.6em;margin-bottom:.2em} .card{color:#555;margin-bottom:1em}
section{border-top:1px solid #ddd;padding-top:.5em;margin-top:1.5em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0 1em} caption{text-align:left;font-weight:600;padding:.3em 0}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right} th{background:#f4f4f4} td.t{text-align:left}
.why{background:#fff4e5;border-left:4px solid #f0a030;padding:.6em 1em} .meta{color:#777;font-size:.85em}
nav a{margin-right:1em}
"""
_NUMERIC = re.compile(r"^x?[-+<]?(?=[.,]*\d)[\d.,]+( × 10[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)?(%|[MBT])?$")  # as numbers.num / times / pct write them


def _is_text(v) -> bool:
    """Left-align words; numbers (and numbers the section already formatted, e.g. "x1.5") align right."""
    return isinstance(v, str) and not isinstance(v, Percent) and not _NUMERIC.match(v)


def _table(caption: str, rows: list[dict]) -> str:
    if not rows:
        return f"<p><b>{html.escape(caption)}</b>: none.</p>"
    cols = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(
        f"<td class='t'>{html.escape(cell(r.get(c)))}</td>" if _is_text(r.get(c)) else f"<td>{html.escape(cell(r.get(c)))}</td>"
        for c in cols) + "</tr>" for r in rows)
    return f"<table><caption>{html.escape(caption)}</caption><tr>{head}</tr>{body}</table>"


def render(card: dict, sections) -> str:
    parts, first = [], True
    for s in sections:
        out = [f"<section id='{s.key}'><h2>{html.escape(s.title)}</h2>"]
        if not s.ran:
            out.append(f"<p class='why'><b>This section could not run:</b> {html.escape(s.why_not)}</p>")
        out += [f"<p>{html.escape(n)}</p>" for n in s.notes]
        out += [_table(c, rows) for c, rows in s.tables]
        for fig in s.figures:
            out.append(pio.to_html(fig, include_plotlyjs=first, full_html=False, config={"displaylogo": False}))
            first = False
        out.append(f"<p class='meta'>{s.seconds:.1f} s</p></section>")
        parts.append("".join(out))
    nav = "".join(f"<a href='#{s.key}'>{html.escape(s.title)}</a>" for s in sections)
    title = f"Super weights of {card['name']}"
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p class='card' id='card'>{html.escape(card_line(card))}</p><nav>{nav}</nav>"
            f"<p class='meta'>Figures labelled \"paper\" are from {html.escape(citation())}; every other number was "
            f"measured on this model. The data behind every figure is in report.json.</p>"
            + "".join(parts) + "</body></html>")
