"""The check's JSON as a two-column table (flattened keys), for the terminal and docs/gpu.md."""

from __future__ import annotations


def rows(data: dict, prefix: str = "") -> list[tuple[str, str]]:
    out = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out += rows(value, name + ".")
        else:
            out.append((name, _fmt(value)))
    return out


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    return str(value).replace("\n", "\\n").replace("|", "\\|")  # one table cell per value


def markdown(data: dict) -> str:
    lines = ["| measure | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows(data)]
    return "\n".join(lines) + "\n"
