"""Activations: where the down projections spike, for any prompt (one forward pass)."""

import pandas as pd
import streamlit as st

from explorer import cached, downloads, figures, limits, session, urlstate

DEFAULT_PROMPT = "Summer is hot. Winter is cold. The super weight holds this model together."

st.title("Activations")
st.caption("Shows the largest input and output of every layer's MLP down projection for your prompt (one "
           "forward pass); a super weight shows as one layer whose output jumps by orders of magnitude.  \n"
           "Try: type any prompt and press Ctrl+Enter; the spike stays at the same layer and channel.")
loaded = session.model()
urlstate.state_from_url("act_prompt", "prompt", default=DEFAULT_PROMPT)
prompt = st.text_area("Prompt", key="act_prompt", height=80, help="Ctrl+Enter to update the charts")
urlstate.state_to_url(prompt=prompt if prompt != DEFAULT_PROMPT else None)

with session.errors_shown():
    limits.check_prompt(prompt)
    result = cached.spike_scan(loaded, prompt)

spike = max(result.layers, key=lambda s: s.out_max)
typical = sorted(s.out_max for s in result.layers)[len(result.layers) // 2]
c1, c2, c3, c4 = st.columns(4)
c1.metric("Spike layer", spike.layer)
c2.metric("Max |output|", f"{spike.out_max:,.0f}", help="signed value %.1f" % spike.out_value)
c3.metric("Channels (in → out)", f"{spike.in_channel} → {spike.out_channel}")
c4.metric("× the median layer's max", f"{spike.out_max / max(typical, 1e-9):,.0f}")
st.caption(f"Token {spike.out_token} ({result.tokens[spike.out_token]!r}); the super weight candidate is "
           f"layers[{spike.layer}].down_proj.weight[{spike.out_channel}, {spike.in_channel}].")

ROW_PX = 20  # per layer: a 12 px tick label needs about 16 px of its own, with air
tall = 90 + ROW_PX * len(result.layers)
left, right = st.columns([2, 3])
with left:
    fig = figures.activation_heatmap(result).update_layout(height=tall)
    st.plotly_chart(fig, key="act_heatmap")
    downloads.download_figure(fig, "activation-heatmap")
with right:
    fig = figures.max_per_layer(result)  # every other layer ticked: 30 two-digit ticks crowd a 1280 px window
    fig.update_xaxes(tickvals=list(range(0, len(result.layers), 2 if len(result.layers) <= 64 else 5)))
    st.plotly_chart(fig, key="act_lines")
    downloads.download_figure(fig, "max-per-layer")
    fig, binned = figures.token_heatmap(result)
    fig.update_layout(height=tall + 80)
    st.plotly_chart(fig, key="act_tokens")
    if binned:
        st.caption(binned)
    downloads.download_figure(fig, "channel-by-token")

with st.expander("Per-layer table"):
    df = pd.DataFrame([s.to_dict() for s in result.layers])
    st.dataframe(df, hide_index=True)
    downloads.download_table(df, "layer-stats")
