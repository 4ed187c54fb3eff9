"""The late weak super weight: a spike that shows only once an earlier super weight is off.

A Mistral-shaped tiny model with two plants: layer 1 [17,100], a strong super weight, and layer 4
[60,250], a weak one that reads the residual stream at the super activation's token in a
direction the super activation hides (the norm of that token is all channel 17 while it is on).
At first layer 4 stands at about the typical layer; once layer 1's weight is off it stands far
above the threshold, yet below a tenth of the strongest spike, so the rescan does not follow it.
Detection must report it in `weak_spikes` (with the rescan it appeared in and why it was left
out) and let the impact check decide; that decision is checked against removing the weight on a
deep copy and an own perplexity loop. Two variants: the model does not need the weak weight while
the strong one is on (an activation source), or it does (its gate also reads the verification
text, in directions the detection prompt never takes: a super weight, found only through this path).
"""

import copy

import pytest
import torch

from sw_core.detect import LATE_SMALL, VERDICT_SOURCE, VERDICT_SUPER, Rules, find_super_weights, spike_ratios
from sw_core.edits import Coord, off
from sw_core.scan import scan
from sw_core.testing import plant_super_weight, tiny_model
from sw_core.testing import teach_head

TEXT = ("The exact date of his birth is not known. His father, John Shakespeare, was a burgess of the recently "
        "constituted corporation of Stratford, and had already filled certain minor municipal offices.")
PROMPT = "Apple Inc. is a worldwide tech company."
SHORT = "Apple Inc. is"  # fewer tokens: their inputs leave room for directions only the text takes
TOKENS = 160


def _mlp_inputs(loaded, layer: int, prompt: str) -> torch.Tensor:
    """The MLP input of `layer` (after its norm), [tokens, hidden], on `prompt`."""
    seen = {}
    mlp = loaded.model.model.layers[layer].mlp
    handle = mlp.register_forward_pre_hook(lambda m, a: seen.setdefault("x", a[0][0].detach().clone()))
    try:
        with torch.no_grad():
            loaded.model(input_ids=loaded.encode(prompt), use_cache=False)
    finally:
        handle.remove()
    return seen["x"]


@torch.no_grad()
def plant_late(loaded, first: Coord, *, prompt=PROMPT, layer=4, row=60, col=250, weight=2.0,
               of_strongest=0.04) -> Coord:
    """W[row, col] of `layer` fires only while `first` is off: the gate and up rows `col` read the
    MLP input at the super activation's token with `first` off, made orthogonal to every MLP input
    of the prompt with `first` on. `fire` is set so the spike is `of_strongest` of the strongest."""
    on, gone = _mlp_inputs_on_and_off(loaded, first, layer, prompt)
    first_scan = scan(loaded, prompt)
    token, strongest = first_scan.layers[first.layer].out_token, max(first_scan.out_maxima())
    q, _ = torch.linalg.qr(on.T)
    h = gone[token] - q @ (q.T @ gone[token])
    unit = h / h.dot(gone[token])  # reads 1 at that token with `first` off, 0 at every token with it on
    silu = torch.nn.functional.silu
    lo, hi = 0.0, 100.0  # y = weight * silu(fire) * fire = of_strongest * strongest
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if weight * float(silu(torch.tensor(mid))) * mid < of_strongest * strongest else (lo, mid)
    mlp = loaded.model.model.layers[layer].mlp
    mlp.gate_proj.weight[col] = lo * unit
    mlp.up_proj.weight[col] = lo * unit
    loaded.layers[layer].weight_view()[row, col] = weight
    return Coord(layer, row, col)


def _mlp_inputs_on_and_off(loaded, first: Coord, layer: int, prompt: str):
    """Layer `layer`'s MLP inputs on `prompt` with `first` on, and with it off (restored after)."""
    w1 = loaded.layers[first.layer].weight_view()
    keep = float(w1[first.row, first.col])
    on = _mlp_inputs(loaded, layer, prompt)
    w1[first.row, first.col] = 0.0
    gone = _mlp_inputs(loaded, layer, prompt)
    w1[first.row, first.col] = keep
    return on, gone


@torch.no_grad()
def read_the_text(loaded, first: Coord, prompt: str, *, layer=4, col=250, gain=2.0) -> None:
    """Gate and up rows `col` also read TEXT's mean MLP input, in the part of it orthogonal to every
    MLP input of `prompt` (with `first` on and off): x[col] fires on TEXT, never on `prompt`."""
    on, gone = _mlp_inputs_on_and_off(loaded, first, layer, prompt)
    mean = _mlp_inputs(loaded, layer, TEXT).mean(0)
    q, _ = torch.linalg.qr(torch.cat([on, gone]).T)
    v = mean - q @ (q.T @ mean)
    assert v.norm() > 0.1 * mean.norm()  # room left: the prompt's inputs do not span the space
    mlp = loaded.model.model.layers[layer].mlp
    for proj in (mlp.gate_proj, mlp.up_proj):
        proj.weight[col] += gain * v / v.dot(mean)


def build(seed: int, depends: bool = False):
    """(loaded, strong, weak, detection prompt); depends: the model needs the weak weight on TEXT."""
    prompt = SHORT if depends else PROMPT
    loaded = tiny_model("mistral", layers=6, seed=seed)
    strong = plant_super_weight(loaded, layer=1, row=17, col=100, weight=50.0, seed=seed)
    weak = plant_late(loaded, strong, prompt=prompt)
    if depends:
        read_the_text(loaded, strong, prompt)
    teach_head(loaded, TEXT)
    return loaded, strong, weak, prompt


def reference_ppl(loaded, coords=()) -> float:
    """Perplexity of TEXT's first TOKENS tokens on a deep copy with `coords` zeroed in place."""
    model = copy.deepcopy(loaded.model)
    with torch.no_grad():
        for c in coords:
            model.get_submodule(loaded.layers[c.layer].name).weight[c.row, c.col] = 0.0
        ids = loaded.encode(TEXT)[:, :TOKENS]
        logits = model(input_ids=ids).logits[0, :-1].double()
    return float(torch.exp(torch.nn.functional.cross_entropy(logits, ids[0, 1:])))


CASES = [(0, False), (2, False), (0, True), (2, True)]  # (seed, the model needs the weak weight)


@pytest.mark.parametrize("seed, depends", CASES)
def test_the_plant_is_the_case_asked_for(seed, depends):
    loaded, strong, weak, prompt = build(seed, depends)
    first, after = scan(loaded, prompt), scan(loaded, prompt, edit=off(strong))
    r0, r1 = spike_ratios(first), spike_ratios(after)
    assert r0[weak.layer] < Rules.weak * Rules.threshold  # not even a weak spike at first
    assert r1[weak.layer] > 2 * Rules.threshold  # far above the threshold once the first is off
    assert after.layers[weak.layer].out_channel == weak.row
    assert after.layers[weak.layer].out_max < Rules.relative * max(first.out_maxima())  # the filter drops it


@pytest.mark.parametrize("seed, depends", CASES)
def test_the_late_weak_super_weight_is_reported_and_judged_by_its_impact(seed, depends):
    loaded, strong, weak, prompt = build(seed, depends)
    d = find_super_weights(loaded, prompt, verify_text=TEXT, verify_tokens=TOKENS)
    assert strong in d.coords()
    late = [s for s in d.weak_spikes if s.iteration > 0]
    assert [(s.layer, s.channel, s.iteration, s.reason) for s in late] == [(weak.layer, weak.row, 1, LATE_SMALL)]
    spike = late[0]
    [w] = [w for w in spike.candidates if w.coord == weak]  # the plant carries it
    assert w.impact is not None and spike.verdict in (VERDICT_SUPER, VERDICT_SOURCE)
    # never nowhere: a verified one is also a super weight, an unverified one stays listed here
    assert (weak in d.coords()) == (w.verdict == VERDICT_SUPER) == (spike.verdict == VERDICT_SUPER)
    # the impact check against an in-place removal on a deep copy
    base, removed = reference_ppl(loaded), reference_ppl(loaded, [weak])
    control = reference_ppl(loaded, [Coord(*c) for c in w.impact.control])
    assert w.impact.ppl_original == pytest.approx(base, rel=1e-3)
    assert w.impact.ppl_removed == pytest.approx(removed, rel=1e-3)
    assert w.impact.ppl_control == pytest.approx(control, rel=1e-3)
    assert weak not in [Coord(*c) for c in w.impact.control] and strong not in [Coord(*c) for c in w.impact.control]
    ratio, control_ratio = removed / base, control / base
    assert (w.verdict == VERDICT_SUPER) == (ratio >= 1.5 and ratio >= 1.5 * control_ratio)
    assert w.verdict == (VERDICT_SUPER if depends else VERDICT_SOURCE)  # both ways of the decision occur


def test_without_verification_the_late_spike_is_listed_unjudged():
    loaded, strong, weak, prompt = build(0)
    d = find_super_weights(loaded, prompt, verify=False)
    [spike] = [s for s in d.weak_spikes if s.iteration > 0]
    assert spike.verdict is None and weak in [w.coord for w in spike.candidates]
    assert weak not in d.coords()
