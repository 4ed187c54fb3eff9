"""The measurements behind the docs' tables, on the embedded model, with the app's own settings.

Same text, token count and prompts as the app (`explorer.cached`), but through sw_core directly
(no Streamlit cache), so `python -m bench.numbers --measure` reproduces what the pages show.
"""

from __future__ import annotations

from dataclasses import replace

from explorer.cached import DETECTION_PROMPTS, PPL_TEXT, PPL_TOKENS
from explorer.generation import GEN_PROMPT, GEN_TOKENS
from explorer.quant_controls import LESSON
from explorer.urlcodec import decode_setting


def context(loaded, command: str) -> dict:
    info = loaded.info()
    return {"model": info["model"], "device": info["device"], "dtype": info["dtype"], "command": command,
            "text": f"perplexity on the first {PPL_TOKENS} tokens of the shipped text '{PPL_TEXT}'"}


def _ppl(loaded, edit=None) -> float:
    from sw_core import texts
    from sw_core.metrics import perplexity

    return perplexity(loaded, texts.text(PPL_TEXT, max_chars=8 * PPL_TOKENS), max_tokens=PPL_TOKENS, edit=edit)


def detection(loaded):
    from sw_core.detect import find_super_weights

    return find_super_weights(loaded, list(DETECTION_PROMPTS[:1]))


def app_numbers(loaded, det, command: str) -> dict:
    """The Super weights / Classroom pages' perplexities: original, one or both super weights off, +SA."""
    from sw_core.edits import Edit, off
    from sw_core.restore import restore_pins

    coords = list(det.coords())
    edits = [("original", None), (f"layer {coords[0].layer} [{coords[0].row}, {coords[0].col}] off", off(coords[0])),
             ("every super weight off", off(*coords)),
             ("every super weight off, super activation restored",
              Edit.of({c: 0.0 for c in coords}, pins=restore_pins(loaded, coords, det)))]
    return {**context(loaded, command), "edits": [{"condition": name, "perplexity": _ppl(loaded, e)} for name, e in edits]}


def pairs() -> list:
    """(naive, aware) settings of the Quantization page's table; the lesson first."""
    from sw_core.quant import QuantSetting as Q

    lesson = decode_setting(LESSON[0])
    down = lesson.modules
    return [lesson, Q("rtn", block=512, clip_z=3, modules=down), Q("rtn", block="row", clip_z=3, modules=down),
            Q("rtn", bits=8, block="row", clip_z=3, modules=down), Q("rtn", bits=4, block=128),
            Q("rtn", bits=4, block=64), Q("rtn", bits=8, block="tensor"), Q("w8a8"), Q("w8a8", granularity="token")]


def quantization_numbers(loaded, det, command: str) -> dict:
    from sw_core.generate import generate
    from sw_core.quant import quantized, super_weight_values

    coords = list(det.coords())
    rows, lesson = [], None
    for naive in pairs():
        aware = replace(naive, aware=True)
        qn, qa = quantized(loaded, naive, coords), quantized(loaded, aware, coords)
        row = {"setting": naive.label.replace(" naive", ""), "naive": _ppl(qn), "aware": _ppl(qa),
               "sw_naive": [v.quantized for v in super_weight_values(qn, det, loaded)],
               "sw_aware": [v.quantized for v in super_weight_values(qa, det, loaded)]}
        rows.append(row)
        if lesson is None:
            texts = {who: generate(m, GEN_PROMPT, max_new_tokens=GEN_TOKENS)
                     for who, m in (("original", loaded), ("naive", qn), ("aware", qa))}
            lesson = {**row, "prompt": GEN_PROMPT, "texts": texts}
        del qn, qa
    return {**context(loaded, command), "original": _ppl(loaded), "pairs": rows, "lesson": lesson}
