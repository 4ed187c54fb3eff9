"""Part 1 of the check: a Llama-shaped model with a planted super weight, measured end to end.

Each function measures one thing and returns a JSON-ready dict; `run` calls them in order.
"""

from __future__ import annotations


import torch

from sw_core.detect import DEFAULT_PROMPT, find_super_weights
from sw_core.edits import Coord, applied, off
from sw_core.generate import stream_tokens
from sw_core.quant import QuantSetting, quantized, super_weight_values
from sw_core.scan import scan

from .shapes import Shape, as_lists, build, plant
from .timing import free, paired, peak_bytes, per_call, ratio, seconds, text_of


def detection(loaded, at: Coord, device: str) -> dict:
    """The spike rules must find exactly the plant (detection without the impact check), and the
    impact check must call it what it is: a random model depends on no weight, so the planted
    weight is an activation source, not a super weight."""
    took, found = seconds(lambda: find_super_weights(loaded, verify=False), device)
    verified_took, verified = seconds(lambda: find_super_weights(loaded), device)
    return {"seconds": took, "found": as_lists(found.coords()), "exact": found.coords() == [at],
            "spike_ratio": found.max_spike_ratio,
            "verified_seconds": verified_took, "verified_super_weights": as_lists(verified.coords()),
            "activation_sources": as_lists([w.coord for w in verified.activation_sources])}


def scan_vs_forward(loaded, text: str, device: str, repeats: int) -> dict:
    ids = loaded.encode(text)

    def forward():
        with torch.no_grad():
            loaded.model(input_ids=ids, use_cache=False)

    scan_s, forward_s = paired(lambda: scan(loaded, text), forward, device, repeats)
    scan_peak, forward_peak = peak_bytes(lambda: scan(loaded, text), device), peak_bytes(forward, device)
    return {"tokens": ids.shape[1], "scan_s": scan_s, "forward_s": forward_s, "scan_over_forward": scan_s / forward_s,
            "scan_peak_bytes": scan_peak, "forward_peak_bytes": forward_peak,
            "scan_peak_over_forward_peak": ratio(scan_peak, forward_peak)}


def toggle_and_edited_forward(loaded, at: Coord, text: str, device: str, repeats: int) -> dict:
    ids, edit = loaded.encode(text), off(at)

    def toggle():
        with applied(loaded, edit):
            pass

    def forward(e=None):
        with torch.no_grad(), applied(loaded, e):
            loaded.model(input_ids=ids, use_cache=False)

    edited_s, plain_s = paired(lambda: forward(edit), forward, device, repeats)
    return {"toggle_s": per_call(toggle, device, repeats, inner=200), "edited_forward_s": edited_s,
            "forward_s": plain_s, "edited_over_plain_forward": edited_s / plain_s}


def rtn(loaded, at: Coord, device: str) -> dict:
    """RTN 4-bit, block 128, of every decoder linear: naive, then holding the super weight out."""
    out = {"bits": 4, "block": 128}
    for name, aware in (("naive", False), ("aware", True)):
        setting = QuantSetting("rtn", bits=4, block=128, aware=aware)
        took, q = seconds(lambda: quantized(loaded, setting, [at]), device)
        (value,) = super_weight_values(q, [at], original=loaded)
        out[name] = {"seconds": took, "super_weight_before": value.original, "super_weight_after": value.quantized}
        del q
        free(device)
    return out


def bitsandbytes(loaded, text: str, device: str, repeats: int) -> dict:
    """LLM.int8 and NF4 through sw_core.quant (a fresh load quantized by bitsandbytes), and one
    forward of the same text against the unquantized model's."""
    try:
        import bitsandbytes as bnb  # noqa: F401
    except ImportError as e:
        return {"skipped": f"bitsandbytes does not import ({e}); see docs/gpu.md to carry its wheel"}
    ids = loaded.encode(text)
    out = {"version": getattr(bnb, "__version__", "?")}
    for mode in ("bnb-int8", "bnb-nf4"):
        took, q = seconds(lambda: quantized(loaded, QuantSetting(mode)), device)

        def forward(model):
            with torch.no_grad():
                model(input_ids=ids.to(q.input_device), use_cache=False)

        quant_s, plain_s = paired(lambda: forward(q.model), lambda: forward(loaded.model), device, repeats)
        out[mode] = {"load_s": took, "forward_s": quant_s, "unquantized_forward_s": plain_s,
                     "forward_ratio": quant_s / plain_s}
        del q
        free(device)
    return out


def generation(loaded, at: Coord, device: str, new_tokens: int, repeats: int) -> dict:
    """Greedy tokens per second under an edit (the plant off) against the unedited model."""
    prompt = DEFAULT_PROMPT

    def gen(edit=None):
        return list(stream_tokens(loaded, prompt, edit=edit, max_new_tokens=new_tokens, stop_at_eos=False))

    edited_s, plain_s = paired(lambda: gen(off(at)), gen, device, repeats)
    return {"new_tokens": new_tokens, "edited_tokens_per_s": new_tokens / edited_s,
            "unedited_tokens_per_s": new_tokens / plain_s, "edited_over_unedited": plain_s / edited_s,
            "edit_changes_text": gen(off(at)) != gen()}


def run(shape: Shape, device: str, dtype: torch.dtype, *, tokens: int, repeats: int, new_tokens: int,
        say=print) -> dict:
    say(f"building {shape.name} on {device} ({dtype})")
    took, loaded = seconds(lambda: build(shape, device, dtype), device)
    result = {"shape": {k: v for k, v in shape.__dict__.items() if k != "plant"}, "device": device,
              "dtype": str(dtype).replace("torch.", ""), "build_s": took,
              "parameters": sum(p.numel() for p in loaded.model.parameters()),
              "plant": {"coord": as_lists([shape.plant])[0],
                        **plant(loaded, shape.plant, DEFAULT_PROMPT)}}
    text, at = text_of(loaded, tokens), shape.plant
    steps = {  # key -> what measures it, in order
        "detection": lambda: detection(loaded, at, device),
        "scan_vs_forward": lambda: scan_vs_forward(loaded, text, device, repeats),
        "toggle": lambda: toggle_and_edited_forward(loaded, at, text, device, repeats),
        "rtn": lambda: rtn(loaded, at, device),
        "bitsandbytes": lambda: bitsandbytes(loaded, text, device, repeats),
        "generation": lambda: generation(loaded, at, device, new_tokens, repeats),
    }
    for key, measure in steps.items():
        say(key)
        result[key] = measure()
    del loaded
    free(device)
    return result
