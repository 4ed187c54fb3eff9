"""Figures from real scans: the spike shows where the scan put it, on the embedded and tiny models."""

import math

import pytest

from sw_core import plots
from sw_core.scan import scan
from sw_core.tiny import tiny_model

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
    assert "layer 11, channel 507" in fig.layout.annotations[0].text


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
    for fig in (plots.activation_heatmap(s), plots.token_heatmap(s), plots.max_per_layer(s)):
        assert len(fig.data) >= 1
    assert len(plots.token_heatmap(s).data[0].z) == 3  # no trace: falls back to the max over channels


def test_probability_bars_show_ratios():
    fig = plots.probability_bars(["the", ".", ","], [0.1, 0.02, 0.01], [0.2, 0.1, 0.1], title="stop words")
    assert [b.name for b in fig.data] == ["original", "edited"]
    assert list(fig.data[1].text) == ["×2", "×5", "×10"]


def test_value_bars_log_axis():
    fig = plots.value_bars(["fp32", "rtn"], {"perplexity": [13.8, 49.0]}, title="ppl", log=True)
    assert fig.layout.yaxis.type == "log" and list(fig.data[0].y) == [13.8, 49.0]
