"""Ours against TransformerLens and nnsight on the embedded model, side by side.

    python -m bench.peers.run [--repeats N] [--lengths 32,256,2048]

In this one process (1 thread), every tool runs the same two jobs on the same token ids, interleaved
(tool order rotates each repeat, so a slow phase of the machine hits all alike); medians are kept.
A peer's time counts only when its results equal ours (the gate in `gate.py`). Peak memory comes
from fresh processes, one per (tool, length), the cold start from COLD_SAMPLES more per tool
(`child.py`). Writes bench/peers.json and the generated table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import torch

from bench.peers import gate
from bench.peers.measure import child_env, load_average, prompt_of_tokens
from bench.peers.tools import load_ours, make

ROOT = Path(__file__).resolve().parents[2]
ALL = gate.BASELINES + gate.TOOLS
WARM_TOKENS = 32
COLD_SAMPLES = 2  # cold-start processes per tool


def seconds(fn) -> float:
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    finally:
        gc.enable()


def check(tools, prompt, ids) -> dict:
    """The gate, on the results of this length: maxima and ablated logits of each peer against ours."""
    ours_max = tools["ours"].maxima(prompt, ids)
    ours_logits = tools["ours"].ablated(ids)
    with torch.no_grad():
        plain = tools["forward"].model(input_ids=ids, use_cache=False).logits
    out = {"maxima_error": {}, "logits_max_abs_diff": {}, "maxima_ok": {"ours": True}, "ablation_ok": {"ours": True},
           "ablation_effect_max_abs": float((ours_logits - plain).abs().max())}
    tools["forward_keep1"].maxima(prompt, ids)  # its warm-up: every other tool ran once above
    for name in gate.TOOLS[1:]:
        theirs = tools[name].maxima(prompt, ids)
        diff = float((tools[name].ablated(ids) - ours_logits).abs().max())
        out["maxima_error"][name], out["logits_max_abs_diff"][name] = gate.maxima_error(ours_max, theirs), diff
        out["maxima_ok"][name], out["ablation_ok"][name] = gate.maxima_ok(ours_max, theirs), gate.logits_ok(diff)
    return out


def interleaved(tools, prompt, ids, repeats: int) -> tuple[dict, dict]:
    maxima = {n: [] for n in ALL}
    ablation = {n: [] for n in gate.TOOLS}
    for rep in range(repeats):
        order = ALL[rep % len(ALL):] + ALL[: rep % len(ALL)]
        for name in order:
            maxima[name].append(seconds(lambda: tools[name].maxima(prompt, ids)))
            if name in ablation:
                ablation[name].append(seconds(lambda: tools[name].ablated(ids)))
    return maxima, ablation


def fresh_process(tool: str, prompts_file: str, tokens) -> dict:
    """Peak memory at `tokens` (exact-peak malloc), or the cold start when tokens == "cold"."""
    env = {**child_env(exact_peak=tokens != "cold"), "SW_PEERS_T0": repr(time.time())}
    done = subprocess.run([sys.executable, "-m", "bench.peers.child", tool, prompts_file, str(tokens)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        return {"tool": tool, "error": done.stderr.strip().splitlines()[-1:] or ["exit %d" % done.returncode]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in ("torch", "transformers", "transformer-lens", "nnsight"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--lengths", default="32,256,2048")
    ap.add_argument("--out", default=str(ROOT / "bench" / "peers.json"))
    ap.add_argument("--docs", default=str(ROOT / "docs" / "benchmarks.md"))
    args = ap.parse_args(argv)
    lengths = [int(x) for x in args.lengths.split(",")]
    torch.set_num_threads(1)
    started, load_before = time.time(), load_average()

    loaded = load_ours()
    prompts = {str(n): prompt_of_tokens(loaded, n) for n in lengths}
    prompts["warm"] = prompt_of_tokens(loaded, WARM_TOKENS)
    tools = {name: make(name, loaded) for name in ALL}
    record = {"lengths": {}, "repeats": args.repeats}
    for n in lengths:
        prompt = prompts[str(n)]
        ids = loaded.encode(prompt)
        print(f"[peers] {ids.shape[1]} tokens: checking, then timing {args.repeats} interleaved repeats", flush=True)
        r = check(tools, prompt, ids)
        r["maxima_s"], r["ablation_s"] = interleaved(tools, prompt, ids, args.repeats)
        r["tokens"] = int(ids.shape[1])
        record["lengths"][str(n)] = r
    del tools
    gc.collect()

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(prompts, f)
    cold = {name: [] for name in ALL}
    try:
        for n in lengths:
            peaks = record["lengths"][str(n)].setdefault("peak_bytes", {})
            for name in ALL:
                print(f"[peers] fresh process: {name}, {n} tokens", flush=True)
                res = fresh_process(name, f.name, n)
                record["lengths"][str(n)].setdefault("fresh_process", {})[name] = res
                peaks[name] = res.get("peak_bytes")
        for _ in range(COLD_SAMPLES):
            for name in ALL:
                print(f"[peers] cold start: {name}", flush=True)
                res = fresh_process(name, f.name, "cold")
                if res.get("cold_start_s") is not None:
                    cold[name].append(res["cold_start_s"])
    finally:
        os.unlink(f.name)

    rows = [row for n in lengths for row in gate.rows_for_length(record["lengths"][str(n)]["tokens"], record["lengths"][str(n)])]
    cold_median = {name: gate.median(v) for name, v in cold.items()}
    record.update({
        "rows": rows, "cold_start_s": cold_median, "cold_start_samples": cold, "peer_wins": gate.winners(rows),
        "tolerance": {"maxima_rtol": gate.MAXIMA_RTOL, "logits_atol": gate.LOGITS_ATOL},
        "machine": {"cpus": os.cpu_count(), "torch_threads": 1, "platform": platform.platform(),
                    "load_average_before": load_before, "load_average_after": load_average()},
        "versions": versions(), "seconds": round(time.time() - started, 1),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
    })
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    docs = Path(args.docs)
    docs.parent.mkdir(parents=True, exist_ok=True)
    old = docs.read_text() if docs.exists() else "# Benchmarks\n"
    docs.write_text(gate.replace_generated(old, "Peers", "peers", docs_block(record, rows, cold_median)))
    print(gate.markdown_table(rows, cold_median))
    print(f"[peers] wrote {args.out} and {args.docs} in {record['seconds']} s", flush=True)
    return record


def docs_block(record, rows, cold) -> str:
    m, v = record["machine"], record["versions"]
    wins = record["peer_wins"]
    lines = [
        f"Measured {record['date']} by `make bench-peers`: {m['cpus']} CPUs, 1 torch thread, "
        f"medians of {record['repeats']} interleaved repeats; load average (1, 5, 15 min) "
        f"{m['load_average_before']} before, {m['load_average_after']} after. torch {v['torch']}, "
        f"transformers {v['transformers']}, transformer-lens {v['transformer-lens']}, nnsight {v['nnsight']}.",
        "",
        gate.markdown_table(rows, cold),
        "",
        "Correctness gate (a peer's time counts only when it passes): per-layer maxima within "
        f"{gate.MAXIMA_RTOL:g} (relative) of ours, ablated logits within {gate.LOGITS_ATOL:g} (absolute) "
        "of ours. Largest differences seen: "
        + "; ".join(
            f"{n} tokens: maxima {', '.join(f'{k} {e:.1e}' for k, e in r['maxima_error'].items())}, "
            f"logits {', '.join(f'{k} {d:.1e}' for k, d in r['logits_max_abs_diff'].items())} "
            f"(the ablation itself moves logits by up to {r['ablation_effect_max_abs']:.1f})"
            for n, r in record["lengths"].items()) + ".",
        "",
        ("Where a peer is ahead in this run: " + "; ".join(wins) + ".") if wins else "No peer is ahead of ours in this run.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
