"""`python -m bench.big_model DIR [--shape qwen2.5-1.5b]`: a model of a real size on disk, for the app's bench.

The scale check's planted Llama (bench/scale_check.py, written shard by shard), made to need its
plant (a verified super weight, so every page of the app has something to show) and saved with
the embedded model's tokenizer (real words: stop words, readable texts) when the vocabulary holds
it. Then: `python -m bench --only app --model DIR --dtype bfloat16`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from bench.scale_check import SHAPES, write_model


def embedded_tokenizer():
    from sw_core.loading import load

    return load("embedded").tokenizer


def build(folder: Path, shape_name: str = "qwen2.5-1.5b", say=print) -> dict:
    shape = SHAPES[shape_name]
    tokenizer = embedded_tokenizer()
    if len(tokenizer) > shape.vocab:  # the tiny rehearsal shape: a byte-level tokenizer fits
        tokenizer = None
    start = time.perf_counter()
    written = write_model(shape, folder, torch.bfloat16, say=say, tokenizer=tokenizer, depends=True)
    written["build_s"] = time.perf_counter() - start
    (folder / "built.json").write_text(json.dumps(written))
    return written


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.big_model", description=__doc__.splitlines()[0])
    p.add_argument("folder")
    p.add_argument("--shape", choices=sorted(SHAPES), default="qwen2.5-1.5b")
    args = p.parse_args(argv)
    w = build(Path(args.folder), args.shape, say=lambda m: print(m, file=sys.stderr, flush=True))
    print(f"{w['parameters'] / 1e9:.2f}B parameters, {w['weights_bytes'] / 1e9:.2f} GB bf16 in {w['shards']} shards, "
          f"built in {w['build_s']:.0f} s: {args.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
