"""Classroom: one big button removes the super weight; the stop words and the text show what breaks."""

from pathlib import Path

import streamlit as st

from sw_core.edits import Edit
from explorer import computed, figures, generation, session, urlcodec, urlstate

PRESETS = ["Summer is hot. Winter is", "The capital of France is", "My favourite food is",
           "Once upon a time, there was a"]

st.markdown(f"<style>{(Path(__file__).parent.parent / 'assets' / 'classroom.css').read_text()}</style>",
            unsafe_allow_html=True)
st.title("One weight out of 135 million")
loaded, det = session.model_and_detection("Finding the super weight ...")
if not det.found:
    st.warning("This model shows no super weight: try the embedded model.")
    st.stop()

removed = urlstate.state_from_url("class_removed", "removed", urlcodec.decode_bool, default=False)
label = "Put the super weight back" if removed else "Remove the super weight"
if st.button(label, type="primary", key="class_button"):
    st.session_state["class_removed"] = removed = not removed
    st.rerun()
urlstate.state_to_url(removed=True if removed else None)
# "The" super weight is the one carrying the largest share of the spike (detections are sorted so).
# Removing it alone shows the paper's lesson (stop words up, text broken); removing every super
# weight at once wrecks the model so thoroughly that even stop words lose probability.
remove_all = st.toggle(f"Remove all {len(det.coords())} super weights", key="class_all") if len(det.coords()) > 1 else True
targets = det.coords() if remove_all else det.coords()[:1]
edit = Edit.of({c: 0.0 for c in targets}) if removed else None
st.markdown(("**Removed:** " if removed else "**Intact:** ") + ", ".join(str(c) for c in targets))

prompt = st.pills("Prompt", PRESETS, default=PRESETS[0], key="class_prompt") or PRESETS[0]
with session.errors_shown(), st.spinner("Measuring ..."):
    fig, shift = figures.stopword_figure(loaded, edit, title="How likely is each next word?")
    ppl0, ppl1 = computed.perplexity(loaded, None), computed.perplexity(loaded, edit)
fig.update_layout(height=520, font=dict(size=20))
st.plotly_chart(fig, key="class_stopwords")
c1, c2 = st.columns(2)
c1.metric("Perplexity (lower is better)", f"{ppl1:,.1f}", delta=f"×{ppl1 / ppl0:,.1f}" if removed else None,
          delta_color="inverse")
c2.metric("Stop words' share of the next word", f"{shift.stop_mass.edited:.0%}",
          delta=f"×{shift.stop_mass.ratio:.1f}" if removed else None, delta_color="inverse")
with session.errors_shown():
    generation.side_by_side({"original": (loaded, None), "without the super weight" if removed else "same model": (loaded, edit)},
                               prompt)
