"""Find super weights data-free, then check that the model depends on them (Yu et al. 2024, Sec. 3.1).

The recipe, per prompt (each default and how it was chosen: docs/detection.md):
1. Scan (`sw_core.scan`): per layer, the largest |output| of the down projection. A layer *spikes*
   when that maximum stands `threshold` times above the typical layer's maximum. The typical
   maximum is the median of the lowest three quarters of the layers' maxima, so it stays an
   ordinary layer's even when half of the layers spike on one channel.
2. A spike is *followed* when it is also not small next to the strongest spike of the unedited
   model (at least `relative` of it), or, in the unedited model, when it stands far above the
   typical layer (`far` x): a second, weaker super weight in another layer is followed, while the
   ordinary weights that share a super weight's massive input column (they show once that weight
   is off, in a rescan) are not. The guard applies on every scan. Spikes in a band below the threshold (from `weak` x the
   threshold) and spikes dropped by the guard are reported as `weak_spikes`, with their ratio.
   So are *late* spikes: above the threshold in a rescan only, in a layer the rules do not follow
   there (step 5), with the iteration they appeared in; their weights are decomposed and the
   impact check (step 6) decides whether they are super weights after all (a weak super weight
   in a later layer can hide behind a strong one and only spike once the strong one is off).
3. Creation or cancellation, judged on signed values: a spike of the opposite sign to a residual
   stream value of at least a tenth of its own size works against it. Such a spike is *cancelling* only if it
   shrinks substantially (to `cancel_shrink` of its size or less) once the super weights found
   elsewhere are off; otherwise it is decomposed like any creating spike (an independent super
   weight of opposite sign in a later layer is a super weight).
4. Decompose each creating spike: y[row] = sum_j W[row, j] * x[j] at the spike token. Every weight
   whose contribution carries at least `share` of y[row] is a candidate [row, col].
5. Turn the candidates off (a hook edit: the shared weights are never written), rescan, and repeat
   on the layers that created a spike in the unedited model: a second channel hidden behind the
   first, or a partner weight, shows up then. Spikes that only appear once the model is damaged
   are consequences, not causes, and are not followed. At most `max_iterations` scans per prompt.
6. Verify (`sw_core.verify`): the candidates that feed one super activation (layer, channel) form
   a group; the group is removed, and a control of as many of the largest other weights of that
   matrix, on a short shipped text. A group the model depends on is a super weight; a group whose
   removal hurts no more than the control is an *activation source*: it creates a massive
   activation, but the model does not need it.
"""

from __future__ import annotations

import copy
import math
import statistics
from dataclasses import asdict, dataclass, field

import torch

from .builtin_prompts import PAPER_PROMPT
from .edits import Coord, off
from .errors import BadInput
from .scan import LayerStats, Scan, scan
from .setting import setting
from .verify import VERDICT_SOURCE, VERDICT_SUPER, VERDICT_UNVERIFIED, Impact, verify_groups

DEFAULT_PROMPT = PAPER_PROMPT
OPPOSED_FRACTION = 0.1  # a spike opposes a residual value of at least a tenth of its own size
TYPICAL_QUANTILE = 0.75  # typical max: the median of the lowest 75% of the layers' maxima

LATE_SMALL = "appeared after a removal; small next to the strongest"
LATE_NEW_LAYER = "appeared after a removal; its layer did not spike in the unedited model"


@dataclass(frozen=True)
class Rules:
    """The spike rules' parameters (see the module docstring)."""

    threshold: float = setting(50.0, "spike: layer max |out| >= this x the typical layer's max")
    share: float = setting(0.1, "smallest share of the spike one weight must carry")
    max_iterations: int = setting(8, "scans per prompt at most; the paper saw at most 6 super weights per model")
    relative: float = setting(0.1, "spikes under this fraction of the strongest are followed only when far above typical")
    far: float = setting(1000.0, "... far above typical: at least this x the typical layer's max")
    weak: float = setting(0.5, "spikes from this x the threshold up to it are reported as weak spikes")
    cancel_shrink: float = setting(0.9, "an opposing spike is cancelling when it shrinks to this of its size "
                                        "(or less) once the super weights are off")

    def check(self) -> "Rules":
        if not 0 <= self.relative <= 1:
            raise BadInput(f"relative {self.relative} must be in [0, 1]: the smallest spike followed, as a fraction of the largest; try {Rules.relative:g}.")
        if not self.threshold > 1:
            raise BadInput(f"threshold {self.threshold} must be above 1 (a spike stands above the typical layer); try {Rules.threshold:g}.")
        if not 0 < self.share <= 1:
            raise BadInput(f"share {self.share} must be in (0, 1]: the fraction of the spike one weight carries; try {Rules.share:g}.")
        if not isinstance(self.max_iterations, int) or self.max_iterations < 1:
            raise BadInput(f"max_iterations {self.max_iterations} must be a whole number, at least 1.")
        if not self.far >= self.threshold:
            raise BadInput(f"far {self.far} must be at least the threshold ({self.threshold:g}); try {Rules.far:g}.")
        if not 0 < self.weak <= 1:
            raise BadInput(f"weak {self.weak} must be in (0, 1]: the weak-spike band starts at weak x threshold; try {Rules.weak:g}.")
        if not 0 < self.cancel_shrink < 1:
            raise BadInput(f"cancel_shrink {self.cancel_shrink} must be in (0, 1); try {Rules.cancel_shrink:g}.")
        return self

    def followed(self, stats: LayerStats, ratio: float, strongest: float, unedited: bool = True) -> bool:
        """A spike worth decomposing. The `far` exception holds in the unedited model only: in a
        rescan, the ordinary weights of a removed super weight's input column multiply the same
        massive input and can stand far above typical, yet they are tiny next to the strongest."""
        if ratio < self.threshold:
            return False
        return stats.out_max >= self.relative * strongest or (unedited and ratio >= self.far)


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
    spike_ratio: float = 0.0  # the layer's max |out| over the typical layer's max
    iteration: int = 0  # 0: found in the unedited model; k: after turning off what was found before
    verdict: str = VERDICT_UNVERIFIED  # "super weight" | "activation source" | "unverified"
    impact: "Impact | None" = None  # its group's perplexity check (sw_core.verify)
    alone: dict | None = None  # this weight removed alone: ppl_ratio, control_ratio (groups of one, or each=True)
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
    label: str  # "late cancelling" | "cancelling" | "spread (no single weight)" | "opposing (not checked)"
    resid_before: float | None = None
    resid_after: float | None = None
    ratio_without_super_weights: float | None = None  # the same layer's ratio with them turned off
    prompts: list[str] = field(default_factory=list)
    shrink: float | None = None  # its max |out| with the super weights off / without them off


@dataclass
class WeakSpike:
    """A spike that was left out, and why: a reader sees how close it came."""

    layer: int
    channel: int
    token: int
    value: float
    ratio: float
    reason: str  # "below threshold" | "small next to the strongest" | LATE_SMALL | LATE_NEW_LAYER
    prompts: list[str] = field(default_factory=list)
    iteration: int = 0  # 0: the unedited model; k: appeared in rescan k, with the weights found before it off
    candidates: list[SuperWeight] = field(default_factory=list)  # late spikes: the weights carrying it
    verdict: str | None = None  # late spikes: the impact check's verdict on its weights (None: not checked)


@dataclass
class Detection:
    model: str
    super_weights: list[SuperWeight]  # verified ones (all candidates when verified is False)
    late_spikes: list[LateSpike]
    max_spike_ratio: float  # the evidence when nothing is found
    threshold: float
    iterations: int  # the most scans one prompt needed
    prompts: list[str]
    share: float = Rules.share
    relative: float = Rules.relative
    activation_sources: list[SuperWeight] = field(default_factory=list)  # candidates the model does not need
    weak_spikes: list[WeakSpike] = field(default_factory=list)
    verified: bool = False  # False: the impact check was skipped (verify=False)
    far: float = Rules.far

    @property
    def found(self) -> bool:
        return bool(self.super_weights)

    def coords(self) -> list[Coord]:
        return [w.coord for w in self.super_weights]

    def candidates(self) -> list[SuperWeight]:
        """Every weight the spike rules found, verified or not."""
        return sorted(self.super_weights + self.activation_sources, key=lambda w: (w.layer, w.iteration, -w.share))

    def super_activations(self) -> list[SuperActivation]:
        seen, out = set(), []
        for w in self.super_weights:
            key = (w.activation.layer, w.activation.channel, w.activation.token)
            if key not in seen:
                seen.add(key)
                out.append(w.activation)
        return out

    def to_dict(self) -> dict:
        d = asdict(self)
        d["found"] = self.found
        return d


def typical_max(maxima: list[float]) -> float:
    """The median of the lowest TYPICAL_QUANTILE of the layers' maxima: an ordinary layer's max as
    long as at most half of the layers spike (they fill at most a third of that lower part)."""
    lowest = sorted(maxima)[: max(1, math.ceil(TYPICAL_QUANTILE * len(maxima)))]
    return statistics.median(lowest)


def spike_ratios(s: Scan) -> list[float]:
    """Each layer's max |out| over the typical layer's max."""
    typ = typical_max(s.out_maxima())
    return [m / typ if typ > 0 else float("inf") for m in s.out_maxima()]


def opposes(stats: LayerStats) -> bool:
    """The spike works against the residual stream it is added to, judged on signed values: the
    opposite sign to a residual value of at least OPPOSED_FRACTION of its own size (a residual
    of +100 hit by -300 is opposed, though |residual| grows; one of -2 hit by +23,000 is not)."""
    rb = stats.resid_before
    return rb is not None and stats.out_value * rb < 0 and abs(rb) >= OPPOSED_FRACTION * abs(stats.out_value)


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
    weak: list[WeakSpike]
    max_ratio: float
    scans: int


def detect_in_prompt(loaded, prompt: str, *, threshold=Rules.threshold, share=Rules.share,
                     max_iterations=Rules.max_iterations, relative=Rules.relative, far=Rules.far,
                     weak=Rules.weak, cancel_shrink=Rules.cancel_shrink,
                     add_bos: bool | None = None) -> _PromptResult:
    """The spike rules on one prompt (steps 1-5 of the module docstring); nothing is verified here."""
    rules = Rules(threshold, share, max_iterations, relative, far, weak, cancel_shrink).check()
    return _Search(loaded, prompt, rules, add_bos).run()


class _Search:
    """Steps 1-5 on one prompt: the state shared by the iterations."""

    def __init__(self, loaded, prompt, rules: Rules, add_bos):
        self.loaded, self.prompt, self.rules, self.add_bos = loaded, prompt, rules, add_bos
        self.first = scan(loaded, prompt, add_bos=add_bos, keep_rows=True)
        self.ratios = spike_ratios(self.first)
        self.strongest = max(self.first.out_maxima())
        self.weights: list[SuperWeight] = []
        self.found: set[Coord] = set()
        self.spread: dict[int, tuple[LayerStats, float]] = {}
        self.late: list[LateSpike] = []
        self.late_weak: list[WeakSpike] = []
        self.scans = 1

    def run(self) -> _PromptResult:
        r = self.rules
        spikes = [s for s, q in zip(self.first.layers, self.ratios) if r.followed(s, q, self.strongest)]
        opposing = sorted(s.layer for s in spikes if opposes(s))
        creating = sorted(s.layer for s in spikes if not opposes(s))
        new = self._decompose(creating, self.first, self.ratios, 0)
        if not new and opposing:  # nothing to turn off: they cannot be reactions to a super weight
            creating, new = sorted(creating + opposing), self._decompose(opposing, self.first, self.ratios, 0)
            opposing = []
        current, ratios = self.first, self.ratios
        accounted = {s.layer for s in spikes}  # reported in super_weights or late_spikes already
        for it in range(1, r.max_iterations + 1):
            self._keep(new)
            if not new or self.scans == r.max_iterations:  # the bound: no rescan whose result is unused
                break
            current = scan(self.loaded, self.prompt, add_bos=self.add_bos, edit=off(*sorted(self.found, key=_key)),
                           keep_rows=True)
            ratios, self.scans = spike_ratios(current), self.scans + 1
            independent = self._judge(opposing, current, ratios)
            opposing = []
            followed = [l for l in creating if r.followed(current.layers[l], ratios[l], self.strongest, unedited=False)]
            new = self._decompose(followed, current, ratios, it)
            new += self._decompose(independent, self.first, self.ratios, it)  # as in the unedited model
            self._late_weak(current, ratios, it, accounted | set(followed))
            creating = sorted(set(creating) | set(independent))
        for layer in opposing:  # one scan only: nothing could be checked
            self.late.append(self._late(layer, "opposing (not checked)", None, None))
        for layer, (s, q) in self.spread.items():
            self.late.append(self._late(layer, "spread (no single weight)", ratios[layer] if current is not self.first else None, None))
        return _PromptResult(self.weights, sorted(self.late, key=lambda s: s.layer), self._weak() + self.late_weak,
                             max(self.ratios), self.scans)

    def _decompose(self, layers, current: Scan, ratios, it: int) -> list[SuperWeight]:
        new = []
        for layer in layers:
            s = current.layers[layer]
            parts = [(col, v, sh) for col, v, sh in decompose(self.loaded, s, self.found) if sh >= self.rules.share]
            if not parts and it == 0:
                self.spread[layer] = (s, ratios[layer])
            act = SuperActivation(layer, s.out_channel, s.out_token, s.out_value)
            for col, v, sh in parts:
                c = Coord(layer, s.out_channel, col, s.expert)
                if c not in self.found and all(w.coord != c for w in new):
                    new.append(SuperWeight(layer, c.row, c.col, v, sh, act, [self.prompt], ratios[layer], it,
                                           expert=s.expert))
        return new

    def _late_weak(self, current: Scan, ratios, it: int, followed: set[int]) -> None:
        """Spikes of rescan `it` that step 5 does not follow (the first rescan that shows each
        layer's), decomposed like any spike so the impact check can judge their weights."""
        seen = {s.layer for s in self.late_weak}
        for s, q in zip(current.layers, ratios):
            if q < self.rules.threshold or s.layer in followed or s.layer in seen:
                continue
            small = s.out_max < self.rules.relative * self.strongest
            act = SuperActivation(s.layer, s.out_channel, s.out_token, s.out_value)
            parts = [(col, v, sh) for col, v, sh in decompose(self.loaded, s, self.found) if sh >= self.rules.share]
            weights = [SuperWeight(s.layer, s.out_channel, col, v, sh, act, [self.prompt], q, it, expert=s.expert)
                       for col, v, sh in parts]
            self.late_weak.append(WeakSpike(s.layer, s.out_channel, s.out_token, s.out_value, q,
                                            LATE_SMALL if small else LATE_NEW_LAYER, [self.prompt], it, weights))

    def _keep(self, new) -> None:
        self.weights.extend(new)
        self.found.update(w.coord for w in new)

    def _judge(self, opposing, current: Scan, ratios) -> list[int]:
        """Opposing spikes: cancelling if they shrink with the super weights off, else independent."""
        independent = []
        for layer in opposing:
            shrink = current.layers[layer].out_max / self.first.layers[layer].out_max
            if shrink <= self.rules.cancel_shrink:
                s = self.first.layers[layer]
                earlier = any(w.activation.channel == s.out_channel and w.layer < layer for w in self.weights)
                self.late.append(self._late(layer, "late cancelling" if earlier else "cancelling", ratios[layer], shrink))
            else:
                independent.append(layer)
        return independent

    def _late(self, layer, label, ratio_off, shrink) -> LateSpike:
        s = self.first.layers[layer]
        return LateSpike(s.layer, s.out_channel, s.out_token, s.out_value, self.ratios[layer], label,
                         s.resid_before, s.resid_after, ratio_off, [self.prompt], shrink)

    def _weak(self) -> list[WeakSpike]:
        r, out = self.rules, []
        for s, q in zip(self.first.layers, self.ratios):
            if r.weak * r.threshold <= q < r.threshold:
                reason = "below threshold"
            elif q >= r.threshold and not r.followed(s, q, self.strongest):
                reason = "small next to the strongest"
            else:
                continue
            out.append(WeakSpike(s.layer, s.out_channel, s.out_token, s.out_value, q, reason, [self.prompt]))
        return out


def _key(c: Coord):
    return (c.layer, c.row, c.col)


def find_super_weights(loaded, prompts: str | list[str] | None = None, *, threshold: float = Rules.threshold,
                       share: float = Rules.share, max_iterations: int = Rules.max_iterations,
                       relative: float = Rules.relative, far: float = Rules.far, weak: float = Rules.weak,
                       cancel_shrink: float = Rules.cancel_shrink, add_bos: bool | None = None,
                       verify: bool = True, verify_text: str | None = None, verify_tokens: int | None = None,
                       min_impact: float | None = None, each: bool = False, progress=None,
                       verify_progress=None) -> Detection:
    """Super weights of `loaded` found from `prompts` (default: the paper's prompt), verified.

    Each prompt is analysed on its own; a coordinate found by several prompts is reported once,
    with every prompt that found it. progress(done, total) is called after each prompt, and
    verify_progress(done, total) after each perplexity pass of the verification.
    verify=False skips step 6: every candidate is then in `super_weights`, marked "unverified".
    verify_text / verify_tokens / min_impact / each: see `sw_core.verify.verify_groups`.
    """
    rules = Rules(threshold, share, max_iterations, relative, far, weak, cancel_shrink).check()
    prompts = _normalise_prompts(prompts)
    by_coord: dict[Coord, SuperWeight] = {}
    late: dict[tuple[int, int, int], LateSpike] = {}
    weak_spikes: dict[tuple[int, int, int, bool], WeakSpike] = {}
    max_ratio, iterations = 0.0, 0
    for i, p in enumerate(prompts):
        r = _Search(loaded, p, rules, add_bos).run()
        max_ratio, iterations = max(max_ratio, r.max_ratio), max(iterations, r.scans)
        _merge(by_coord, ((w.coord, w) for w in r.weights), p)
        _merge(late, (((s.layer, s.channel, s.token), s) for s in r.late), p)
        _merge(weak_spikes, (((s.layer, s.channel, s.token, s.iteration > 0), s) for s in r.weak), p)
        if progress is not None:
            progress(i + 1, len(prompts))
    candidates = sorted(by_coord.values(), key=lambda w: (w.layer, w.iteration, -w.share))
    sources: list[SuperWeight] = []
    if verify and candidates:
        verify_groups(loaded, candidates, text=verify_text, tokens=verify_tokens, min_impact=min_impact, each=each,
                      progress=verify_progress)
        sources = [w for w in candidates if w.verdict == VERDICT_SOURCE]
        candidates = [w for w in candidates if w.verdict == VERDICT_SUPER]
    if verify:
        candidates += _verify_late(loaded, list(weak_spikes.values()), by_coord.values(), verify_text, verify_tokens,
                                   min_impact, each)
        candidates.sort(key=lambda w: (w.layer, w.iteration, -w.share))
    return Detection(
        model=loaded.name,
        super_weights=candidates,
        late_spikes=sorted(late.values(), key=lambda s: (s.layer, s.channel)),
        max_spike_ratio=max_ratio,
        threshold=rules.threshold,
        iterations=iterations,
        prompts=prompts,
        share=rules.share,
        relative=rules.relative,
        activation_sources=sources,
        weak_spikes=sorted(weak_spikes.values(), key=lambda s: (s.layer, s.channel)),
        verified=verify,
        far=rules.far,
    )


def _verify_late(loaded, weak: list[WeakSpike], found, text, tokens, min_impact, each) -> list[SuperWeight]:
    """The impact check on the late spikes' weights, apart from the groups the rules followed (whose
    verdicts and numbers stay as measured). Returns the weights it finds the model depends on."""
    known, late = {f.coord for f in found}, {}
    for s in weak:
        for w in s.candidates:
            if w.coord not in known:
                late.setdefault(w.coord, w)
    late = list(late.values())
    if not late:
        return []
    layers = {w.layer for w in late}
    # copies of the followed candidates of the same matrices keep them out of the late groups' controls
    shadows = [copy.copy(w) for w in found if w.layer in layers]
    verify_groups(loaded, late + shadows, text=text, tokens=tokens, min_impact=min_impact, each=each)
    verdicts = {w.coord: w for w in late}
    for s in weak:
        s.candidates = [verdicts.get(w.coord, w) for w in s.candidates]
        checked = [w for w in s.candidates if w.impact is not None]
        if checked:
            s.verdict = VERDICT_SUPER if any(w.verdict == VERDICT_SUPER for w in checked) else VERDICT_SOURCE
    return [w for w in late if w.verdict == VERDICT_SUPER]


def _merge(into: dict, items, prompt: str) -> None:
    """Keep the first record per key; later prompts that find it are added to its prompts."""
    for key, item in items:
        if key in into:
            into[key].prompts.append(prompt)
        else:
            into[key] = item
