"""Where the super activation is: the max |down_proj| activation per layer (the paper's Fig. 2/3
style) and the token heatmap of the super activation's channel."""

from __future__ import annotations

from ..figures import max_per_layer, token_heatmap
from ..scan import scan


def build(ctx, s) -> None:
    acts = ctx.detection.super_activations() if ctx.detection is not None else []
    channel = max(acts, key=lambda a: abs(a.value)).channel if acts else None
    sc = scan(ctx.loaded, ctx.settings.prompt, track_channel=channel)
    s.data.update({
        "prompt": sc.prompt, "tokens": sc.tokens, "channel": channel,
        "layers": [{"layer": x.layer, "in_max": x.in_max, "out_max": x.out_max, "out_channel": x.out_channel,
                    "out_token": x.out_token, "in_channel": x.in_channel} for x in sc.layers],
        "token_trace": sc.channel_trace if sc.channel_trace is not None else sc.token_out_max,
    })
    s.notes.append(f"On the prompt {sc.prompt!r}: " + (
        f"the heatmap follows channel {channel}, the strongest super activation's." if channel is not None else
        "no super activation was found, so the heatmap shows each token's largest output channel."))
    s.figures += [max_per_layer(sc), token_heatmap(sc)]
