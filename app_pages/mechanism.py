"""Mechanism: how a super weight works, from the input that fires it to the words it changes."""

from functools import partial

import streamlit as st

from explorer import cached, downloads, figures, limits, precompute, session, urlcodec, urlstate

DEFAULT_PROMPT = cached.DETECTION_PROMPTS[0]  # the paper's prompt

st.title("Mechanism")
st.caption("How one super weight works, in four steps: the input that fires it, the massive activation it "
           "writes and how long that lives, the attention it attracts, and the words it changes. "
           "Try your own prompt: every chart compares the original model with its super weights removed.")
loaded, det = session.model_and_detection("Finding the super weights ...")
if not det.found:
    st.warning("This model shows no super weight, so there is no mechanism to explain: try the embedded model.")
    st.stop()
urlstate.state_from_url("mech_prompt", "prompt", default=DEFAULT_PROMPT)
prompt = st.text_input("Prompt", key="mech_prompt", help="Enter to update the charts")
urlstate.state_to_url(prompt=prompt if prompt != DEFAULT_PROMPT else None)
# The detector reports one super activation's weights first; explain that group.
first = det.super_weights[0]
coords = tuple(w.coord for w in det.super_weights if (w.layer, w.row) == (first.layer, first.row))
with session.errors_shown():
    limits.check_prompt(prompt)
    m = cached.mechanism(loaded, prompt, coords)
removed = ", ".join(m.super_weights)

st.header("1 · The input that fires it")
main = m.pathway[0]
factors = " × ".join(f"{f.name} {f.value:,.2f}" for f in main.factors)
st.markdown(f"At token {main.token} (**{main.token_text!r}**), input channel **{main.col}** of layer {main.layer}'s "
            f"down projection carries x = **{main.x:,.0f}** = {factors}. Times the weight "
            f"W[{main.row}, {main.col}] = {main.weight:+.3f}, that is **{main.contribution:,.0f}** of the "
            f"super activation **{main.activation:,.0f}**. The bars show which residual channels (after the norm) "
            "drive each factor; hover for the sublayers that wrote them.")
tabs = st.tabs([f"W[{p.row}, {p.col}]" for p in m.pathway]) if len(m.pathway) > 1 else [st.container()]
for tab, p in zip(tabs, m.pathway):
    with tab:
        fig = figures.pathway_figure(p)
        st.plotly_chart(fig, key=f"mech_pathway_{p.col}")
        downloads.download_figure(fig, f"pathway-{p.layer}-{p.row}-{p.col}", key=f"dl-pathway-{p.col}")

st.header("2 · A massive activation that persists")
s = m.persistence
big, big_off = s.large_layers("original"), s.large_layers("removed")
span = f"{big[0]}–{big[-1]}" if big else "none"
without = f"only after layers {', '.join(map(str, big_off))}" if big_off else "nowhere"
st.markdown(f"Residual channel **{s.channel}** at token {s.token} is large (at least 25% of its peak) after layers "
            f"**{span}** in the original model; with {removed} off, {without}. Late layers that write the "
            "opposite sign remove it before the output.")
fig = figures.persistence_figure(s)
st.plotly_chart(fig, key="mech_persistence")
downloads.download_figure(fig, "persistence")
with st.expander("Every token (heatmap)"):
    fig = figures.persistence_heatmap(s)
    st.plotly_chart(fig, key="mech_persistence_heat")

st.header("3 · An attention sink")
a = m.attention_sink
c1, c2 = st.columns(2)
c1.metric(f"Attention on token {a.token}, original", f"{a.mean_original:.2f}",
          help="mean over layers, heads and later tokens")
c2.metric(f"Attention on token {a.token}, super weights off", f"{a.mean_removed:.2f}",
          delta=f"{a.mean_removed - a.mean_original:+.2f}", delta_color="off")
fig = figures.attention_sink_figure(a)
st.plotly_chart(fig, key="mech_attention")
downloads.download_figure(fig, "attention-sink")
with st.expander("Per head (heatmaps)"):
    left, right = st.columns(2)
    left.plotly_chart(figures.attention_sink_heatmap(a, "original"), key="mech_heads_original")
    right.plotly_chart(figures.attention_sink_heatmap(a, "removed"), key="mech_heads_removed")

st.header("4 · The words it changes")
st.caption(f"Channel {s.channel} read through the final norm and the unembedding, and the measured next-token "
           f"probability per class with the main super weight W[{main.row}, {main.col}] off.")
urlstate.state_from_url("mech_vocab", "vocab", urlcodec.decode_bool, default=False)
vocab_on = st.toggle("Measure the vocabulary effect (scores 32 texts twice: slower)", key="mech_vocab")
urlstate.state_to_url(vocab=True if vocab_on else None)
vocabulary = partial(cached.vocabulary, loaded, s.channel, 1 if main.activation >= 0 else -1, coords[0])
# The slowest view of the app, computed ahead while the class reads steps 1-3: the toggle then answers from the cache.
precompute.ahead(f"mechanism|{cached.model_key(loaded)}", [vocabulary])
if vocab_on:
    with session.errors_shown(), st.spinner("Scoring next-word sentences ..."):
        v = vocabulary()
    left, right = st.columns(2)
    fig = figures.vocabulary_lens_figure(v)  # a title that fits half of a 1280 px window; the rest on the axes
    fig.update_layout(title=f"channel {v.channel}: the words it pushes")
    fig.update_xaxes(title="logit per unit (final norm, unembedding)", row=1, col=1)
    left.plotly_chart(fig, key="mech_lens")
    fig = figures.vocabulary_class_figure(v, "sentences")
    right.plotly_chart(fig, key="mech_classes")
    downloads.download_figure(fig, "vocabulary-classes")

downloads.download_json(m.to_dict(), "mechanism")
