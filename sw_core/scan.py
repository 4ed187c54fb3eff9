"""One forward pass, hooks on every down projection: per-layer maxima, never whole activations.

For each layer the scan keeps the largest |input| of the down projection (with its token and input
channel), the largest |output| (token, output channel and the signed value there) and the typical
|output| (median over an even sample of tokens x channels). Memory is O(layers), plus O(layers x tokens) for the two
optional traces, so a scan of a 70B model costs no more than its forward pass.

It also keeps, for the layer's output spike, the residual stream at that token and channel just
before and just after the decoder layer: a layer that *creates* a massive activation grows
|residual[channel]|, a layer that *cancels* one shrinks it (`sw_core.detect` uses this).

Concurrency: the loaded model is shared. The scan's hooks are registered once per model (when it is
loaded) and fire for every forward pass, so each hook checks a `ContextVar` and records only into
the scan that started the pass; other threads' passes cost one lookup and are ignored. Nothing is
registered or removed per scan: torch's hook registration is not safe against a forward running in
another thread. The active scan is reset in `finally`, also when the forward raises.
"""

from __future__ import annotations

import contextvars
from dataclasses import asdict, dataclass, field

import torch

from .arch import spec_for
from .edits import applied

_SCANNING: contextvars.ContextVar["_Recorder | None"] = contextvars.ContextVar("sw_scan", default=None)
_HOOKED_ATTR = "_sw_scan_hooks"
_MEDIAN_SAMPLE = 8192  # the typical |output| is the median of an even sample of this many entries


@dataclass
class LayerStats:
    """Maxima of one layer's down projection over one prompt. Channels index [out, in] of W."""

    layer: int
    in_max: float  # max |x| over tokens x input channels
    in_token: int
    in_channel: int
    out_max: float  # max |y| over tokens x output channels
    out_token: int
    out_channel: int
    out_value: float  # signed y at (out_token, out_channel)
    out_median: float  # median |y| over tokens x output channels (even sample of <= 2 x 8192)
    resid_before: float | None = None  # residual stream at (out_token, out_channel) entering the layer
    resid_after: float | None = None  # ... and leaving it
    # x at out_token (all input channels, float32 CPU), only with scan(..., keep_rows=True):
    # what `detect` decomposes y[out_channel] = sum_j W[out_channel, j] * x[j] with.
    in_row: torch.Tensor | None = field(default=None, repr=False, compare=False)

    @property
    def grows_residual(self) -> bool | None:
        """True when the layer makes |residual[out_channel]| larger at out_token (creates)."""
        if self.resid_before is None or self.resid_after is None:
            return None
        return abs(self.resid_after) > abs(self.resid_before)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("in_row")
        return d


@dataclass
class Scan:
    prompt: str
    tokens: list[str]
    layers: list[LayerStats]
    token_out_max: list[list[float]]  # [layer][token]: max |y| over output channels (heatmap)
    channel_trace: list[list[float]] | None = None  # [layer][token]: |y[track_channel]|
    track_channel: int | None = None

    def out_maxima(self) -> list[float]:
        return [s.out_max for s in self.layers]

    def to_dict(self) -> dict:
        return {
            "prompt": self.prompt,
            "tokens": self.tokens,
            "layers": [s.to_dict() for s in self.layers],
            "token_out_max": self.token_out_max,
            "channel_trace": self.channel_trace,
            "track_channel": self.track_channel,
        }


def _first_tensor(obj):
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, (tuple, list)) and obj and isinstance(obj[0], torch.Tensor):
        return obj[0]
    if hasattr(obj, "last_hidden_state"):
        return obj.last_hidden_state
    return None


def _flat(t: torch.Tensor) -> torch.Tensor:
    """[..., T, C] -> [T, C] float32 of the first sequence (scans run one prompt at a time)."""
    t = t.detach().float()
    return t.reshape(-1, t.shape[-2], t.shape[-1])[0] if t.dim() >= 2 else t.reshape(1, -1)


def decoder_layers(loaded) -> list[torch.nn.Module]:
    """The decoder layer modules holding each down projection (for residual-stream readings)."""
    suffix = "." + spec_for(loaded.model_type).down_proj
    return [loaded.model.get_submodule(p.name[: -len(suffix)]) for p in loaded.layers]


def token_strings(loaded, ids: list[int]) -> list[str]:
    tok = loaded.tokenizer
    try:
        return [tok.decode([i]) for i in ids]
    except Exception:  # a tokenizer without decode: ids are still a readable label
        return [str(i) for i in ids]


class _Recorder:
    """What one scan collects; the permanent hooks write here while it is the active scan."""

    def __init__(self, track_channel: int | None, keep_rows: bool):
        self.track_channel = track_channel
        self.keep_rows = keep_rows
        self.raw: dict[int, dict] = {}
        self.pending: dict[int, torch.Tensor] = {}

    def on_proj(self, i: int, inputs, output) -> None:
        x = _flat(inputs[0])  # [T, in]
        y = _flat(_first_tensor(output))  # [T, out]
        # Per-token max |.| from max and min: no |x| copy of the whole activation (speed).
        x_tok = torch.maximum(x.amax(dim=1), x.amin(dim=1).neg())  # [T]
        y_tok = torch.maximum(y.amax(dim=1), y.amin(dim=1).neg())  # [T]
        t_in, t_out = int(x_tok.argmax()), int(y_tok.argmax())
        c_in, c_out = int(x[t_in].abs().argmax()), int(y[t_out].abs().argmax())
        flat = y.reshape(-1)
        sample = flat[:: max(1, flat.numel() // _MEDIAN_SAMPLE)]  # evenly strided entries
        r = {
            "in_max": x_tok[t_in], "in_pos": (t_in, c_in),
            "out_value": y[t_out, c_out], "out_pos": (t_out, c_out),
            "out_median": sample.abs().median(),
            "token_out_max": y_tok,
        }
        if self.track_channel is not None:
            r["trace"] = y[:, self.track_channel].abs()
        if self.keep_rows:
            r["in_row"] = x[t_out].cpu().clone()
        self.raw[i] = r

    def on_layer_start(self, i: int, args, kwargs) -> None:
        # Keep a reference only while this layer runs: the reading happens in on_layer_end.
        self.pending[i] = args[0] if args else kwargs.get("hidden_states")

    def on_layer_end(self, i: int, args, kwargs, output) -> None:
        before = self.pending.pop(i, None)
        after = _first_tensor(output)
        r = self.raw.get(i)
        if r is None or before is None or after is None:
            return
        t, c = r["out_pos"]
        r["resid_before"] = _flat(before[..., t : t + 1, c : c + 1])[0, 0]
        r["resid_after"] = _flat(after[..., t : t + 1, c : c + 1])[0, 0]


def install_scan_hooks(loaded) -> None:
    """Register the scan's hooks once per model (idempotent): they record only while a scan runs.

    Registered once, never per scan: adding or removing hooks on a module while another thread
    runs a forward through it races inside torch (a kwargs hook can be called without its kwargs).
    """
    with loaded.lock:
        if getattr(loaded.model, _HOOKED_ATTR, None):
            return
        handles = []
        for i, p in enumerate(loaded.layers):
            handles.append(p.module.register_forward_hook(_recording(i, "on_proj")))
        for i, m in enumerate(decoder_layers(loaded)):
            handles.append(m.register_forward_pre_hook(_recording(i, "on_layer_start"), with_kwargs=True))
            handles.append(m.register_forward_hook(_recording(i, "on_layer_end"), with_kwargs=True))
        setattr(loaded.model, _HOOKED_ATTR, handles)


def _recording(i: int, method: str):
    """A hook that hands its arguments to the active scan's `method`; a no-op when none runs."""

    def hook(module, *args):
        rec = _SCANNING.get()
        if rec is not None:
            getattr(rec, method)(i, *args)

    return hook


def scan(
    loaded,
    prompt: str,
    *,
    add_bos: bool | None = None,
    edit=None,
    track_channel: int | None = None,
    keep_rows: bool = False,
) -> Scan:
    """Run `prompt` through the model once (with `edit` applied, if any) and return per-layer maxima.

    edit=None leaves any edit the caller already applied in effect. keep_rows=True also keeps the
    down projection's input row at each layer's output-spike token (for decomposing the spike).
    """
    ids = loaded.encode(prompt, add_bos=add_bos)
    if track_channel is not None:
        out_f = loaded.layers[0].out_features
        if not 0 <= track_channel < out_f:
            from .errors import BadInput

            raise BadInput(f"Channel {track_channel} is out of range: output channels are 0..{out_f - 1}.")
    # Recorded by the hooks registered when the model was loaded (`Loaded.__post_init__`).
    rec = _Recorder(track_channel, keep_rows)
    token = _SCANNING.set(rec)
    try:
        with torch.no_grad():
            if edit is None:
                loaded.model(input_ids=ids, use_cache=False)
            else:
                with applied(loaded, edit):
                    loaded.model(input_ids=ids, use_cache=False)
    finally:
        _SCANNING.reset(token)
        rec.pending.clear()
    raw = [rec.raw.get(i) for i in range(loaded.num_layers)]
    return _to_scan(loaded, prompt, ids[0].tolist(), raw, track_channel)


def _to_scan(loaded, prompt, ids, raw, track_channel) -> Scan:
    layers, heat, trace = [], [], []
    for i, r in enumerate(raw):
        if r is None:
            raise RuntimeError(f"Layer {i}'s down projection did not run during the forward pass.")
        before, after = r.get("resid_before"), r.get("resid_after")
        layers.append(LayerStats(
            layer=i,
            in_max=float(r["in_max"]), in_token=r["in_pos"][0], in_channel=r["in_pos"][1],
            out_max=abs(float(r["out_value"])), out_token=r["out_pos"][0], out_channel=r["out_pos"][1],
            out_value=float(r["out_value"]), out_median=float(r["out_median"]),
            resid_before=None if before is None else float(before),
            resid_after=None if after is None else float(after),
            in_row=r.get("in_row"),
        ))
        heat.append(r["token_out_max"].cpu().tolist())
        if track_channel is not None:
            trace.append(r["trace"].cpu().tolist())
    return Scan(
        prompt=prompt,
        tokens=token_strings(loaded, ids),
        layers=layers,
        token_out_max=heat,
        channel_trace=trace if track_channel is not None else None,
        track_channel=track_channel,
    )
