"""A GGUF converted once, measured as a user meets it: `python -m sw_core detect --model F.gguf`
run twice in fresh processes (the first dequantizes and fills the conversion cache, the second
reads the cache), each with its wall time, load time, CPU time, peak RSS and rows printed.

    python -m bench.gguf_check [--gguf FILE] [--shape 1.5b|tiny] [--json OUT]

Without --gguf it writes a random Llama of the chosen shape (1.5b: Qwen2.5-1.5B's widths, a
151,936-token vocabulary) in Q8_0 to a temporary folder; with --gguf it measures that file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# name -> (hidden, intermediate, layers, heads, kv heads, vocab)
SHAPES = {"1.5b": (1536, 8960, 28, 12, 2, 151_936), "tiny": (64, 128, 2, 4, 4, 259)}


def write_gguf(path: Path, shape: str = "tiny", seed: int = 0) -> dict:
    """A random Llama GGUF of `shape`, its down projections in Q8_0, a byte-level tokenizer padded
    to the vocabulary. Returns the dequantized down projections ([out, in] each)."""
    import gguf
    import torch
    from gguf import GGMLQuantizationType
    from tokenizers.pre_tokenizers import ByteLevel

    hidden, inter, layers, heads, kv_heads, vocab = SHAPES[shape]
    tokens = ["<pad>", "<s>", "</s>"] + ByteLevel.alphabet()
    tokens += [f"<extra_{i}>" for i in range(vocab - len(tokens))]
    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(layers)
    w.add_context_length(2048)
    w.add_embedding_length(hidden)
    w.add_feed_forward_length(inter)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_vocab_size(vocab)
    w.add_rope_dimension_count(hidden // heads)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types([3, 3, 3] + [1] * (vocab - 3))
    w.add_token_scores([0.0] * vocab)
    w.add_token_merges([])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(False)

    def normal(*shape):
        return (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float32)

    def q8(array):
        return gguf.quants.quantize(array, GGMLQuantizationType.Q8_0)

    w.add_tensor("token_embd.weight", q8(normal(vocab, hidden)), raw_dtype=GGMLQuantizationType.Q8_0)
    w.add_tensor("output_norm.weight", np.ones(hidden, dtype=np.float32))
    kv = hidden // heads * kv_heads
    down = {}
    for i in range(layers):
        for name, dims in (("attn_q", (hidden, hidden)), ("attn_k", (kv, hidden)), ("attn_v", (kv, hidden)),
                           ("attn_output", (hidden, hidden)), ("ffn_gate", (inter, hidden)),
                           ("ffn_up", (inter, hidden)), ("ffn_down", (hidden, inter))):
            q = q8(normal(*dims))
            w.add_tensor(f"blk.{i}.{name}.weight", q, raw_dtype=GGMLQuantizationType.Q8_0)
            if name == "ffn_down" and shape == "tiny":
                down[f"model.layers.{i}.mlp.down_proj.weight"] = torch.from_numpy(
                    gguf.quants.dequantize(q, GGMLQuantizationType.Q8_0).reshape(dims).copy())
        for name in ("attn_norm", "ffn_norm"):
            w.add_tensor(f"blk.{i}.{name}.weight", np.ones(hidden, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return down


# Runs the command as its own child and reports that child's rusage: each run's own peak RSS
# (RUSAGE_CHILDREN of this process would keep the largest of all runs).
_MEASURE = r"""
import json, resource, subprocess, sys
code = subprocess.call(sys.argv[1:])
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"code": code, "cpu_s": r.ru_utime + r.ru_stime, "peak_rss_bytes": r.ru_maxrss * 1024}), file=sys.stderr)
"""


def run_detect(gguf_file: Path, env: dict) -> dict:
    """One `detect` in a fresh process: wall, load, CPU seconds, peak RSS, rows of the answer."""
    cmd = [sys.executable, "-m", "sw_core", "detect", "--model", str(gguf_file), "--device", "cpu"]
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    usage = json.loads(proc.stderr.strip().splitlines()[-1])
    if usage["code"] != 0:
        raise RuntimeError(f"detect failed ({usage['code']}):\n{proc.stderr[-3000:]}")
    loaded = re.search(r"loaded in ([0-9.]+) s( \(from cache\))?", proc.stderr)
    lines = proc.stdout.splitlines()
    table_start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("layer")), None)
    rows = 0
    if table_start is not None:
        for line in lines[table_start + 2:]:
            if not line.strip():
                break
            rows += 1
    return {"wall_s": wall, "load_s": float(loaded.group(1)) if loaded else None,
            "from_cache": bool(loaded and loaded.group(2)),
            "cpu_s": usage["cpu_s"], "peak_rss_bytes": usage["peak_rss_bytes"], "rows": rows,
            "stdout": proc.stdout}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.gguf_check", description=__doc__.splitlines()[0])
    p.add_argument("--gguf", help="a GGUF file to measure (default: one written here)")
    p.add_argument("--shape", choices=sorted(SHAPES), default="1.5b")
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="sw-gguf-check-"))
    say = lambda m: print(f"[gguf-check] {m}", file=sys.stderr, flush=True)  # noqa: E731
    gguf_file = Path(args.gguf) if args.gguf else work / f"random-llama-{args.shape}-q8_0.gguf"
    if not args.gguf:
        start = time.perf_counter()
        write_gguf(gguf_file, args.shape)
        say(f"wrote {gguf_file.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - start:.0f} s")
    size = gguf_file.stat().st_size
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SW_CACHE": str(work / "cache")}  # an empty cache
    runs = []
    try:
        for i in (1, 2):
            runs.append(run_detect(gguf_file, env))
            r = runs[-1]
            say(f"run {i}: wall {r['wall_s']:.0f} s, load {r['load_s']} s (from cache: {r['from_cache']}), "
                f"CPU {r['cpu_s']:.0f} s, peak RSS {r['peak_rss_bytes'] / 1e9:.2f} GB, {r['rows']} rows")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {"gguf_bytes": size, "shape": None if args.gguf else args.shape, "runs": runs}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    print(runs[-1]["stdout"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
