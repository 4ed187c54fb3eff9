"""Part 2 of the check: the real embedded model (SmolLM2-135M-Instruct) on the device in bf16,
against the same model in fp32 on the CPU, through the functions the app calls.

Where the package with the GGUF is not installed (a bare GPU machine), pass the GGUF file itself
(`--gguf`, reassembled from the two carried halves: bench/gpu_carry.sh).
"""

from __future__ import annotations

import torch

from sw_core.detect import find_super_weights
from sw_core.edits import Coord, off
from sw_core.generate import compare
from sw_core.loading import load
from sw_core.metrics import perplexity
from sw_core.metrics.impact import conditions, impact_rows

from .shapes import as_lists
from .timing import free, seconds, text_of

EXPECTED = [Coord(11, 507, 1229), Coord(11, 507, 1487)]  # found on the CPU in fp32 (README, tests)
PROMPT = "The capital of France is"


def table1(loaded, coords, text: str, tokens: int, quick: bool, device: str) -> dict:
    """The paper's Table 1 conditions through sw_core.metrics.impact, as the app's Impact page runs them."""
    took, table = seconds(lambda: impact_rows(
        loaded, conditions(loaded, coords), texts={"text": text}, max_tokens=tokens,
        zero_shot=8 if quick else None, stop_prompts=8 if quick else 64), device)
    return {"seconds": took, "rows": {
        r.condition: {"perplexity": r.perplexity["text"], "zero_shot_accuracy": r.zero_shot_accuracy,
                      "stop_mass_ratio": r.stop_mass_ratio, "target_ratio": r.target_ratio} for r in table}}


def run(device: str, gguf: str | None, *, quick: bool, say=print) -> dict:
    ref = gguf or "embedded"
    try:
        took, on_device = seconds(lambda: load(ref, device=device, dtype=torch.bfloat16), device)
    except Exception as e:  # noqa: BLE001 - e.g. no package and no --gguf: say so in the JSON
        return {"skipped": f"{type(e).__name__}: {e}"}
    say(f"embedded model loaded on {device} in {took:.1f} s; CPU fp32 reference")
    reference = load(ref, device="cpu", dtype=torch.float32)
    tokens = 256 if quick else 1024
    text = text_of(reference, tokens)
    result = {"source": on_device.source, "load_s": took, "dtype": "bfloat16", "tokens": tokens}

    say("detection (device, CPU)")
    det_s, found = seconds(lambda: find_super_weights(on_device), device)
    cpu_found = find_super_weights(reference)
    result["detection"] = {"seconds": det_s, "device": as_lists(found.coords()), "cpu_fp32": as_lists(cpu_found.coords()),
                           "same_as_cpu": found.coords() == cpu_found.coords(),
                           "as_expected": found.coords() == EXPECTED}

    say("perplexity (device, CPU)")
    ppl_s, ppl = seconds(lambda: perplexity(on_device, text), device)
    cpu_ppl = perplexity(reference, text)
    result["perplexity"] = {"seconds": ppl_s, "device_bf16": ppl, "cpu_fp32": cpu_ppl,
                            "relative_difference": abs(ppl - cpu_ppl) / cpu_ppl,
                            "within_1_percent": abs(ppl - cpu_ppl) <= 0.01 * cpu_ppl}
    del reference
    free(device)

    coords = found.coords() or EXPECTED
    say("Table 1 conditions")
    try:
        result["table1"] = table1(on_device, coords, text, tokens, quick, device)
    except Exception as e:  # noqa: BLE001 - its prompt sets come from packages a bare machine may lack
        result["table1"] = {"skipped": f"{type(e).__name__}: {e}"}

    say("generation side by side")
    new_tokens = 8 if quick else 32
    gen_s, texts = seconds(lambda: compare({"original": (on_device, None), "no super weight": (on_device, off(*coords))},
                                           PROMPT, max_new_tokens=new_tokens, stop_at_eos=False), device)
    result["generation"] = {"seconds": gen_s, "tokens_per_s": 2 * new_tokens / gen_s, "texts": texts,
                            "original_says_paris": "Paris" in texts["original"]}
    del on_device
    free(device)
    return result
