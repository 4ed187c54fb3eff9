"""scan: one forward pass, per-layer maxima, hooks always removed, edits honoured."""

import threading

import pytest
import torch

from sw_core.edits import INHERIT, Coord, applied, off
from sw_core.errors import BadInput
from sw_core.hooks import active_recorder
from sw_core.scan import scan
from sw_core.testing import tiny_model

PROMPT = "Apple Inc. is a worldwide tech company."



def _hook_counts(loaded):
    mods = [p.module for p in loaded.layers] + [b for _, b in loaded.arch.blocks(loaded.model)]
    return [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in mods]


def test_embedded_scan_shows_the_super_activation(embedded):
    s = scan(embedded, PROMPT, track_channel=507)
    assert len(s.layers) == embedded.num_layers == 30
    assert len(s.tokens) == embedded.encode(PROMPT).shape[1]
    spike = max(s.layers, key=lambda l: l.out_max)
    assert (spike.layer, spike.out_channel, spike.out_token) == (11, 507, 0)
    assert 2.0e4 < spike.out_value < 3.0e4
    assert spike.in_channel == 1229 and spike.in_token == 0  # the super weight's input channel
    assert spike.out_median < 10  # typical outputs are tiny next to the spike
    # the residual stream grows at layer 11 and shrinks at 28 (cancellation)
    assert abs(spike.resid_after) > 100 * abs(spike.resid_before)
    assert abs(s.layers[28].resid_after) < abs(s.layers[28].resid_before)
    # traces: layers x tokens
    assert len(s.token_out_max) == 30 and len(s.token_out_max[11]) == len(s.tokens)
    assert s.channel_trace[11][0] == pytest.approx(abs(spike.out_value), rel=1e-6)
    assert max(s.channel_trace[11][1:]) < 0.01 * s.channel_trace[11][0]


def test_scan_honours_an_edit_and_leaves_no_edit_behind(embedded, digest):
    before = digest(embedded.model)
    sw = [Coord(11, 507, 1229), Coord(11, 507, 1487)]
    edited = scan(embedded, PROMPT, edit=off(*sw), track_channel=507)
    assert edited.channel_trace[11][0] < 0.01 * 2.0e4  # the super activation is gone
    assert edited.layers[11].out_max < 0.1 * 2.0e4
    again = scan(embedded, PROMPT)
    assert again.layers[11].out_max > 2.0e4
    # an edit applied by the caller stays in effect only when asked for (INHERIT); None: no edit
    with applied(embedded, off(*sw)):
        outer = scan(embedded, PROMPT, edit=INHERIT)
        unedited = scan(embedded, PROMPT)
    assert outer.layers[11].out_max == pytest.approx(edited.layers[11].out_max, rel=1e-5)
    assert unedited.layers[11].out_max == again.layers[11].out_max
    assert digest(embedded.model) == before


def test_a_forward_that_raises_leaves_no_scan_active_and_no_hook_added():
    loaded = tiny_model("llama", layers=3)  # edit and scan hooks are registered when a model loads
    baseline = _hook_counts(loaded)
    assert all(n >= 1 for n, _ in baseline)

    def boom(module, inputs, output):
        raise RuntimeError("boom")

    h = loaded.layers[1].module.register_forward_hook(boom)
    try:
        with pytest.raises(RuntimeError, match="boom"):
            scan(loaded, "hello")
    finally:
        h.remove()
    assert _hook_counts(loaded) == baseline
    assert active_recorder() is None  # later forwards record into no scan
    scan(loaded, "hello")
    assert _hook_counts(loaded) == baseline


def test_scan_under_inference_mode_and_bad_input():
    loaded = tiny_model("gpt2", layers=2)
    with torch.inference_mode():
        s = scan(loaded, "hi there", keep_rows=True)
    assert s.layers[0].in_row.shape == (loaded.layers[0].in_features,)
    with pytest.raises(BadInput):
        scan(loaded, "   ")
    with pytest.raises(BadInput):
        scan(loaded, "hi", track_channel=10_000)


def test_other_threads_forward_passes_are_not_recorded():
    loaded = tiny_model("llama", layers=2)
    ids = loaded.encode("a much longer text than the scanned one " * 4)
    stop = threading.Event()

    def hammer():
        with torch.no_grad():
            while not stop.is_set():
                loaded.model(ids)

    t = threading.Thread(target=hammer)
    t.start()
    try:
        scans = [scan(loaded, "ab") for _ in range(5)]
    finally:
        stop.set()
        t.join()
    n = len(loaded.encode("ab")[0])
    assert all(len(row) == n for s in scans for row in s.token_out_max)
    alone = scan(loaded, "ab")
    assert all(s.out_maxima() == pytest.approx(alone.out_maxima()) for s in scans)


def test_a_scan_keeps_no_activation_alive():
    """Recorded values are numbers or small tensors of their own: once the pass is over, no
    down projection input or output (nor the residual stream) is kept alive by the result."""
    import gc
    import weakref

    loaded = tiny_model("llama", layers=3)
    refs = []

    def watch(module, inputs, output):
        refs.extend([weakref.ref(inputs[0]), weakref.ref(output)])

    handles = [p.module.register_forward_hook(watch) for p in loaded.layers]
    handles += [b.register_forward_hook(lambda m, a, o: refs.append(weakref.ref(o[0] if isinstance(o, tuple) else o)))
                for _, b in loaded.arch.blocks(loaded.model)]
    try:
        result = scan(loaded, "nothing pinned " * 8, track_channel=3, keep_rows=True)
    finally:
        for h in handles:
            h.remove()
    gc.collect()
    assert len(refs) == 3 * loaded.num_layers
    assert all(r() is None for r in refs), "an activation outlived the scan"
    assert all(isinstance(v, float) for st in result.layers for v in (st.out_value, st.in_max, st.resid_after))


def test_linear_inputs_are_recorded_by_the_load_time_hooks_only():
    """Calibration inputs come from the permanent hooks: equal to a reference with its own hooks
    on a deep copy, no hook added to the shared model, other threads' passes not recorded."""
    import copy

    from sw_core.quant.targets import decoder_linears
    from sw_core.scan import linear_inputs

    loaded = tiny_model("gpt2", layers=2)
    ids = loaded.encode("calibration text")
    names = [t.name for t in decoder_linears(loaded.model)]
    ref = copy.deepcopy(loaded.model)
    want = {}
    for n in names:
        ref.get_submodule(n).register_forward_pre_hook(lambda m, a, n=n: want.__setitem__(n, a[0].reshape(-1, a[0].shape[-1])))
    with torch.no_grad():
        ref(input_ids=ids, use_cache=False)
    counts = _hook_counts(loaded)
    other = loaded.encode("another thread's much longer text " * 3)
    stop = threading.Event()
    t = threading.Thread(target=lambda: [loaded.model(input_ids=other) for _ in iter(stop.is_set, True)])
    with torch.no_grad():
        t.start()
        try:
            got = [linear_inputs(loaded, ids, names) for _ in range(3)]
        finally:
            stop.set()
            t.join()
    assert _hook_counts(loaded) == counts
    for g in got:
        assert set(g) == set(names)
        for n in names:
            torch.testing.assert_close(g[n], want[n])
