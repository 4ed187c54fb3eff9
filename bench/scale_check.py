"""`make scale-check`: a Llama-7B-shaped model on this machine's CPU, end to end, as a user runs it.

1. Build the GPU check's synthetic Llama-7B shape (bench/gpu/shapes.py) in bfloat16 with its
   planted super weight (layer 2, [3968, 7003]) and write it to a temporary folder **shard by
   shard**: the planted first layers are built and planted as a small model of their own (the
   plant measures the layers up to its own), every later layer is generated, written and freed
   one at a time. The whole model is never in this process's memory.
2. Run `python -m sw_core detect --model FOLDER --device cpu` in a fresh process, and measure its
   wall time, CPU time and peak RSS (getrusage of the waited-for child).
3. It must find exactly the plant (a super weight, or, the random model not depending on it, an
   activation source).

    python -m bench.scale_check [--shape tiny] [--memory-budget GB] [--keep DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from bench.gpu.shapes import LLAMA_7B, QWEN_1_5B, TINY, Shape

ROOT = Path(__file__).resolve().parents[1]
SHAPES = {"llama-7b": LLAMA_7B, "qwen2.5-1.5b": QWEN_1_5B, "tiny": TINY}
INIT_STD = 0.02  # LlamaConfig's initializer_range: the same init as the planted layers
HEAD_LOGIT_STD = 3.0  # a dependent head's logits on an ordinary token: confident, and wrong (a random model)


def _config(shape: Shape, layers: int, dtype: torch.dtype):
    from transformers import LlamaConfig

    config = LlamaConfig(hidden_size=shape.hidden, intermediate_size=shape.intermediate, num_hidden_layers=layers,
                         num_attention_heads=shape.heads, num_key_value_heads=shape.kv_heads or shape.heads, vocab_size=shape.vocab,
                         max_position_embeddings=shape.context, tie_word_embeddings=False,
                         bos_token_id=1, eos_token_id=2, pad_token_id=0, initializer_range=INIT_STD)
    config.dtype = dtype
    return config


def byte_tokenizer(folder: Path):
    """A byte-level tokenizer (259 ids: pad, bos, eos, 256 bytes) saved in `folder`: fits any vocab."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2}
    for i, ch in enumerate(pre_tokenizers.ByteLevel.alphabet()):
        vocab[ch] = i + 3
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    fast.save_pretrained(folder)
    return fast


def _planted_head(shape: Shape, dtype: torch.dtype, tokenizer) -> dict:
    """Embeddings, head and the layers up to the plant's, built as a small model and planted."""
    from transformers import LlamaForCausalLM

    from bench.gpu.shapes import plant
    from sw_core.detect import DEFAULT_PROMPT
    from sw_core.loading import wrap

    config = _config(shape, shape.plant.layer + 1, dtype)
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    model.eval().requires_grad_(False)
    measured = plant(wrap(model, tokenizer, ref=shape.name, source="in-process"), shape.plant, DEFAULT_PROMPT)
    return {"state": {k: v.contiguous() for k, v in model.state_dict().items()}, "plant": measured}


def _layer(shape: Shape, index: int, names: dict, dtype: torch.dtype) -> dict:
    """Decoder layer `index` with the planted layers' init (normal(0, 0.02) weights, unit norms)."""
    g = torch.Generator().manual_seed(1000 + index)
    out = {}
    for suffix, (tensor_shape, is_norm) in names.items():
        name = f"model.layers.{index}.{suffix}"
        if is_norm:
            out[name] = torch.ones(tensor_shape, dtype=dtype)
        else:
            out[name] = (torch.randn(tensor_shape, generator=g, dtype=torch.float32) * INIT_STD).to(dtype)
    return out


def _depend_on_plant(state: dict, shape: Shape) -> None:
    """Make the random model need its plant, as a trained one needs its super weight, IN PLACE.

    The head reads nothing from the plant's residual channel and gives every other channel logits
    of std HEAD_LOGIT_STD: where the super activation fills the final norm, the next token is
    near-uniform; without it, confidently random. Removing the plant raises the perplexity of
    any text far past the verification's 1.5x, so the plant verifies as a super weight (and the
    app's pages that need one can be measured on this shape)."""
    head = state["lm_head.weight"]
    g = torch.Generator().manual_seed(7)
    fresh = torch.randn(head.shape, generator=g, dtype=torch.float32) * (HEAD_LOGIT_STD / shape.hidden ** 0.5)
    fresh[:, shape.plant.row] = 0.0
    state["lm_head.weight"] = fresh.to(head.dtype)


def write_model(shape: Shape, folder: Path, dtype: torch.dtype = torch.bfloat16, say=print, tokenizer=None,
                depends: bool = False) -> dict:
    """The planted model in `folder`, one safetensors shard per decoder layer; returns what was written.

    `tokenizer`: saved with the model (default: a byte-level one); `depends`: the model needs its
    plant (see _depend_on_plant)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    if tokenizer is None:
        tokenizer = byte_tokenizer(folder)
    else:
        tokenizer.save_pretrained(folder)
    head = _planted_head(shape, dtype, tokenizer)
    state = head.pop("state")
    if depends:
        _depend_on_plant(state, shape)
    names = {k.split(".", 3)[3]: (tuple(v.shape), k.endswith("norm.weight"))
             for k, v in state.items() if k.startswith("model.layers.0.")}
    shards = shape.layers + 1
    weight_map, total = {}, 0

    def write(index: int, tensors: dict) -> None:
        nonlocal total
        file = f"model-{index + 1:05d}-of-{shards:05d}.safetensors"
        save_file(tensors, str(folder / file), metadata={"format": "pt"})
        for name, t in tensors.items():
            weight_map[name] = file
            total += t.numel() * t.element_size()

    planted = range(shape.plant.layer + 1)
    for i in planted:
        write(i, {k: state.pop(k) for k in list(state) if k.startswith(f"model.layers.{i}.")})
    write(shards - 1, state)  # embeddings, final norm and head
    del state
    for i in range(shape.plant.layer + 1, shape.layers):
        write(i, _layer(shape, i, names, dtype))
        say(f"layer {i + 1}/{shape.layers} written")
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, indent=1))
    _config(shape, shape.layers, dtype).save_pretrained(folder)
    return {"weights_bytes": total, "parameters": total // torch.empty((), dtype=dtype).element_size(),
            "shards": shards, "plant": head["plant"]}


def run_detect(folder: Path, json_out: Path, memory_budget: float | None = None, threads: int | None = None) -> dict:
    """`python -m sw_core detect` on `folder` in a fresh process: wall, CPU and peak RSS of that process."""
    cmd = [sys.executable, "-m", "sw_core", "detect", "--model", str(folder), "--device", "cpu",
           "--json", str(json_out)]
    if memory_budget is not None:
        cmd += ["--memory-budget", str(memory_budget)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"detect failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    loaded = re.search(r"loaded in ([0-9.]+) s", proc.stderr)
    load_s = float(loaded.group(1)) if loaded else None
    return {"command": " ".join(cmd[1:]), "wall_s": wall, "load_s": load_s,
            "after_load_s": None if load_s is None else wall - load_s,
            "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "peak_rss_bytes": after.ru_maxrss * 1024,  # kB on Linux: the largest child's peak
            "stdout": proc.stdout, "plan": [line for line in proc.stderr.splitlines() if "memory plan" in line]}


def check(shape_name: str, keep: str | None = None, memory_budget: float | None = None,
          say=print) -> dict:
    shape = SHAPES[shape_name]
    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="sw-scale-check-"))
    try:
        start = time.perf_counter()
        built = work / "built.json"  # a kept folder from an earlier run is reused
        if built.is_file() and (work / "model" / "config.json").is_file():
            written = json.loads(built.read_text())
        else:
            written = write_model(shape, work / "model", say=say)
            built.write_text(json.dumps(written))
        build_s = time.perf_counter() - start
        say(f"written: {written['weights_bytes'] / 1e9:.2f} GB in {build_s:.0f} s; running detect")
        detect = run_detect(work / "model", work / "detection.json", memory_budget)
        found = json.loads((work / "detection.json").read_text())
        coords = sorted([w["layer"], w["row"], w["col"]]
                        for w in found["super_weights"] + found["activation_sources"])
        at = shape.plant
        return {"shape": shape.name, "work": str(work), "parameters": written["parameters"], "weights_bytes": written["weights_bytes"],
                "build_s": build_s, "build_peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "detect": detect, "found": coords, "plant": [at.layer, at.row, at.col],
                "exact": coords == [[at.layer, at.row, at.col]],
                "verdicts": sorted({w["verdict"] for w in found["super_weights"] + found["activation_sources"]}),
                "peak_rss_over_weights": detect["peak_rss_bytes"] / written["weights_bytes"]}
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.scale_check", description=__doc__.splitlines()[0])
    p.add_argument("--shape", choices=sorted(SHAPES), default="llama-7b")
    p.add_argument("--memory-budget", type=float, default=None, help="GB the detect process may plan for (forces offload)")
    p.add_argument("--keep", metavar="DIR",
                   help="build in DIR and keep it; a model already built there is reused (default: a temporary folder, removed)")
    p.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    args = p.parse_args(argv)
    say = lambda m: print(f"[scale-check] {m}", file=sys.stderr, flush=True)  # noqa: E731
    result = check(args.shape, args.keep, args.memory_budget, say)
    if args.json:  # the build folder is a machine's temporary path: written as WORK
        text = json.dumps(result, indent=1, default=str).replace(result.pop("work"), "WORK")
        Path(args.json).write_text(text)
    d = result["detect"]
    print(d["stdout"])
    print(f"{result['shape']}: {result['parameters'] / 1e9:.2f}B parameters, {result['weights_bytes'] / 1e9:.1f} GB bf16; "
          f"built in {result['build_s']:.0f} s; detect: wall {d['wall_s']:.0f} s (load {d['load_s']} s), "
          f"CPU {d['cpu_s']:.0f} s, peak RSS {d['peak_rss_bytes'] / 1e9:.2f} GB "
          f"({result['peak_rss_over_weights']:.2f}x the weights); found {result['found']}, "
          f"exactly the plant: {result['exact']}")
    return 0 if result["exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
