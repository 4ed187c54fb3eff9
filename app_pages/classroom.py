"""Classroom: one big button removes the super weight; the next word, the text and the stop words show what breaks."""

from pathlib import Path

import streamlit as st

from sw_core.edits import Edit
from explorer import computed, figures, formatting, generation, session, urlcodec, urlstate

PRESETS = ["Summer is hot. Winter is", "The capital of France is", "My favourite food is",
           "Once upon a time, there was a"]
BIG = 20  # px: chart text readable from the back of a lecture hall

st.markdown(f"<style>{(Path(__file__).parent.parent / 'assets' / 'classroom.css').read_text()}</style>",
            unsafe_allow_html=True)
loaded, det = session.model_and_detection("Finding the super weight ...")
st.title(f"One weight out of {formatting.count_in_words(loaded.info()['parameters'])}")
st.caption("Shows what a language model predicts and writes with and without its single most important weight.  \n"
           "Try: press the red button, then pick another prompt; watch the next word, the text and the stop words.")
if not det.found:
    st.warning("This model shows no super weight: try the embedded model.")
    st.stop()

removed = urlstate.state_from_url("class_removed", "removed", urlcodec.decode_bool, default=False)
c1, c2, c3 = st.columns([2, 2, 3], vertical_alignment="center")
if c1.button("Put the super weight back" if removed else "Remove the super weight", type="primary", key="class_button"):
    st.session_state["class_removed"] = removed = not removed
    st.rerun()
# "The" super weight is the one carrying the largest share of the spike (detections are sorted so).
# Removing it alone shows the paper's lesson (stop words up, text broken); removing every super
# weight at once wrecks the model so thoroughly that even stop words lose probability.
coords = det.coords()
remove_all = False
if len(coords) > 1:
    urlstate.state_from_url("class_all", "all", urlcodec.decode_bool, default=False)
    remove_all = c2.toggle(f"Remove all {len(coords)} super weights", key="class_all")
targets = coords if remove_all else coords[:1]
edit = Edit.of({c: 0.0 for c in targets}) if removed else None
c3.markdown(("**Removed:** " if removed else "**Intact:** ") + ", ".join(str(c) for c in targets))

urlstate.state_from_url("class_prompt", "cprompt", urlcodec.decode_choice(PRESETS), default=PRESETS[0])
prompt = st.pills("Prompt", PRESETS, key="class_prompt") or PRESETS[0]
urlstate.state_to_url(removed=True if removed else None, all=True if remove_all else None,
                      cprompt=prompt if prompt != PRESETS[0] else None)
now = "without the super weight" if removed else "same model"

with session.errors_shown(), st.spinner("Measuring ..."):
    fig, nw = figures.next_word_figure(loaded, edit, prompt, font_size=BIG, edited_name=now)
    fig.update_layout(height=420)  # the whole chart in a 1280x800 window
    ppl0, ppl1 = computed.perplexity(loaded, None), computed.perplexity(loaded, edit)
    stop_fig, shift = figures.stopword_figure(loaded, edit, title="Stop words' share of the next word",
                                              font_size=BIG, edited_name=now)
left, right = st.columns([3, 1])
left.plotly_chart(fig, key="class_next_words")
right.metric("Perplexity, original", formatting.perplexity_text(ppl0), help="Lower is better: how surprised "
             f"the model is by {computed.PPL_TOKENS} tokens of an encyclopedia article.")
right.metric("Perplexity, now", formatting.perplexity_text(ppl1),
             delta=f"×{ppl1 / ppl0:,.1f}" if edit else None, delta_color="inverse")
right.metric("Stop words' share", f"{shift.stop_mass.edited:.0%}",
             delta=f"×{shift.stop_mass.ratio:.1f}" if edit else None, delta_color="inverse",
             help=f"The next word's probability of being a stop word (the, and, of, a, to, in, is, that, "
             f"full stop, comma), mean over {shift.prompts} sentences.")
if edit:
    fall = min(range(len(nw.words)), key=lambda i: nw.edited[i] / max(nw.original[i], 1e-12))
    rise = max(range(len(nw.words)), key=lambda i: nw.edited[i] - nw.original[i])
    st.markdown(f"After “{prompt}”: **“{nw.words[fall].strip()}”** {formatting.percent(nw.original[fall])} → "
                f"{formatting.percent(nw.edited[fall])}, **“{nw.words[rise].strip()}”** "
                f"{formatting.percent(nw.original[rise])} → {formatting.percent(nw.edited[rise])}.")
with session.errors_shown():
    generation.side_by_side({"original": (loaded, None), now: (loaded, edit)}, prompt)
st.plotly_chart(stop_fig, key="class_stopwords")
