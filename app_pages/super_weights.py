"""Super weights: the detection, a toggle and a scale per weight, and what each edit does."""

import pandas as pd
import streamlit as st

from explorer import (cached, downloads, edit_controls, figures, formatting, generation, lanes, precompute,
                      session, urlcodec, urlstate)

st.title("Super weights")
st.caption("Shows the weights this model cannot do without, found by scanning its activations, and what "
           "removing or scaling each one does.  \nTry: switch a weight off below and watch perplexity, the "
           "stop words, the next token and the generated text change.")
loaded, det = session.model_and_detection("Detecting super weights (a few forward passes) ...")


def verdict_rows(weights) -> list[dict]:
    """One row per candidate: where it is, what it does, and the impact check's verdict."""
    # The impacts right after the verdict they justify: visible without scrolling the table sideways.
    return [{"layer": w.layer, "row": w.row, "col": w.col, "verdict": w.verdict,
             "ppl × alone": None if w.alone is None else w.alone["ppl_ratio"],
             "ppl × group": None if w.impact is None else w.impact.ppl_ratio,
             "ppl × control": None if w.impact is None else w.impact.control_ratio,
             "weight": w.value, "share of spike": w.share, "super activation": w.activation.value,
             "token": w.activation.token, "spike ratio": w.spike_ratio} for w in weights]


if not det.found and not det.activation_sources:
    st.warning(f"No super weight found: the largest spike is {det.max_spike_ratio:,.1f}x the typical layer "
               f"(threshold {det.threshold:g}x). This model may not have one.")
    st.stop()
if not det.verified:
    st.info("Unverified: the impact check was skipped, so these are candidates the spike rules found.")
df = pd.DataFrame(verdict_rows(det.candidates()))
on_screen = df.round({"super activation": 0, "spike ratio": 1, "ppl × group": 0})  # 24,022 and 675.3 on screen; downloads keep all digits
st.dataframe(on_screen, hide_index=True, column_config={
    "weight": st.column_config.NumberColumn(format="%.3f"),
    "share of spike": st.column_config.NumberColumn(format="percent"),
    "super activation": st.column_config.NumberColumn(format="localized"),
    "spike ratio": st.column_config.NumberColumn(format="localized"),
    "ppl × alone": st.column_config.NumberColumn(format="%.3g", help="perplexity with this weight alone removed, "
                                                  "over the original (short shipped text)"),
    "ppl × group": st.column_config.NumberColumn(format="localized", help="perplexity with every weight of its "
                                                  "group (same super activation) removed, over the original"),
    "ppl × control": st.column_config.NumberColumn(format="%.4g", help="the same for as many of the largest "
                                                    "other weights of the matrix")})
downloads.download_table(df, "super-weights")
for w in det.activation_sources:
    st.caption(f"{w.coord} creates a massive activation, but removing it changes perplexity only "
               f"×{w.impact.ppl_ratio:,.3g} (control ×{w.impact.control_ratio:,.3g}): the model does not "
               "depend on it, so it is an activation source, not a super weight.")
if det.late_spikes:
    st.caption("Late spikes that cancel the super activation: " + ", ".join(
        f"layer {s.layer} ch {s.channel} ({s.value:+,.0f}, {s.label})" for s in det.late_spikes))
if det.weak_spikes:
    st.caption("Spikes left out: " + ", ".join(
        f"layer {s.layer} ch {s.channel} ({s.ratio:,.0f}x, {s.reason})" for s in det.weak_spikes))
if not det.found:
    st.warning("No candidate passed the impact check: nothing here to switch off.")
    st.stop()

with st.expander(f"Stability across {len(cached.DETECTION_PROMPTS)} prompts"):
    # Remembered per session and model, so the table stays through every later rerun (a cache hit).
    asked = st.session_state.setdefault("stability_models", set())
    if st.button("Run detection on every prompt", key="stability_run"):
        asked.add(cached.model_key(loaded))
    if cached.model_key(loaded) in asked:
        with session.errors_shown(), st.spinner("Detecting on each prompt ..."):
            multi = cached.detection(loaded, cached.DETECTION_PROMPTS)
        stab = pd.DataFrame([{"super weight": str(w.coord), "found by": f"{len(w.prompts)}/{len(multi.prompts)}",
                              "prompts": " | ".join(w.prompts)} for w in multi.super_weights])
        st.dataframe(stab, hide_index=True)
        downloads.download_table(stab, "stability")

with st.expander("Screening: rank candidate weights by measured impact (slower)"):
    st.caption("The detector's weights and the largest weights of the early down projections, each removed "
               "on its own: perplexity ratio on a short shipped text, all candidates in a few batched passes.")
    screened = st.session_state.setdefault("screening_models", set())
    if st.button("Screen the candidates", key="screening_run"):
        screened.add(cached.model_key(loaded))
    if cached.model_key(loaded) in screened:
        with session.errors_shown(), st.spinner("Removing each candidate in turn ..."):
            ranking = pd.DataFrame(cached.screening(loaded, tuple(det.coords())))
        st.dataframe(ranking, hide_index=True)
        downloads.download_table(ranking, "screening")

st.subheader("Edit")
edit = edit_controls.edit_controls(det)

# The generation prompt's widget sits at the bottom, but its texts start now: a first toggle computes
# in lanes of one torch thread each, sharing the cores (as the Classroom does): the texts, the stop
# words, and the rest of the numbers here.
urlstate.state_from_url("sw_gen_prompt", "gen", default=generation.GEN_PROMPT)
gen_settings = {"original": (loaded, None), "edited": (loaded, edit)}
generation.start(gen_settings, st.session_state["sw_gen_prompt"])
lanes.beside(cached.stopwords, loaded, edit)
with session.errors_shown(), st.spinner("Perplexity, original and edited ..."), lanes.one_thread():
    before, after = cached.perplexity(loaded, None), cached.perplexity(loaded, edit)
    cached.next_distribution(loaded, edit, cached.NEXT_TOKEN_PROMPT)
c1, c2, c3, c4 = st.columns(4)
c1.metric("Perplexity, original", formatting.perplexity_text(before), help=f"First {cached.PPL_TOKENS} tokens "
          "of the 1911 Britannica article on Shakespeare.")
c2.metric("Perplexity, edited", formatting.perplexity_text(after),
          **(formatting.change(before, after, lower_is_better=True) if edit else {}))
urlstate.state_from_url("sw_zeroshot", "zeroshot", urlcodec.decode_bool, default=False)
quiz = c3.toggle("Trivia quiz (slow)", key="sw_zeroshot", help="Zero-shot accuracy on four-way trivia questions")
urlstate.state_to_url(zeroshot=True if quiz else None)
if quiz:
    with session.errors_shown(), st.spinner("Zero-shot accuracy, original and edited ..."):
        zs0, zs1 = cached.zero_shot(loaded, None), cached.zero_shot(loaded, edit)
    c3.metric("Trivia accuracy, original", f"{zs0.accuracy:.0%}", help=f"{zs0.questions} four-way questions")
    c4.metric("Trivia accuracy, edited", f"{zs1.accuracy:.0%}",
              **(formatting.change(zs0.accuracy, zs1.accuracy, lower_is_better=False, as_points=True) if edit else {}))

with session.errors_shown(), st.spinner("Stop-word probabilities ..."):  # full width: 12 labelled pairs of bars
    fig, _ = figures.stopword_figure(loaded, edit)
    st.plotly_chart(fig, key="sw_stopwords")
    downloads.download_figure(fig, "stop-words")
left, _ = st.columns([2, 3])
with left, session.errors_shown():
    st.markdown(f"**Next token after** “{cached.NEXT_TOKEN_PROMPT}”")
    top = figures.next_tokens_table(loaded, edit)
    shown = top.assign(original=top["original"].map(figures.shown), edited=top["edited"].map(figures.shown))
    st.dataframe(shown, hide_index=True, column_config={  # narrow columns: fits a 1280 px window
        "original": st.column_config.TextColumn(width="small"),
        "p original": st.column_config.NumberColumn("p", format="%.3f", width="small"),
        "edited": st.column_config.TextColumn(width="small"),
        "p edited": st.column_config.NumberColumn("p ", format="%.3f", width="small")})
    downloads.download_table(top, "next-tokens")

st.subheader("Generation, original vs edited")
gen_prompt = st.text_input("Prompt", key="sw_gen_prompt")
urlstate.state_to_url(gen=gen_prompt if gen_prompt != generation.GEN_PROMPT else None)
# Each super weight off, computed ahead while the page shows the intact model: a toggle answers from the cache.
precompute.ahead(f"super_weights|{cached.model_key(loaded)}|{gen_prompt}", precompute.edit_tasks(
    loaded, [edit_controls.removing([c]) for c in det.coords()], prompt=cached.NEXT_TOKEN_PROMPT, gen_prompt=gen_prompt))
with session.errors_shown():
    generation.side_by_side(gen_settings, gen_prompt)
