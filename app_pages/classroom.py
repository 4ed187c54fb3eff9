"""Classroom: one big button removes the super weight; the next word, the numbers and the text show what breaks.

Laid out for a projector: the button and the three numbers on one row, the sentence that names the
lesson, then the chosen prompt's chart beside the generated texts, all within a 1280x800 window.
"""

from pathlib import Path

import streamlit as st

from explorer import (cached, edit_controls, figures, formatting, generation, lanes, precompute, session,
                      urlcodec, urlstate)

PRESETS = [cached.NEXT_TOKEN_PROMPT, generation.GEN_PROMPT, "My favourite food is",
           "Once upon a time, there was a"]
BIG = 20  # px: chart text readable from the back of a lecture hall

st.markdown(f"<style>{(Path(__file__).parent.parent / 'assets' / 'classroom.css').read_text()}</style>",
            unsafe_allow_html=True)
loaded, det = session.model_and_detection("Finding the super weight ...")
st.title(f"One weight out of {formatting.count_in_words(loaded.info()['parameters'])}")
st.caption("Shows what a language model predicts and writes with and without its single most important weight.  \n"
           "Try: press the red button, then pick another prompt; watch the next word, the numbers and the text.")
if not det.found:
    st.warning("This model shows no super weight: try the embedded model.")
    st.stop()

removed = urlstate.state_from_url("class_removed", "removed", urlcodec.decode_bool, default=False)
# "The" super weight is the one carrying the largest share of the spike (detections are sorted so).
# Removing it alone shows the paper's lesson (stop words up, text broken); removing every super
# weight at once wrecks the model so thoroughly that even stop words lose probability.
coords = det.coords()
controls, m1, m2, m3 = st.columns([5, 3, 3, 3], vertical_alignment="top")
if controls.button("Put it back" if removed else "Remove the super weight", type="primary", key="class_button"):
    st.session_state["class_removed"] = removed = not removed
    st.rerun()
remove_all = False
if len(coords) > 1:
    urlstate.state_from_url("class_all", "all", urlcodec.decode_bool, default=False)
    remove_all = controls.toggle(f"All {len(coords)} super weights", key="class_all",
                                 help="Remove every super weight this model has, not only the largest one.")
targets = coords if remove_all else coords[:1]
edit = edit_controls.removing(targets) if removed else None
weights = "the super weight" if len(targets) == 1 else f"{len(targets)} super weights"

urlstate.state_from_url("class_prompt", "cprompt", urlcodec.decode_choice(PRESETS), default=PRESETS[0])
prompt = st.pills("Prompt", PRESETS, key="class_prompt", label_visibility="collapsed") or PRESETS[0]
urlstate.state_to_url(removed=True if removed else None, all=True if remove_all else None,
                      cprompt=prompt if prompt != PRESETS[0] else None)
now = f"without {weights}" if removed else "same model"

settings = {"original": (loaded, None), now: (loaded, edit)}
# A first click computes in three lanes of one torch thread each, sharing the cores: the texts,
# the stop words, and the rest of the numbers here (drawn first; the texts follow as they grow).
generation.start(settings, prompt)
lanes.beside(cached.stopwords, loaded, edit)
with session.errors_shown(), st.spinner("Measuring ..."), lanes.one_thread():
    fig, nw = figures.next_word_rows(loaded, edit, prompt, font_size=BIG, edited_name=now, height=380)
    ppl0, ppl1 = cached.perplexity(loaded, None), cached.perplexity(loaded, edit)
    stop_fig, shift = figures.stopword_figure(loaded, edit, title="Stop words' share of the next word",
                                              font_size=BIG, edited_name=now)
m1.metric("Perplexity, original", formatting.perplexity_text(ppl0), help="Lower is better: how surprised "
          f"the model is by {cached.PPL_TOKENS} tokens of an encyclopedia article.")
m2.metric("Perplexity, now", formatting.perplexity_text(ppl1), help="The same text, read by the model as it is now.",
          **(formatting.change(ppl0, ppl1, lower_is_better=True) if edit else {}))
m3.metric("Stop words' share", f"{shift.stop_mass.edited:.0%}",
          **(formatting.change(shift.stop_mass.original, shift.stop_mass.edited, lower_is_better=None,
                               as_points=True) if edit else {}),
          help=f"The next word's probability of being a stop word (the, and, of, a, to, in, is, that, "
          f"full stop, comma), mean over {shift.prompts} sentences; {shift.stop_mass.original:.0%} originally. "
          "Any move away from the original is damage.")
targets_text = ", ".join(str(c) for c in targets)
if edit:
    fall, rise = nw.largest_changes()
    said = [f"**“{nw.words[i].strip()}”** {formatting.percent(nw.original[i])} → {formatting.percent(nw.edited[i])}"
            for i in dict.fromkeys((fall, rise))]
    st.markdown(f"After “{prompt}” without {weights}: " + ", ".join(said) + ".")
else:
    st.markdown(f"Every weight in place. Press the red button to remove {weights} ({targets_text}).")

# Both lessons computed ahead while the class looks at the intact model: the button answers from the cache.
precompute.ahead(f"classroom|{cached.model_key(loaded)}|{prompt}", precompute.edit_tasks(
    loaded, dict.fromkeys(edit_controls.removing(t) for t in (coords[:1], coords)), prompt=prompt))

chart, texts = st.columns([1, 1])
chart.plotly_chart(fig, key="class_next_words")
with texts, session.errors_shown():  # drawn after the numbers: the text streams in last
    generation.side_by_side(settings, prompt, stacked=True)
st.plotly_chart(stop_fig, key="class_stopwords")
