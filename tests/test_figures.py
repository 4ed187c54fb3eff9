"""Figures from real scans: the spike shows where the scan put it, on the embedded and tiny models."""

import math

import pytest

from sw_core import figures as plots
from sw_core.scan import scan
from sw_core.testing import tiny_model

PROMPT = "Summer is hot. Winter is"


@pytest.fixture(scope="module")
def embedded_scan(embedded):
    return scan(embedded, PROMPT, track_channel=507)


def test_heatmap_marks_the_measured_spike_layer(embedded_scan):
    fig = plots.activation_heatmap(embedded_scan)
    heat = fig.data[0]
    assert list(heat.y) == list(range(30)) and list(heat.x) == ["max |input|", "max |output|"]
    # colour is log10 |value|: the spike layer's output cell is the hottest output cell
    outputs = [row[1] for row in heat.z]
    assert outputs.index(max(outputs)) == 11
    assert math.isclose(10 ** outputs[11], embedded_scan.layers[11].out_max, rel_tol=1e-6)
    ticks = dict(zip(fig.layout.yaxis.tickvals, fig.layout.yaxis.ticktext))
    assert "spike ch 507" in ticks[11] and ticks[10] == "10"


def test_token_heatmap_traces_the_channel(embedded_scan):
    fig = plots.token_heatmap(embedded_scan)
    heat = fig.data[0]
    assert len(heat.z) == 30 and len(heat.x) == len(embedded_scan.tokens)
    # the super activation sits at token 0 of layer 11 and is > 1000x a later token there
    assert heat.customdata[11][0] > 1000 * heat.customdata[11][-1]
    assert "channel 507" in fig.layout.title.text


def test_fig2_line_has_log_axis_and_annotation(embedded_scan):
    fig = plots.max_per_layer(embedded_scan)
    assert fig.layout.yaxis.type == "log"
    out = fig.data[1]
    assert max(out.y) == pytest.approx(embedded_scan.layers[11].out_max)
    assert fig.layout.annotations[0].x == 11
    html = fig.to_html(include_plotlyjs=False)
    assert "max |output|" in html


@pytest.mark.parametrize("model_type", ["llama", "gpt2", "opt"])
def test_figures_work_on_tiny_models(model_type):
    tiny = tiny_model(model_type, layers=3)
    s = scan(tiny, "hello world")
    heat = plots.activation_heatmap(s).data[0]
    assert len(heat.z) == 3 and list(heat.y) == [0, 1, 2]  # one row per layer of this model
    lines = plots.max_per_layer(s).data
    assert len(lines[-1].y) == 3  # one point per layer
    assert len(plots.token_heatmap(s).data[0].z) == 3  # no trace: falls back to the max over channels


def test_probability_bars_show_ratios():
    fig = plots.probability_bars(["the", ".", ","], [0.1, 0.02, 0.01], [0.2, 0.1, 0.1], title="stop words")
    assert [b.name for b in fig.data] == ["original", "edited"]
    assert list(fig.data[1].text) == ["×2.0", "×5.0", "×10"]


def test_screening_figure_draws_the_ranking_a_real_screening_measured():
    from sw_core.screening import candidates, screen
    from sw_core.testing import plant_super_weight, teach_head

    loaded = tiny_model("llama", layers=3)
    sw = plant_super_weight(loaded, layer=1, row=9, col=33)
    teach_head(loaded, PROMPT * 3)  # the model now needs its planted activation on this text
    result = screen(loaded, candidates(loaded, [sw], per_layer=3), text=PROMPT * 3, max_tokens=32)
    fig = plots.screening_figure(result, top=4)
    (bars,) = fig.data
    assert list(bars.x) == [r.weight for r in result.rows[:4]] and bars.x[0] == str(sw)
    assert list(bars.y) == pytest.approx([r.ppl_ratio for r in result.rows[:4]])
    assert fig.layout.yaxis.type == "log" and f"{result.tokens} tokens" in fig.layout.title.text


def _rgb(colour: str) -> tuple[float, float, float]:
    import plotly.colors as pc

    c = pc.unlabel_rgb(pc.convert_colors_to_same_type([colour], "rgb")[0][0])
    return tuple(x / 255 for x in c)


def test_heatmap_colours_run_dark_to_bright_with_no_warm_low_end(embedded_scan):
    import colorsys

    for fig in (plots.activation_heatmap(embedded_scan), plots.token_heatmap(embedded_scan)):
        scale = fig.data[0].colorscale
        colours = [c for _, c in scale]
        lum = [0.2126 * r + 0.7152 * g + 0.0722 * b for r, g, b in map(_rgb, colours)]
        assert lum == sorted(lum) and lum[0] < 0.15 and lum[-1] > 0.8  # monotonic dark -> bright
        # The lower half, where most layers' values sit: no red, orange or magenta (Inferno had them
        # from 0.44 up, so an ordinary layer looked hot next to the spike).
        for position, c in scale:
            if position <= 0.5:
                hue = colorsys.rgb_to_hsv(*_rgb(c))[0] * 360
                assert 150 <= hue <= 320, (position, c, hue)


def test_layer_axes_tick_only_layers_that_exist(embedded_scan):
    n = len(embedded_scan.layers)
    axes = [plots.activation_heatmap(embedded_scan).layout.yaxis, plots.token_heatmap(embedded_scan).layout.yaxis,
            plots.max_per_layer(embedded_scan).layout.xaxis]
    for axis in axes:
        assert set(axis.tickvals) <= set(range(n)) and 0 in axis.tickvals
        assert sorted(axis.range) == [-0.5, n - 0.5]  # no room for a tick at layer -1 or n


def test_bar_labels_are_readable_and_the_legend_clears_the_title():
    fig = plots.probability_bars(["the", "cold"], [0.104, 0.054], [0.118, 0.004], title="a long title " * 8,
                                 font_size=8)
    assert fig.data[1].textfont.size >= 12 and fig.layout.xaxis.tickfont.size >= 12
    assert fig.layout.yaxis.range[0] == 0  # bars start at zero
    assert list(fig.data[1].text) == ["×1.1", "÷14"] and fig.data[1].constraintext == "none"  # full size
    wide = plots.probability_bars(["cold", "a"], [0.0535, 0.104], [0.0535 / 2917, 0.5437], title="t")
    assert list(wide.data[1].text) == ["÷2.9k", "×5.2"]  # at most five characters over a bar
    legend_top = fig.layout.legend.y  # the legend sits on the plot's top edge, the title in the margin above
    assert fig.layout.legend.yanchor == "bottom" and legend_top == 1.0 and fig.layout.title.yref == "container"
    assert fig.layout.margin.t >= 3 * fig.layout.legend.font.size


def test_next_word_bars_match_a_plain_forward_pass(embedded):
    """The Classroom chart's numbers against the model run by hand, with the weight zeroed on a copy."""
    import copy

    import torch

    from explorer.figures import next_word_figure
    from sw_core.edits import Coord, Edit

    sw = Coord(11, 507, 1229)
    fig, nw = next_word_figure(embedded, Edit.of({sw: 0.0}), PROMPT)
    edited = copy.deepcopy(embedded.model)
    with torch.no_grad():
        edited.model.layers[11].mlp.down_proj.weight[507, 1229] = 0.0
        ids = embedded.tokenizer(PROMPT, return_tensors="pt").input_ids
        p0 = embedded.model(ids).logits[0, -1].softmax(-1)
        p1 = edited(ids).logits[0, -1].softmax(-1)
    top = set(p0.topk(5).indices.tolist()) | set(p1.topk(5).indices.tolist())
    assert sorted(nw.words) == sorted(embedded.tokenizer.decode([i]) for i in top)
    for word, a, b in zip(nw.words, nw.original, nw.edited):
        i = next(i for i in top if embedded.tokenizer.decode([i]) == word)
        assert a == pytest.approx(float(p0[i]), rel=1e-4, abs=1e-6) and b == pytest.approx(float(p1[i]), rel=1e-4, abs=1e-6)
    assert nw.original == sorted(nw.original, reverse=True)
    assert list(fig.data[0].y) == nw.original and list(fig.data[1].y) == nw.edited


def test_perplexity_ratio_bars_show_each_measured_ratio_from_one_baseline():
    """Real perplexities of a tiny model under two quantizations: each bar is its perplexity over the
    original's (divided here by hand), the original's bar is 1, and every bar sits inside the log axis."""
    from sw_core import texts
    from sw_core.metrics import perplexity
    from sw_core.quant import QuantSetting, quantized

    tiny = tiny_model("llama", layers=2, seed=0)
    text = texts.text("britannica", max_chars=800)
    original = perplexity(tiny, text, max_tokens=64)
    settings = [QuantSetting("rtn", bits=3, block=32), QuantSetting("rtn", bits=8, block=32)]
    measured = [perplexity(quantized(tiny, s, ()), text, max_tokens=64) for s in settings]
    labels = ["original"] + [s.label for s in settings]
    fig = plots.perplexity_ratio_bars(labels, [original] + measured, original, title="tiny")
    bars = fig.data[0]
    assert list(bars.x) == labels and bars.y[0] == 1.0
    assert list(bars.y[1:]) == pytest.approx([p / original for p in measured])
    assert measured[0] != measured[1]  # the two settings really differ
    low, high = fig.layout.yaxis.range
    assert all(low < math.log10(r) < high for r in bars.y)  # log axis: the range is in decades
    assert bars.text[1] == f"×{measured[0] / original:,.2f} ({measured[0]:,.2f})"
