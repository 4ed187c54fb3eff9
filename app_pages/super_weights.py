"""Super weights: the detection, a toggle and a scale per weight, and what each edit does."""

import pandas as pd
import streamlit as st
from explorer import computed, downloads, edit_controls, figures, generation, session


st.title("Super weights")
loaded, det = session.model_and_detection("Detecting super weights (a few forward passes) ...")
if not det.found:
    st.warning(f"No super weight found: the largest spike is {det.max_spike_ratio:.1f}x the median layer "
               f"(threshold {det.threshold:g}x). This model may not have one.")
    st.stop()

rows = [{"layer": w.layer, "row": w.row, "col": w.col, "weight": w.value, "share of spike": w.share,
         "super activation": w.activation.value, "token": w.activation.token, "spike ratio": w.spike_ratio}
        for w in det.super_weights]
df = pd.DataFrame(rows)
st.dataframe(df, hide_index=True)
downloads.download_table(df, "super-weights")
if det.late_spikes:
    st.caption("Late spikes that cancel the super activation: " + ", ".join(
        f"layer {s.layer} ch {s.channel} ({s.value:+,.0f}, {s.label})" for s in det.late_spikes))

with st.expander(f"Stability across {len(computed.DETECTION_PROMPTS)} prompts"):
    if st.button("Run detection on every prompt", key="stability_run"):
        with session.errors_shown(), st.spinner("Detecting on each prompt ..."):
            multi = computed.detection(loaded, computed.DETECTION_PROMPTS)
        stab = pd.DataFrame([{"super weight": str(w.coord), "found by": f"{len(w.prompts)}/{len(multi.prompts)}",
                              "prompts": " | ".join(w.prompts)} for w in multi.super_weights])
        st.dataframe(stab, hide_index=True)
        downloads.download_table(stab, "stability")

st.subheader("Edit")
edit = edit_controls.edit_controls(det)

with session.errors_shown(), st.spinner("Perplexity, original and edited ..."):
    before, after = computed.perplexity(loaded, None), computed.perplexity(loaded, edit)
c1, c2, c3, c4 = st.columns(4)
c1.metric("Perplexity, original", f"{before:.2f}", help=f"First {computed.PPL_TOKENS} tokens of the 1911 Britannica "
          "article on Shakespeare.")
c2.metric("Perplexity, edited", f"{after:,.2f}", delta=f"×{after / before:,.2f}", delta_color="inverse")
if c3.toggle("Zero-shot trivia accuracy (slow)", key="sw_zeroshot"):
    with session.errors_shown(), st.spinner("Zero-shot accuracy, original and edited ..."):
        zs0, zs1 = computed.zero_shot(loaded, None), computed.zero_shot(loaded, edit)
    c3.metric("Trivia accuracy, original", f"{zs0.accuracy:.0%}", help=f"{zs0.questions} four-way questions")
    c4.metric("Trivia accuracy, edited", f"{zs1.accuracy:.0%}", delta=f"{(zs1.accuracy - zs0.accuracy) * 100:+.0f} pts")

left, right = st.columns([3, 2])
with left, session.errors_shown(), st.spinner("Stop-word probabilities ..."):
    fig, shift = figures.stopword_figure(loaded, edit)
    st.plotly_chart(fig, key="sw_stopwords")
    downloads.download_figure(fig, "stop-words")
with right, session.errors_shown():
    st.markdown(f"**Next token after** “{computed.NEXT_TOKEN_PROMPT}”")
    top = computed.next_tokens(loaded, edit)
    st.dataframe(top, hide_index=True, column_config={
        "p original": st.column_config.ProgressColumn(format="%.3f", min_value=0, max_value=1),
        "p edited": st.column_config.ProgressColumn(format="%.3f", min_value=0, max_value=1)})
    downloads.download_table(top, "next-tokens")

st.subheader("Generation, original vs edited")
gen_prompt = st.text_input("Prompt", value="The capital of France is", key="sw_gen_prompt")
with session.errors_shown():
    generation.side_by_side({"original": (loaded, None), "edited": (loaded, edit)}, gen_prompt)
