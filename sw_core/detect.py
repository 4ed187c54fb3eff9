"""Find super weights data-free, from forward passes only (Yu et al. 2024, Sec. 3.1).

The recipe, per prompt:
1. Scan (`sw_core.scan`): per layer, the largest |output| of the down projection. A layer *spikes*
   when that maximum stands `threshold` times above the median of the per-layer maxima (a robust
   rule: no fixed magnitude, no layer range, it scales with the model). Spikes below `relative`
   of the largest one are minor (a one-token prompt has a low median, so precursors on the way
   to the super activation would pass the ratio alone) and are not followed.
2. Tell creation from cancellation by the residual stream at the spike's token and channel: a
   layer that creates a super activation makes |residual[channel]| grow; the late layers that
   cancel it (opposite sign on the same channel) make it shrink. Cancelling spikes are reported
   as `late_spikes`, never as super weights.
3. Decompose each creating spike: y[row] = sum_j W[row, j] * x[j] at the spike token. Every weight
   whose contribution carries at least `share` of y[row] is a super weight [row, col].
4. Turn those weights off (a hook edit: the shared weights are never written), rescan, and repeat
   on the layers that created a spike in the unedited model: a second channel hidden behind the
   first, or a partner weight, shows up then. Spikes that only appear once the model is damaged
   are consequences, not causes, and are not followed. Stop when nothing new is found or after
   `max_iterations`.

A model without a spike gets an empty list and its largest spike ratio as evidence.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field

import torch

from .edits import ActivationPin, Coord, off
from .errors import BadInput
from .scan import LayerStats, Scan, scan

DEFAULT_PROMPT = "Apple Inc. is a worldwide tech company."  # the paper's detection prompt
DEFAULT_THRESHOLD = 50.0  # spike: layer max |out| >= 50 x the median over layers
DEFAULT_SHARE = 0.1  # a super weight carries >= 10% of the spike
DEFAULT_MAX_ITERATIONS = 8  # the paper saw at most 6 super weights per model
DEFAULT_RELATIVE = 0.05  # spikes under 5% of the largest are minor


@dataclass
class SuperActivation:
    layer: int
    channel: int  # output channel of the down projection = residual stream channel
    token: int  # token position of the spike
    value: float  # signed


@dataclass
class SuperWeight:
    layer: int
    row: int
    col: int
    value: float  # the weight itself
    share: float  # its contribution W[row, col] * x[col] over y[row] at the spike
    activation: SuperActivation
    prompts: list[str] = field(default_factory=list)  # the prompts that found it
    spike_ratio: float = 0.0  # the layer's max |out| over the median of the layers' maxima
    iteration: int = 0  # 0: found in the unedited model; k: after turning off what was found before
    expert: int | None = None  # Mixture-of-Experts: the expert whose down projection holds it

    @property
    def coord(self) -> Coord:
        return Coord(self.layer, self.row, self.col, self.expert)


@dataclass
class LateSpike:
    """A spike that is not caused by a super weight of its own layer."""

    layer: int
    channel: int
    token: int
    value: float
    ratio: float
    label: str  # "late cancelling" | "cancelling" | "spread (no single weight)"
    resid_before: float | None = None
    resid_after: float | None = None
    ratio_without_super_weights: float | None = None  # the same layer's ratio with them turned off
    prompts: list[str] = field(default_factory=list)


@dataclass
class Detection:
    model: str
    super_weights: list[SuperWeight]
    late_spikes: list[LateSpike]
    max_spike_ratio: float  # the evidence when nothing is found
    threshold: float
    iterations: int  # the most scans one prompt needed
    prompts: list[str]
    share: float = DEFAULT_SHARE
    relative: float = DEFAULT_RELATIVE

    @property
    def found(self) -> bool:
        return bool(self.super_weights)

    def coords(self) -> list[Coord]:
        return [w.coord for w in self.super_weights]

    def super_activations(self) -> list[SuperActivation]:
        seen, out = set(), []
        for w in self.super_weights:
            key = (w.activation.layer, w.activation.channel, w.activation.token)
            if key not in seen:
                seen.add(key)
                out.append(w.activation)
        return out

    def restore_pins(self) -> list[ActivationPin]:
        """One pin per super activation, keeping its original value (the paper's "+SA")."""
        return [ActivationPin(a.layer, a.channel, a.token, None) for a in self.super_activations()]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["found"] = self.found
        return d


def spike_ratios(s: Scan) -> list[float]:
    """Each layer's max |out| over the median of all layers' maxima."""
    med = statistics.median(s.out_maxima())
    return [m / med if med > 0 else float("inf") for m in s.out_maxima()]


def decompose(loaded, stats: LayerStats, zeroed: set[Coord] = frozenset()) -> list[tuple[int, float, float]]:
    """(col, W[row, col], share) for every input channel, largest |contribution| first.

    y[row] = sum_j W[row, j] * x[j] at the spike token, with weights in `zeroed` counted as 0
    (the scan ran with them off). share_j = W[row, j] * x[j] / sum_j W[row, j] * x[j].
    """
    if stats.in_row is None:
        raise ValueError("decompose needs a scan made with keep_rows=True")
    row, proj = stats.out_channel, loaded.layers[stats.layer]
    weight = proj.dense_weight() if stats.expert is None else proj.expert_weight(stats.expert)
    w = weight[row].detach().float().cpu().clone()
    for c in zeroed:
        if c.layer == stats.layer and c.row == row and c.expert == stats.expert:
            w[c.col] = 0.0
    contrib = w * stats.in_row
    total = float(contrib.sum())
    if total == 0.0:
        return []
    order = torch.argsort(contrib.abs(), descending=True)
    return [(int(j), float(w[j]), float(contrib[j]) / total) for j in order]


def _check_args(threshold, share, max_iterations, relative=DEFAULT_RELATIVE):
    if not 0 <= relative <= 1:
        raise BadInput(f"relative {relative} must be in [0, 1]: the smallest spike followed, as a fraction of the largest; try {DEFAULT_RELATIVE:g}.")
    if not threshold > 1:
        raise BadInput(f"threshold {threshold} must be above 1 (a spike stands above the typical layer); try {DEFAULT_THRESHOLD:g}.")
    if not 0 < share <= 1:
        raise BadInput(f"share {share} must be in (0, 1]: the fraction of the spike one weight carries; try {DEFAULT_SHARE:g}.")
    if max_iterations < 1:
        raise BadInput(f"max_iterations {max_iterations} must be at least 1.")


def _normalise_prompts(prompts) -> list[str]:
    if prompts is None:
        return [DEFAULT_PROMPT]
    if isinstance(prompts, str):
        prompts = [prompts]
    prompts = [p for p in prompts if isinstance(p, str) and p.strip()]
    if not prompts:
        raise BadInput("No usable prompt: give at least one non-empty text, or none for the default prompt.")
    return prompts


@dataclass
class _PromptResult:
    weights: list[SuperWeight]
    late: list[LateSpike]
    max_ratio: float
    scans: int


def detect_in_prompt(loaded, prompt: str, *, threshold=DEFAULT_THRESHOLD, share=DEFAULT_SHARE,
                     max_iterations=DEFAULT_MAX_ITERATIONS, relative=DEFAULT_RELATIVE,
                     add_bos: bool | None = None) -> _PromptResult:
    """The iterative recipe on one prompt (see the module docstring)."""
    _check_args(threshold, share, max_iterations, relative)
    first = scan(loaded, prompt, add_bos=add_bos, keep_rows=True)
    ratios = spike_ratios(first)
    largest = max(first.out_maxima())
    spikes = [s for s, r in zip(first.layers, ratios) if r >= threshold and s.out_max >= relative * largest]
    creating = {s.layer for s in spikes if s.grows_residual is not False}
    weights: list[SuperWeight] = []
    found: set[Coord] = set()
    spread: dict[int, LayerStats] = {}
    current, current_ratios, scans = first, ratios, 1
    for it in range(max_iterations):
        new = []
        for layer in sorted(creating):
            s, r = current.layers[layer], current_ratios[layer]
            if r < threshold or s.grows_residual is False:
                continue
            parts = [(col, v, sh) for col, v, sh in decompose(loaded, s, found) if sh >= share]
            if not parts and it == 0:
                spread[layer] = s
            act = SuperActivation(layer, s.out_channel, s.out_token, s.out_value)
            for col, v, sh in parts:
                c = Coord(layer, s.out_channel, col, s.expert)
                if c not in found:
                    new.append(SuperWeight(layer, c.row, c.col, v, sh, act, [prompt], r, it, expert=s.expert))
        weights.extend(new)
        found.update(w.coord for w in new)
        if not new or it + 1 == max_iterations:  # the bound: no rescan whose result is unused
            break
        current = scan(loaded, prompt, add_bos=add_bos, edit=off(*sorted(found, key=_key)), keep_rows=True)
        current_ratios, scans = spike_ratios(current), scans + 1
    late = _late_spikes(first, ratios, spikes, creating, spread, weights,
                        current_ratios if current is not first else None, prompt)
    return _PromptResult(weights, late, max(ratios), scans)


def _key(c: Coord):
    return (c.layer, c.row, c.col)


def _late_spikes(first, ratios, spikes, creating, spread, weights, ratios_off, prompt) -> list[LateSpike]:
    channels = {(w.activation.channel, w.activation.token): w.layer for w in weights}
    out = []
    for s in spikes:
        if s.layer in creating and s.layer not in spread:
            continue
        if s.layer in spread:
            label = "spread (no single weight)"
        else:
            origin = channels.get((s.out_channel, s.out_token))
            opposite = s.resid_before is not None and (s.out_value > 0) != (s.resid_before > 0)
            label = "late cancelling" if origin is not None and origin < s.layer and opposite else "cancelling"
        out.append(LateSpike(
            s.layer, s.out_channel, s.out_token, s.out_value, ratios[s.layer], label,
            s.resid_before, s.resid_after,
            None if ratios_off is None else ratios_off[s.layer], [prompt],
        ))
    return out


def find_super_weights(loaded, prompts: str | list[str] | None = None, *, threshold: float = DEFAULT_THRESHOLD,
                       share: float = DEFAULT_SHARE, max_iterations: int = DEFAULT_MAX_ITERATIONS,
                       relative: float = DEFAULT_RELATIVE, add_bos: bool | None = None, progress=None) -> Detection:
    """Super weights of `loaded` found from `prompts` (default: the paper's prompt).

    Each prompt is analysed on its own; a coordinate found by several prompts is reported once,
    with every prompt that found it. progress(done, total) is called after each prompt.
    """
    _check_args(threshold, share, max_iterations, relative)
    prompts = _normalise_prompts(prompts)
    by_coord: dict[Coord, SuperWeight] = {}
    late: dict[tuple[int, int, int], LateSpike] = {}
    max_ratio, iterations = 0.0, 0
    for i, p in enumerate(prompts):
        r = detect_in_prompt(loaded, p, threshold=threshold, share=share, max_iterations=max_iterations,
                             relative=relative, add_bos=add_bos)
        max_ratio, iterations = max(max_ratio, r.max_ratio), max(iterations, r.scans)
        for w in r.weights:
            if w.coord in by_coord:
                by_coord[w.coord].prompts.append(p)
            else:
                by_coord[w.coord] = w
        for s in r.late:
            key = (s.layer, s.channel, s.token)
            if key in late:
                late[key].prompts.append(p)
            else:
                late[key] = s
        if progress is not None:
            progress(i + 1, len(prompts))
    weights = sorted(by_coord.values(), key=lambda w: (w.layer, w.iteration, -w.share))
    return Detection(
        model=loaded.name,
        super_weights=weights,
        late_spikes=sorted(late.values(), key=lambda s: (s.layer, s.channel)),
        max_spike_ratio=max_ratio,
        threshold=threshold,
        iterations=iterations,
        prompts=prompts,
        share=share,
        relative=relative,
    )
