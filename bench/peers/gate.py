"""Pure logic of the peers benchmark: the correctness gate, the result rows and the docs table.

No torch here, so the tests can check it in the main environment without the peer packages.
"""

from __future__ import annotations

import math
import statistics

MAXIMA_RTOL = 1e-4  # per-layer max |down_proj output|: relative to ours
LOGITS_ATOL = 1e-2  # ablated logits: absolute (logits of this model are |x| < ~50; the ablation moves them by ~30)
MIB = 1024 * 1024

TOOLS = ("ours", "transformer_lens", "nnsight")
BASELINES = ("forward", "forward_keep1")  # rows of their own: no maxima, no ablation, always "correct"
LABELS = {
    "forward": "plain forward (full logits)",
    "forward_keep1": "plain forward, `logits_to_keep=1`",
    "ours": "ours (`sw_core`)",
    "transformer_lens": "TransformerLens (bridge)",
    "nnsight": "nnsight",
}


def maxima_error(ours: list[float], theirs: list[float]) -> float:
    """Largest relative difference between two per-layer maxima lists (inf when lengths differ)."""
    if len(ours) != len(theirs) or not ours:
        return math.inf
    errs = [abs(a - b) / max(abs(a), 1e-12) for a, b in zip(ours, theirs)]
    return max(errs) if all(math.isfinite(e) for e in errs) else math.inf


def maxima_ok(ours: list[float], theirs: list[float], rtol: float = MAXIMA_RTOL) -> bool:
    return maxima_error(ours, theirs) <= rtol


def logits_ok(max_abs_diff: float, atol: float = LOGITS_ATOL) -> bool:
    return math.isfinite(max_abs_diff) and max_abs_diff <= atol


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def ratio(value: float | None, baseline: float | None) -> float | None:
    if value is None or not baseline:
        return None
    return value / baseline


def rows_for_length(tokens: int, r: dict) -> list[dict]:
    """One row per tool for one prompt length, from the raw record of that length.

    r["maxima_s"][tool] / r["ablation_s"][tool]: lists of seconds; r["maxima_ok"][tool] /
    r["ablation_ok"][tool]: the gate; r["peak_bytes"][tool]: peak RSS above the loaded model in a
    fresh process. A tool that fails the gate reports "mismatch" instead of its time.
    """
    fwd = median(r["maxima_s"].get("forward", []))
    fwd_peak = r.get("peak_bytes", {}).get("forward")
    rows = []
    for tool in BASELINES + TOOLS:
        base = tool in BASELINES
        max_ok = base or r["maxima_ok"].get(tool, False)
        abl_ok = base or r["ablation_ok"].get(tool, False)
        t_max, t_abl = median(r["maxima_s"].get(tool, [])), median(r["ablation_s"].get(tool, []))
        peak = r.get("peak_bytes", {}).get(tool)
        rows.append({
            "tokens": tokens,
            "tool": tool,
            "maxima_s": t_max if max_ok else None,
            "maxima_vs_forward": ratio(t_max, fwd) if max_ok else None,
            "maxima_peak_over_forward_mib": (peak - fwd_peak) / MIB if max_ok and None not in (peak, fwd_peak) else None,
            "ablation_s": t_abl if abl_ok else None,
            "ablation_vs_forward": ratio(t_abl, fwd) if abl_ok else None,
            "maxima_ok": max_ok,
            "ablation_ok": abl_ok,
        })
    return rows


def _cell(value, ok: bool, fmt: str) -> str:
    if not ok:
        return "mismatch"
    return "—" if value is None else format(value, fmt)


def markdown_table(rows: list[dict], cold_start: dict[str, float | None]) -> str:
    """The docs table: one line per (length, tool); times as ratios to a plain forward too."""
    head = ("| tokens | tool | maxima: s | maxima / forward | maxima peak memory over a forward (MiB) "
            "| ablation: s | ablation / forward | cold start to first result (s) |\n"
            "|---|---|---|---|---|---|---|---|")
    lines = [head]
    for row in rows:
        ok_m, ok_a = row["maxima_ok"], row["ablation_ok"]
        cold = cold_start.get(row["tool"])
        lines.append(
            f"| {row['tokens']} | {LABELS[row['tool']]} | {_cell(row['maxima_s'], ok_m, '.3f')} "
            f"| {_cell(row['maxima_vs_forward'], ok_m, '.2f')} | {_cell(row['maxima_peak_over_forward_mib'], ok_m, '+.0f')} "
            f"| {_cell(row['ablation_s'], ok_a, '.3f')} | {_cell(row['ablation_vs_forward'], ok_a, '.2f')} "
            f"| {'—' if cold is None else format(cold, '.1f')} |"
        )
    return "\n".join(lines)


def winners(rows: list[dict]) -> list[str]:
    """Where a peer beats ours (lower time or memory at the same length), as sentences' subjects."""
    out = []
    by_len: dict[int, dict[str, dict]] = {}
    for row in rows:
        by_len.setdefault(row["tokens"], {})[row["tool"]] = row
    for tokens, tools in sorted(by_len.items()):
        ours = tools.get("ours")
        if ours is None:
            continue
        for tool, row in tools.items():
            if tool not in TOOLS[1:]:
                continue
            for key, what in (("maxima_s", "maxima time"), ("maxima_peak_over_forward_mib", "maxima memory"),
                              ("ablation_s", "ablation time")):
                a, b = ours.get(key), row.get(key)
                if a is not None and b is not None and b < a:
                    out.append(f"{LABELS[tool]} at {tokens} tokens: {what} {b:.3g} vs ours {a:.3g}")
    return out


def replace_generated(doc: str, heading: str, key: str, body: str) -> str:
    """`doc` with the generated block `key` replaced by `body`; hand-written text around it stays.

    The block lies between `<!-- key:begin -->` and `<!-- key:end -->`. When absent, a section
    `## heading` holding it is appended.
    """
    begin, end = f"<!-- {key}:begin -->", f"<!-- {key}:end -->"
    block = f"{begin}\n{body.strip()}\n{end}"
    if begin in doc and end in doc and doc.index(begin) < doc.index(end):
        return doc[: doc.index(begin)] + block + doc[doc.index(end) + len(end):]
    sep = "" if not doc or doc.endswith("\n\n") else ("\n" if doc.endswith("\n") else "\n\n")
    return f"{doc}{sep}## {heading}\n\n{block}\n"
