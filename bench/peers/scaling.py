"""How time and memory of a scan, a detection and a perplexity run grow with prompt length and
with model size. Writes bench/scaling.json, docs/scaling.png (plotly + kaleido; an .html file
when no PNG can be made) and the generated block of docs/benchmarks.md's "Scaling" section.

    python -m bench.peers.scaling [--lengths 32,128,512,2048,8192] [--size-tokens 256] [--repeats 1]
    python -m bench.peers.scaling --sizes-only --big "1.5B shape=DIR"   # the model-size axis alone

Models of a real size (`--big LABEL=DIR`, e.g. a folder written by `python -m bench.big_model`)
are measured one at a time in this process: the load, a scan and a verified detection (on the
--size-tokens prompt, like the small models), each with its wall time and peak memory, and the process's peak RSS. The
Llama-7B shape is not loaded here: its figures come from `make scale-check`
(bench/scale_check.json), the same detection as a user runs it. Nothing here needs the peer
tools: it runs in the main virtual environment too.

Each figure is one call (or the median of --repeats): its wall time, and its peak resident memory
above the memory before it (this process runs with malloc returning freed memory at once, see
`measure.MALLOC_ENV`, so the peak is that of the tensors alive). 1 torch thread unless --threads.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from bench.peers import gate
from bench.peers.measure import load_average, peak_over, prompt_of_tokens, reexec_with_malloc_env

ROOT = Path(__file__).resolve().parents[2]
JOBS = ("scan", "detection", "perplexity")
TINY_LAYERS = (2, 4, 8)
PENDING_7B = "7B shape (Llama-2-7B): measured on GPU by `make gpu-check`, pending"
SCALE_CHECK = ROOT / "bench" / "scale_check.json"


def jobs(loaded):
    """name -> fn(prompt, tokens): the three public entry points, as the app calls them."""
    from sw_core.detect import find_super_weights
    from sw_core.metrics import perplexity
    from sw_core.scan import scan

    return {
        "scan": lambda prompt, n: scan(loaded, prompt),
        "detection": lambda prompt, n: find_super_weights(loaded, prompt),
        "perplexity": lambda prompt, n: perplexity(loaded, prompt, max_tokens=n),
    }


def measure(fn, repeats: int) -> dict:
    times, peak = [], None
    for i in range(max(1, repeats)):
        _, p, seconds = peak_over(fn)
        times.append(seconds)
        peak = p if i == 0 else peak  # the first call's peak: later ones may reuse its buffers
    return {"seconds": statistics.median(times), "peak_mib": None if peak is None else peak / gate.MIB}


def study(loaded, lengths, repeats, label) -> list[dict]:
    run = jobs(loaded)
    params = sum(p.numel() for p in loaded.model.parameters())
    warm = prompt_of_tokens(loaded, 16)
    for fn in run.values():
        fn(warm, 16)  # lazy initialisation (kernels, tokenizer caches) is not part of any figure
    rows = []
    for n in lengths:
        prompt = prompt_of_tokens(loaded, n)
        tokens = int(loaded.encode(prompt).shape[1])
        for job, fn in run.items():
            print(f"[scaling] {label}: {job}, {tokens} tokens", flush=True)
            rows.append({"model": label, "parameters": params, "tokens": tokens, "job": job,
                         **measure(lambda: fn(prompt, tokens), repeats)})
    return rows


def _rss_bytes(field: str = "VmRSS") -> int | None:
    from bench.peers.measure import _status_kib

    kib = _status_kib(field)
    return None if kib is None else kib * 1024


def big_study(folder: str, label: str, dtype: str, tokens: int) -> dict:
    """Load, scan and verified detection of one large model, then free it (never two at once)."""
    import gc

    from sw_core.detect import find_super_weights
    from sw_core.loading import load
    from sw_core.scan import scan

    print(f"[scaling] {label}: load", flush=True)
    loaded, load_peak, load_s = peak_over(lambda: load(folder, device="cpu", dtype=dtype))
    row = {"model": label, "parameters": sum(p.numel() for p in loaded.model.parameters()),
           "dtype": str(loaded.dtype).replace("torch.", ""), "load_s": load_s, "rss_after_load": _rss_bytes()}
    prompt = prompt_of_tokens(loaded, tokens)  # the same prompt length as the small models' rows
    # A short scan first, as the small models' study warms up: the weights are memory-mapped and
    # reading them in the first time is the load's cost, not the scan's (RSS after load counts it).
    scan(loaded, prompt_of_tokens(loaded, 16))
    row["rss_after_load"] = _rss_bytes()
    print(f"[scaling] {label}: scan", flush=True)
    _, row["scan_peak"], row["scan_s"] = peak_over(lambda: scan(loaded, prompt))
    print(f"[scaling] {label}: verified detection", flush=True)
    det, row["detection_peak"], row["detection_s"] = peak_over(lambda: find_super_weights(loaded, prompt))
    row["found"] = {"super weight": [[w.layer, w.row, w.col] for w in det.super_weights],
                    "activation source": [[w.layer, w.row, w.col] for w in det.activation_sources]}
    row["tokens"] = int(loaded.encode(prompt).shape[1])
    row["process_peak_rss"] = _rss_bytes("VmHWM")
    del loaded, det
    gc.collect()
    return row


def scale_check_row() -> dict | None:
    """The Llama-7B shape's figures from `make scale-check` (a fresh `detect` process), if recorded."""
    if not SCALE_CHECK.is_file():
        return None
    run = json.loads(SCALE_CHECK.read_text()).get("in_memory")
    if not run:
        return None
    d = run["detect"]
    return {"model": "Llama-7B shape (make scale-check)", "parameters": run["parameters"], "dtype": "bfloat16",
            "load_s": d["load_s"], "rss_after_load": None, "scan_s": None, "scan_peak": None,
            "detection_s": d["after_load_s"], "detection_peak": None, "process_peak_rss": d["peak_rss_bytes"],
            "found": {"super weight" if run["verdicts"] == ["super weight"] else "activation source": run["found"]},
            "tokens": None, "source": "bench/scale_check.json"}


def sizes_only(args) -> dict:
    """Measure the --big models; keep every other figure of --out as it was."""
    record = json.loads(Path(args.out).read_text())
    started, load_before = time.time(), load_average()
    big = [big_study(folder, label, args.big_dtype, args.size_tokens) for label, folder in (b.split("=", 1) for b in args.big)]
    seven = scale_check_row()
    kept = [r for r in record.get("big", []) if r["model"] not in {b["model"] for b in big}
            and r.get("source") is None]
    record["big"] = kept + big + ([seven] if seven else [])
    record["big_measured"] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
                              "load_average_before": load_before, "load_average_after": load_average(),
                              "threads": args.threads, "seconds": round(time.time() - started, 1)}
    return write(record, args)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", default="32,128,256,512,2048,8192")
    ap.add_argument("--size-tokens", type=int, default=256, help="prompt length of the model-size study (tiny models hold 256)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "bench" / "scaling.json"))
    ap.add_argument("--docs", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--figure", default=str(ROOT / "docs" / "scaling.png"))
    ap.add_argument("--render-only", action="store_true", help="redraw the figure and docs from --out, measure nothing")
    ap.add_argument("--sizes-only", action="store_true",
                    help="measure only the --big models (and read the 7B shape's scale check); keep the rest of --out")
    ap.add_argument("--big", action="append", default=[], metavar="LABEL=DIR",
                    help="a large model folder for the model-size axis (repeatable)")
    ap.add_argument("--big-dtype", default="bfloat16", help="dtype of the --big models (default bfloat16)")
    args = ap.parse_args(argv)
    if any("=" not in b for b in args.big):
        ap.error("--big takes LABEL=DIR, e.g. --big '1.5B shape=/path/to/model'")
    if args.render_only:
        record = json.loads(Path(args.out).read_text())
        return write(record, args)
    reexec_with_malloc_env("bench.peers.scaling")

    import torch

    if args.sizes_only:
        torch.set_num_threads(args.threads)
        return sizes_only(args)

    from sw_core.loading import load
    from sw_core.testing import POSITIONS, tiny_model

    torch.set_num_threads(args.threads)
    started, load_before = time.time(), load_average()
    loaded = load("embedded", device="cpu")
    context = int(loaded.config.max_position_embeddings)
    lengths = [int(x) for x in args.lengths.split(",")]
    too_long = [n for n in lengths if n > context]
    lengths = [n for n in lengths if n <= context]
    by_length = study(loaded, lengths, args.repeats, "SmolLM2-135M")

    size_tokens = min(args.size_tokens, POSITIONS)
    by_size = [r for r in by_length if r["tokens"] == size_tokens] or study(loaded, [size_tokens], args.repeats, "SmolLM2-135M")
    for layers in TINY_LAYERS:
        by_size = study(tiny_model("llama", layers=layers), [size_tokens], args.repeats, f"tiny llama, {layers} layers") + by_size

    big = [big_study(folder, label, args.big_dtype, args.size_tokens) for label, folder in (b.split("=", 1) for b in args.big)]
    seven = scale_check_row()
    record = {
        "by_length": by_length, "by_size": by_size, "pending": [PENDING_7B], "big": big + ([seven] if seven else []),
        "skipped_lengths": too_long, "context_window": context, "repeats": args.repeats, "threads": args.threads,
        "load_average_before": load_before, "load_average_after": load_average(),
        "seconds": round(time.time() - started, 1), "cpu_seconds": round(time.process_time(), 1), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
    }
    return write(record, args)


def write(record, args) -> dict:
    record["figure"] = save_figure(record["by_length"], record["by_size"] + _big_points(record.get("big", [])),
                                   Path(args.figure))
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    docs = Path(args.docs)
    docs.parent.mkdir(parents=True, exist_ok=True)
    old = docs.read_text() if docs.exists() else "# Benchmarks\n"
    docs.write_text(gate.replace_generated(old, "Scaling", "scaling", docs_block(record, docs.parent)))
    print(f"[scaling] wrote {args.out}, {record['figure']} and {args.docs} in {record['seconds']} s", flush=True)
    return record


def _big_points(big) -> list[dict]:
    """The large models' scan and detection as size-axis points (no perplexity: not measured there)."""
    rows = []
    for r in big:
        for job, seconds, peak in (("scan", r["scan_s"], r["scan_peak"]), ("detection", r["detection_s"], r["detection_peak"])):
            if seconds is not None:
                rows.append({"model": r["model"], "parameters": r["parameters"], "tokens": r["tokens"], "job": job,
                             "seconds": seconds, "peak_mib": None if peak is None else peak / gate.MIB,
                             "source": r.get("source")})
    return rows


def save_figure(by_length, by_size, path: Path) -> str:
    """Four panels (time / memory against tokens / parameters); PNG via kaleido, else HTML."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=2, subplot_titles=(
        "time vs prompt length (135M)", "peak memory vs prompt length (135M)",
        f"time vs model size ({by_size[0]['tokens'] if by_size else '?'} tokens)",
        "peak memory vs model size (tiny models: < 1 MiB, not shown)"))
    colours = {"scan": "#1f77b4", "detection": "#d62728", "perplexity": "#2ca02c"}
    for col, key in ((1, "seconds"), (2, "peak_mib")):
        for row, (rows, x) in enumerate(((by_length, "tokens"), (by_size, "parameters")), start=1):
            for job in JOBS:
                # A log axis cannot show the tiny models' peaks (< 1 MiB: the kernel's resident
                # counters move in steps of 64 pages), so they are left out.
                ok = lambda r: r[key] is not None and (key == "seconds" or r[key] >= 1)  # noqa: E731
                pts = sorted((r[x], r[key]) for r in rows if r["job"] == job and ok(r) and not r.get("source"))
                fig.add_scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers",
                                name=job, line_color=colours[job], legendgroup=job,
                                showlegend=(row, col) == (1, 1), row=row, col=col)
            # The 7B shape's `make scale-check` detect run: the paper's prompt, the whole run after load.
            other = [r for r in rows if r.get("source") and ok(r)]
            if other:
                fig.add_scatter(x=[r[x] for r in other], y=[r[key] for r in other], mode="markers",
                                marker=dict(symbol="diamond", size=11, color=colours["detection"]),
                                name="7B shape: detect run (make scale-check)", showlegend=col == 1, row=row, col=col)
            fig.update_xaxes(type="log", title_text="tokens" if row == 1 else "parameters", row=row, col=col)
            fig.update_yaxes(type="log", title_text="seconds" if key == "seconds" else "MiB", row=row, col=col)
    fig.update_layout(width=1000, height=750, template="plotly_white", margin=dict(t=60, l=60, r=20, b=50))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.write_image(str(path))  # kaleido drives a local Chrome / Chromium
        return path.name
    except Exception as e:  # no browser for kaleido: an interactive page still shows the plot
        html = path.with_suffix(".html")
        fig.write_html(str(html), include_plotlyjs="cdn")
        print(f"[scaling] no PNG ({type(e).__name__}: {e}); wrote {html.name}", flush=True)
        return html.name


def _mib(value) -> str:
    if value is None:
        return "—"
    return "< 1" if value < 1 else f"{value:.3g}"


def _table(rows, first: str) -> list[str]:
    out = [f"| {first} | " + " | ".join(f"{j}: s | {j}: MiB" for j in JOBS) + " |",
           "|---|" + "---|---|" * len(JOBS)]
    keys = sorted({(r["parameters"], r["tokens"], r["model"]) for r in rows})
    for params, tokens, model in keys:
        cells = []
        for job in JOBS:
            r = next((r for r in rows if (r["parameters"], r["tokens"], r["job"]) == (params, tokens, job)), None)
            cells += ["—", "—"] if r is None else [f"{r['seconds']:.3g}", _mib(r["peak_mib"])]
        label = tokens if first == "tokens" else f"{model} ({params / 1e6:.3g} M)"
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return out


def _gb(value) -> str:
    return "—" if value is None else f"{value / 1e9:.2f} GB"


def _s(value) -> str:
    return "—" if value is None else f"{value:.3g}"


def _big_table(record) -> list[str]:
    m = record.get("big_measured", {})
    out = [f"Models of a real size (bfloat16 on the CPU; the same prompt as above; measured {m.get('date', record['date'])}, "
           f"load average {m.get('load_average_before', '?')} before, {m.get('load_average_after', '?')} after, "
           f"{m.get('threads', record['threads'])} torch thread(s)): the load, one scan, a verified detection "
           "(scan + the perplexity checks), each call's peak memory above the memory before it, and the "
           "process's peak RSS.",
           "",
           "| model | load: s | RSS after load | scan: s | scan: MiB | verified detection: s | detection: MiB "
           "| process peak RSS | found |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in record["big"]:
        found = "; ".join(f"{k} {v}" for k, v in r["found"].items() if v) or "nothing"
        out.append(f"| {r['model']} ({r['parameters'] / 1e9:.2f} B) | {_s(r['load_s'])} | {_gb(r['rss_after_load'])} | "
                   f"{_s(r['scan_s'])} | {_mib(None if r['scan_peak'] is None else r['scan_peak'] / gate.MIB)} | "
                   f"{_s(r['detection_s'])} | "
                   f"{_mib(None if r['detection_peak'] is None else r['detection_peak'] / gate.MIB)} | "
                   f"{_gb(r['process_peak_rss'])} | {found} |")
    if any(r.get("source") for r in record["big"]):
        out += ["", "The Llama-7B shape's row is `make scale-check`'s in-memory run (bench/scale_check.json): "
                "`python -m sw_core detect` in a fresh process, so its detection time is the whole run after "
                "the load and its peak is that process's; it is not loaded again here (13.5 GB)."]
    return out


def docs_block(record, docs_dir: Path) -> str:
    lines = [
        f"Measured {record['date']} by `make bench-scaling` ({record['threads']} torch thread(s), "
        f"{record['repeats']} call(s) per figure; load average {record['load_average_before']} before, "
        f"{record['load_average_after']} after; {record['seconds']:.0f} s wall, "
        f"{record.get('cpu_seconds', 'unrecorded')} s CPU). Memory: peak resident memory during the call above that "
        "before it.",
        "",
        f"![scaling]({record['figure']})",
        "",
        f"By prompt length, SmolLM2-135M (context window {record['context_window']} tokens):",
        "",
        *_table(record["by_length"], "tokens"),
        "",
        "By model size, same prompt length:",
        "",
        *_table(record["by_size"], "model"),
    ]
    if not any(r.get("source") for r in record.get("big", [])):  # no 7B figures yet
        lines.append(f"| {record['pending'][0]} | " + " | ".join(["pending"] * 2 * len(JOBS)) + " |")
    if record.get("big"):
        lines += ["", *_big_table(record)]
    if record["skipped_lengths"]:
        lines += ["", f"Skipped (longer than the context window): {record['skipped_lengths']}."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
