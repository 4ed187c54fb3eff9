"""Quantization: two settings side by side; naive rounding crushes the super weight, aware keeps it."""

import pandas as pd
import streamlit as st

from sw_core import plots
from explorer import computed, downloads, generation, quant_controls, session

st.title("Quantization")
st.caption("Round-to-nearest with large blocks stretches each block's scale to fit the super weight, or clips it "
           "away; holding the super weights out keeps both. Pick two settings to compare.")
loaded, det = session.model_and_detection("Detecting super weights ...")
coords = tuple(det.coords())

sides = {}
for col, side, default in zip(st.columns(2), "ab", ("rtn;bits=8;block=tensor", "rtn;bits=8;block=tensor;aware=1")):
    with col, session.errors_shown():
        st.subheader(f"Setting {side.upper()}")
        sides[side] = quant_controls.quant_setting_controls(side, default)

results = {}
with st.status("Quantizing and measuring ...", expanded=False) as status, session.errors_shown():
    for side, setting in sides.items():
        status.update(label=f"{setting.label}: quantizing and measuring perplexity ...")
        qmodel = computed.quantized_model(loaded, setting, coords)
        results[side] = (setting, qmodel, computed.quant_perplexity(loaded, setting, coords))
    original = computed.perplexity(loaded, None)
    status.update(label="Done", state="complete")

table = pd.DataFrame([{"setting": "original (unquantized)", "perplexity": original, "× original": 1.0}] + [
    {"setting": f"{side.upper()}: {s.label}", "perplexity": p, "× original": p / original}
    for side, (s, _, p) in results.items()])
st.dataframe(table, hide_index=True)
downloads.download_table(table, "quantization-perplexity")
fig = plots.value_bars(table["setting"], {"perplexity": list(table["perplexity"])}, log=True,
                       title=f"Perplexity, first {computed.PPL_TOKENS} tokens", ytitle="perplexity")
st.plotly_chart(fig, key="quant_ppl")
downloads.download_figure(fig, "quantization-perplexity")

st.subheader("The super weights under each setting")
values = quant_controls.super_weight_table(results, det, loaded)
st.dataframe(values, hide_index=True)
downloads.download_table(values, "super-weight-values")

st.subheader("Generation under each setting")
gen_prompt = st.text_input("Prompt", value="The capital of France is", key="quant_gen_prompt")
with session.errors_shown():
    generation.side_by_side({f"{side.upper()}: {s.label}": (q, None) for side, (s, q, _) in results.items()}, gen_prompt)
