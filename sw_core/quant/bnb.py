"""bitsandbytes LLM.int8 and NF4 / FP4, through transformers' `BitsAndBytesConfig`.

Why a fresh load and not a converted copy: bitsandbytes quantizes while transformers loads the
checkpoint, which is the path users run in practice. The embedded model loads from its fp32 cache
folder, a local or hub model from its own reference; an in-process model (tiny test models) is
saved to a temporary folder first. bitsandbytes 0.50 runs on the CPU too.

LLM.int8 keeps input columns whose |x| exceeds `threshold` in 16/32-bit and quantizes each weight
row with absmax, so a super weight that is its row's largest entry survives exactly. 4-bit
quantizes blocks of 64 weights (the layer width must be a multiple of 64). `skip_super_layers`
(or aware=True) keeps the super weights' down projections out of quantization
(`llm_int8_skip_modules`, honoured by transformers for 4-bit too).
"""

from __future__ import annotations

import tempfile
import time
import logging
from pathlib import Path

import torch

from ..errors import BadInput, ModelLoadError
from ..loading import EMBEDDED, Loaded, wrap
from .settings import QuantSetting

BLOCK_4BIT = 64



class _DropCastNotice(logging.Filter):
    """LLM.int8 on the CPU logs this at every matmul: expected (it computes in fp16) and it floods stderr."""

    def filter(self, record) -> bool:
        return not str(record.msg).startswith("MatMul8bitLt: inputs will be cast")


logging.getLogger("bitsandbytes.autograd._functions").addFilter(_DropCastNotice())


def config_for(setting: QuantSetting, skip: list[str]):
    from transformers import BitsAndBytesConfig

    skip = ["lm_head", *skip]  # given a list, transformers no longer adds the head itself
    if setting.mode == "bnb-int8":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_threshold=float(setting.threshold),
                                  llm_int8_skip_modules=skip)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=setting.mode[4:],
                              bnb_4bit_compute_dtype=torch.float32, llm_int8_skip_modules=skip)


def check_widths(targets, setting: QuantSetting) -> None:
    if setting.mode == "bnb-int8":
        return
    for t in targets:
        if t.weight_view().numel() % BLOCK_4BIT:
            raise BadInput(f"{t.name} has {t.weight_view().numel()} weights, not a multiple of the "
                           f"4-bit block of {BLOCK_4BIT}: use bnb-int8 or RTN for this model.")


def load_quantized(loaded: Loaded, setting: QuantSetting, skip: list[str]) -> Loaded:
    """A new Loaded of the same weights, quantized by bitsandbytes while loading."""
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as e:
        raise ModelLoadError("bitsandbytes is not installed: pip install bitsandbytes==0.50.2") from e
    from transformers import AutoModelForCausalLM

    start = time.perf_counter()
    qconfig = config_for(setting, skip)
    device = loaded.input_device
    kwargs = dict(quantization_config=qconfig, dtype=torch.float32 if device.type == "cpu" else loaded.dtype,
                  device_map={"": str(device) if device.type != "cuda" else device.index or 0})
    folder = _source_folder(loaded)
    if folder is not None:
        model = AutoModelForCausalLM.from_pretrained(folder, use_safetensors=True, **kwargs)
    else:  # in-process model: write it out once, load it quantized
        with tempfile.TemporaryDirectory(prefix="sw-bnb-") as tmp:
            loaded.model.save_pretrained(tmp, safe_serialization=True)
            model = AutoModelForCausalLM.from_pretrained(tmp, use_safetensors=True, **kwargs)
    model.eval()
    model.requires_grad_(False)
    return wrap(model, loaded.tokenizer, ref=loaded.ref, source=f"{loaded.source} [{setting.label}]",
                from_cache=loaded.from_cache, start=start)


def _source_folder(loaded: Loaded):
    """The checkpoint to re-read: the embedded fp32 cache, a local folder, or a hub id."""
    if loaded.ref == EMBEDDED:
        from .. import embedded

        return embedded.cache_dir()
    src = Path(loaded.source)
    if src.is_dir() and (src / "config.json").is_file():
        return src
    if loaded.source == loaded.ref and not src.exists():
        return loaded.ref  # hub id, read from the local hub cache
    return None
