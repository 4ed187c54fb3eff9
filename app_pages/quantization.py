"""Quantization: two settings side by side; naive rounding crushes the super weight, aware keeps it."""

import pandas as pd
import streamlit as st

from explorer import cached, downloads, figures, generation, quant_controls, session
from explorer.urlstate import state_from_url, state_to_url

st.title("Quantization")
st.caption("It opens on the lesson: 4-bit rows of the down projections, clipped at 4 standard deviations, crush "
           "the two super weights (A) unless they are held out (B): compare the perplexity and the generated text. "
           "Then change either setting below: bits, block, clipping, which layers, W8A8, bitsandbytes.")
loaded, det = session.model_and_detection("Detecting super weights ...")
coords = tuple(det.coords())
for side, default in zip("ab", quant_controls.LESSON):
    quant_controls.seed_from_url(side, default, loaded)  # an unusable URL value: "Ignored ..." up here
lesson = st.container()  # the outcome first, filled once the settings below are read

st.subheader("The two settings")
sides = {}
for col, side in zip(st.columns(2), "ab"):
    with col, session.errors_shown():
        st.markdown(f"**Setting {side.upper()}**")
        sides[side] = quant_controls.quant_setting_controls(side, loaded)

with lesson:
    results = {}  # side -> (setting, perplexity); a page holds one quantized copy at a time (memory)
    for side, setting in sides.items():  # errors show on the page itself, never inside a collapsed box
        with session.errors_shown(), st.spinner(f"{side.upper()}: {setting.label}: quantizing and measuring perplexity ..."):
            results[side] = (setting, cached.quant_perplexity(loaded, setting, coords))
    with session.errors_shown(), st.spinner("Measuring the original's perplexity ..."):
        original = cached.perplexity(loaded, None)

    cols = st.columns(3)
    cols[0].metric("Perplexity, original", f"{original:,.2f}")
    for col, (side, (s, p)) in zip(cols[1:], results.items()):
        col.metric(f"Perplexity, {side.upper()}", f"{p:,.2f}", f"×{p / original:,.2f}", delta_color="inverse",
                   help=s.label)

    state_from_url("quant_gen_prompt", "qprompt", default=generation.GEN_PROMPT)
    gen_prompt = st.text_input("Prompt for the generated text", key="quant_gen_prompt")
    state_to_url(qprompt=None if gen_prompt == generation.GEN_PROMPT else gen_prompt)
    rows = []
    for col, (side, (s, _)) in zip(st.columns(2), results.items()):
        label = f"{side.upper()}: {s.label}"
        with col, session.errors_shown():
            qmodel = cached.quantized_model(loaded, s, coords)  # kept from above, or built again
            generation.side_by_side({label: (qmodel, None)}, gen_prompt)
            rows += quant_controls.super_weight_rows(label, qmodel, det, loaded)
        del qmodel

st.subheader("Perplexity under each setting")
table = pd.DataFrame([{"setting": "original (unquantized)", "perplexity": original, "× original": 1.0}] + [
    {"setting": f"{side.upper()}: {s.label}", "perplexity": p, "× original": p / original}
    for side, (s, p) in results.items()])
fig = figures.perplexity_ratio_bars(list(table["setting"]), list(table["perplexity"]), original,
                                    title=f"Perplexity on the first {cached.PPL_TOKENS} tokens, as a ratio to the original")
st.plotly_chart(fig, key="quant_ppl")
st.dataframe(table, hide_index=True, column_config={"perplexity": st.column_config.NumberColumn(format="%.2f"),
                                                    "× original": st.column_config.NumberColumn(format="%.2f")})
downloads.download_table(table, "quantization-perplexity")
downloads.download_figure(fig, "quantization-perplexity")

st.subheader("The super weights under each setting")
values = pd.DataFrame(rows)
st.dataframe(values, hide_index=True)
downloads.download_table(values, "super-weight-values")
