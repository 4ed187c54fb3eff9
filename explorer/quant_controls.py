"""Widgets for one quantization setting, and the table of super-weight values under each setting."""

from __future__ import annotations

import streamlit as st

from sw_core.errors import BadInput
from sw_core.quant.settings import MODES

from . import urlcodec
from .urlstate import state_from_url, state_to_url

QUANT_MODES = {name: mode.title for name, mode in MODES.items()}  # the library's registry
# Every one runs on every width: a row's last block is shorter where the block does not divide it.
BLOCKS = ["32", "64", "128", "256", "512", "row", "tensor"]
GRANULARITY = {"tensor": "one scale per tensor", "token": "one scale per token"}
ALL, DOWN = "all linear layers", "down projections only"

# The page opens on the lesson, chosen from measured candidates (docs/quantization.md): 4-bit per-row
# scales clipped at 4 standard deviations over the down projections crush the two super weights
# (perplexity x7, broken text) unless they are held out (x2, the answer stays "Paris").
LESSON = ("rtn;block=row;clip_z=4;modules=mlp.down_proj", "rtn;block=row;clip_z=4;modules=mlp.down_proj;aware=1")


def down_projections(loaded) -> str:
    """The name part shared by every down projection of this model, e.g. "mlp.down_proj" (Llama)."""
    name = loaded.layers[0].name
    parts = name.split(".")
    return ".".join(parts[parts.index("0") + 1:]) if "0" in parts else name


def usable(setting, loaded):
    """`setting` if these widgets can show it, else BadInput with the reason (shown as "Ignored ...")."""
    if setting.modules not in (None, down_projections(loaded)):
        raise BadInput(f"modules must be none (all linear layers) or {down_projections(loaded)} (the down "
                       f"projections), not {str(setting.modules)[:30]!r}.")
    return setting


def _seed(p: str, seed) -> None:
    defaults = {"mode": seed.mode, "bits": seed.bits, "block": str(seed.block), "aware": seed.aware or seed.skip_super_layers,
                "clip": 0.0 if seed.clip_z in (None, "search") else float(seed.clip_z),
                "search": seed.clip_z == "search", "modules": DOWN if seed.modules else ALL,
                "granularity": seed.granularity, "threshold": float(seed.threshold)}
    for name, value in defaults.items():
        st.session_state.setdefault(f"{p}_{name}", value)


def seed_from_url(side: str, default: str, loaded) -> None:
    """Seed side's widgets from ?q<side>=... once per session ("Ignored ..." with the reason where it is drawn)."""
    p = f"q{side}"
    seed = state_from_url(f"{p}_url", p, lambda raw: usable(urlcodec.decode_setting(raw, BLOCKS), loaded),
                          default=urlcodec.decode_setting(default))
    _seed(p, seed)


def quant_setting_controls(side: str, loaded):
    """Widgets for one QuantSetting (seeded by `seed_from_url`, written back to the URL); returns the setting."""
    from sw_core.quant import QuantSetting

    p = f"q{side}"
    mode = st.selectbox("Method", list(QUANT_MODES), format_func=QUANT_MODES.get, key=f"{p}_mode")
    kw = {}
    if mode == "rtn":
        c1, c2 = st.columns(2)
        kw["bits"] = c1.slider("bits", 2, 8, key=f"{p}_bits")
        block = c2.selectbox("block (weights per scale)", BLOCKS, key=f"{p}_block")
        kw["block"] = int(block) if block.isdigit() else block
        c1, c2 = st.columns(2)
        search = c2.toggle("search z", key=f"{p}_search", help="pick z by the reconstruction error on calibration text")
        clip = c1.number_input("clip at z std (0 = none)", 0.0, 100.0, step=0.5, key=f"{p}_clip", disabled=search)
        kw["clip_z"] = "search" if search else (clip or None)
    if mode == "w8a8":
        kw["granularity"] = st.radio("activation scales", list(GRANULARITY), format_func=GRANULARITY.get,
                                     key=f"{p}_granularity", horizontal=True)
    if mode in ("rtn", "w8a8"):
        if st.radio("quantize", [ALL, DOWN], key=f"{p}_modules", horizontal=True) == DOWN:
            kw["modules"] = down_projections(loaded)
        kw["aware"] = st.toggle("super-weight aware" if mode == "rtn" else "super-activation aware", key=f"{p}_aware")
    if mode == "bnb-int8":
        kw["threshold"] = st.number_input("outlier threshold", 0.0, 100.0, step=0.5, key=f"{p}_threshold")
    if mode.startswith("bnb"):
        kw["skip_super_layers"] = st.toggle("keep the super weights' layers unquantized", key=f"{p}_aware")
    setting = QuantSetting(mode, **kw)
    state_to_url(**{p: urlcodec.encode_setting(setting)})
    return setting


def super_weight_rows(label: str, qmodel, det, original) -> list[dict]:
    """One row per super weight: its value before and after quantization under `label`'s setting."""
    from sw_core.quant import super_weight_values

    return [{"setting": label, "weight": f"layer {v.layer} [{v.row}, {v.col}]", "original": v.original,
             "quantized": v.quantized, "relative error": v.relative_error}
            for v in super_weight_values(qmodel, det, original)]
