"""Widgets for one quantization setting, and the table of super-weight values under each setting."""

from __future__ import annotations

import streamlit as st

from . import urlcodec
from .urlstate import state_from_url, state_to_url

QUANT_MODES = {"fp": "full precision", "rtn": "RTN (weight-only)", "w8a8": "W8A8 (simulated)",
               "bnb-int8": "bitsandbytes LLM.int8", "bnb-nf4": "bitsandbytes NF4"}


def quant_setting_controls(side: str, default: str):
    """Widgets for one QuantSetting (seeded from ?q<side>=..., written back); returns the setting."""
    from sw_core.quant import QuantSetting

    p = f"q{side}"
    seed = state_from_url(f"{p}_url", p, urlcodec.decode_setting, default=urlcodec.decode_setting(default))
    st.session_state.setdefault(f"{p}_mode", seed.mode)
    st.session_state.setdefault(f"{p}_bits", seed.bits)
    st.session_state.setdefault(f"{p}_block", str(seed.block))
    st.session_state.setdefault(f"{p}_clip", 0.0 if seed.clip_z in (None, "search") else float(seed.clip_z))
    st.session_state.setdefault(f"{p}_aware", seed.aware or seed.skip_super_layers)
    mode = st.selectbox("Method", list(QUANT_MODES), format_func=QUANT_MODES.get, key=f"{p}_mode")
    kw = {}
    if mode == "rtn":
        c1, c2, c3 = st.columns(3)
        kw["bits"] = c1.slider("bits", 2, 8, key=f"{p}_bits")
        block = c2.selectbox("block", ["32", "64", "128", "256", "512", "row", "tensor"], key=f"{p}_block")
        kw["block"] = int(block) if block.isdigit() else block
        clip = c3.number_input("clip z (0 = none)", 0.0, 100.0, step=0.5, key=f"{p}_clip")
        kw["clip_z"] = clip or None
    if mode in ("rtn", "w8a8"):
        kw["aware"] = st.toggle("super-weight aware" if mode == "rtn" else "super-activation aware", key=f"{p}_aware")
    if mode.startswith("bnb"):
        kw["skip_super_layers"] = st.toggle("keep the super weights' layers unquantized", key=f"{p}_aware")
    setting = QuantSetting(mode, **kw)
    state_to_url(**{p: urlcodec.encode_setting(setting)})
    return setting


def super_weight_table(results: dict, det, original):
    """One row per (setting, super weight): the value before and after quantization."""
    import pandas as pd
    from sw_core.quant import super_weight_values

    rows = []
    for side, (setting, qmodel, _) in results.items():
        for v in super_weight_values(qmodel, det, original):
            rows.append({"setting": f"{side.upper()}: {setting.label}", "weight": f"layer {v.layer} [{v.row}, {v.col}]",
                         "original": v.original, "quantized": v.quantized, "relative error": v.relative_error})
    return pd.DataFrame(rows)
