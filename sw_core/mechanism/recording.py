"""One forward pass that keeps only what the mechanism view shows.

Per layer: the residual stream on one channel at every token ([T]), the attention mass every head
puts on one token ([heads]), and, when a token is named, the residual stream before and after the
layer and the down projection's output at that token ([hidden] each). Memory is O(layers x
(T + heads + hidden)), never the whole activations.

Attention weights: the shared model runs with its fast attention (SDPA), which returns no weights,
and switching the model to eager attention is global (other threads would see it). So each layer's
attention probabilities are recomputed here, from the layer's input, by calling the layer's own
attention module through a shallow copy whose private config copy says "eager": same weights,
same rotary embedding and GQA code as the model, nothing shared is changed, no hook is added.
The causal mask is built here (the SDPA pass may have none: it relies on is_causal).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch

from ..forward import forward
from ..moe import as_sequences
from .layout import attention_module
from .tap import Tap, first_tensor, layer_input


@dataclass
class PassRecord:
    channel: int
    token: int | None = None  # the token whose [hidden] vectors are kept
    resid: list[torch.Tensor] = field(default_factory=list)  # [layer] -> [T] residual after the layer on `channel`
    sink: list[torch.Tensor] = field(default_factory=list)  # [layer] -> [heads] mean attention on the sink token
    h_in: dict[int, torch.Tensor] = field(default_factory=dict)  # layer -> [hidden] at `token` (float32)
    h_out: dict[int, torch.Tensor] = field(default_factory=dict)
    y: dict[int, torch.Tensor] = field(default_factory=dict)  # layer -> down projection output at `token`
    x: dict[int, torch.Tensor] = field(default_factory=dict)  # layer -> down projection input at `token`
    trace: torch.Tensor | None = None  # y[:, row] of (trace layer, row) at every token


class _MechanismTap(Tap):
    def __init__(self, loaded, channel: int, sink_token: int | None, token: int | None, trace: tuple[int, int] | None):
        self.loaded, self.token, self.sink_token, self.trace_at = loaded, token, sink_token, trace
        self.rec = PassRecord(channel, token)
        n = loaded.num_layers
        self.rec.resid, self.rec.sink = [None] * n, [None] * n

    def on_block_start(self, i, args, kwargs):
        h = layer_input(args, kwargs)
        if self.token is not None:
            self.rec.h_in[i] = h[0, self.token].float().cpu()
        if self.sink_token is not None:
            self.rec.sink[i] = _sink_mass(self.loaded, i, h, kwargs, self.sink_token)

    def on_down_proj(self, i, x, y):
        y, x = _tokens_first(y), _tokens_first(x)
        if self.token is not None:
            self.rec.x[i] = x[self.token].float().cpu()
        self._output(i, y)

    def on_experts(self, i, module, args, y):
        """The MLP output is the routed experts' sum: kept as for a dense layer. The input has no
        single down projection (one per expert): `x` holds no entry for this layer."""
        self._output(i, as_sequences(y)[0])

    def _output(self, i, y):
        if self.token is not None:
            self.rec.y[i] = y[self.token].float().cpu()
        if self.trace_at is not None and self.trace_at[0] == i:
            self.rec.trace = y[:, self.trace_at[1]].float().cpu()

    def on_block_end(self, i, args, kwargs, output):
        h = first_tensor(output)
        self.rec.resid[i] = h[0, :, self.rec.channel].float().cpu()
        if self.token is not None:
            self.rec.h_out[i] = h[0, self.token].float().cpu()


def _tokens_first(t: torch.Tensor) -> torch.Tensor:
    """[1, T, C] (or OPT's flattened [T, C]) -> [T, C]: this pass runs one sequence."""
    return t.reshape(-1, t.shape[-1])


def record_pass(loaded, ids: torch.Tensor, edit, *, channel: int, sink_token: int | None = None,
                token: int | None = None, trace: tuple[int, int] | None = None) -> PassRecord:
    """Run ids [1, T] once under `edit` (None: the unedited model) and keep the readings."""
    tap = _MechanismTap(loaded, channel, sink_token, token, trace)
    forward(loaded, ids, edit=edit, record=tap, head=False)  # the readings need no logits
    return tap.rec


def _eager_view(attn: torch.nn.Module) -> torch.nn.Module:
    """A shallow copy of `attn` (same parameters) whose own config copy selects eager attention."""
    cfg = copy.copy(attn.config)
    cfg.__dict__["_attn_implementation_internal"] = "eager"  # not the setter: it walks shared sub-configs
    view = copy.copy(attn)
    object.__setattr__(view, "config", cfg)
    return view


def causal_mask(t: int, dtype, device, window: int | None = None) -> torch.Tensor:
    """Additive mask [1, 1, T, T]: 0 where query q may see key k (k <= q, within `window`), else -inf."""
    q = torch.arange(t, device=device)[:, None]
    k = torch.arange(t, device=device)[None, :]
    allowed = k <= q
    if window:
        allowed &= (q - k) < window
    mask = torch.zeros(t, t, dtype=dtype, device=device)
    return mask.masked_fill(~allowed, torch.finfo(dtype).min)[None, None]


def attention_probs(loaded, i: int, h: torch.Tensor, kwargs) -> torch.Tensor:
    """Layer i's attention probabilities [heads, T, T] for residual input h [1, T, hidden]."""
    attn, norm = attention_module(loaded, i)
    normed = norm(h)
    window = getattr(attn, "sliding_window", None)
    mask = causal_mask(h.shape[-2], normed.dtype, normed.device, window if isinstance(window, int) else None)
    extra = {k: kwargs[k] for k in ("position_embeddings", "position_ids") if kwargs.get(k) is not None}
    out = _eager_view(attn)(hidden_states=normed, attention_mask=mask, **extra)
    return out[1][0].float()


def _sink_mass(loaded, i, h, kwargs, sink: int) -> torch.Tensor:
    """Mean attention (per head) that the queries after `sink` put on it; [heads] on the CPU."""
    probs = attention_probs(loaded, i, h, kwargs)  # [heads, T, T]
    queries = probs[:, sink + 1:, sink] if probs.shape[1] > sink + 1 else probs[:, sink:, sink]
    return queries.mean(dim=1).cpu()
