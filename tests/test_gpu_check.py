"""The GPU check's CPU rehearsal: the whole synthetic pipeline at tiny scale, in bf16, measured.

The plant is checked against an independent reference: a plain forward pass of the same model
with the planted weight zeroed by hand (on a deep copy) loses the massive activation.
"""

import copy
import json

import pytest
import torch

from bench.gpu.__main__ import main
from bench.gpu.shapes import TINY, build, plant
from sw_core.detect import DEFAULT_PROMPT


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu") / "gpu.json"
    assert main(["--tiny", "--device", "cpu", "--out", str(out)]) == 0
    return json.loads(out.read_text())


def _residual_max(model, ids, layer):
    """max |hidden state| leaving decoder layer `layer`, by a plain forward pass."""
    with torch.no_grad():
        states = model(input_ids=ids, output_hidden_states=True, use_cache=False).hidden_states
    return float(states[layer + 1].float().abs().max())


def test_the_plant_creates_a_massive_activation_that_its_one_weight_carries():
    loaded = build(TINY, "cpu", torch.bfloat16)
    ids = loaded.encode(DEFAULT_PROMPT)
    before = _residual_max(loaded.model, ids, TINY.plant.layer)
    plant(loaded, TINY.plant, DEFAULT_PROMPT)
    after = _residual_max(loaded.model, ids, TINY.plant.layer)
    zeroed = copy.deepcopy(loaded.model)  # no edit is active: the copied hooks do nothing
    zeroed.model.layers[TINY.plant.layer].mlp.down_proj.weight[TINY.plant.row, TINY.plant.col] = 0.0
    assert after > 100 * before  # the super activation
    assert _residual_max(zeroed, ids, TINY.plant.layer) < 2 * before  # ... made by that one weight


def test_tiny_run_measures_every_part(report):
    s = report["synthetic"]
    assert report["environment"]["device"] == "cpu" and s["dtype"] == "bfloat16"
    assert s["detection"]["exact"] and s["detection"]["found"] == [[2, 97, 301]]
    # The random model depends on no weight: the impact check calls the plant an activation source.
    assert s["detection"]["verified_super_weights"] == [] and s["detection"]["activation_sources"] == [[2, 97, 301]]
    assert s["detection"]["spike_ratio"] > 50
    sf = s["scan_vs_forward"]
    assert sf["tokens"] <= 64 and sf["scan_over_forward"] > 0 and sf["scan_peak_bytes"] is None  # no CUDA
    assert s["toggle"]["toggle_s"] > 0 and s["toggle"]["edited_over_plain_forward"] > 0
    naive, aware = s["rtn"]["naive"], s["rtn"]["aware"]
    assert aware["super_weight_after"] == aware["super_weight_before"]  # held out of its block
    assert naive["seconds"] > 0 and aware["seconds"] > 0
    bnb = s["bitsandbytes"]
    assert "skipped" in bnb or all(bnb[m]["forward_ratio"] > 0 for m in ("bnb-int8", "bnb-nf4"))
    g = s["generation"]
    assert g["edited_over_unedited"] > 0 and g["edit_changes_text"]
    assert "embedded" not in report  # the embedded part runs on CUDA, or when asked (--embedded)


def test_the_json_is_updated_part_by_part(tmp_path, report):
    out = tmp_path / "gpu.json"
    out.write_text(json.dumps({"embedded": {"from": "an earlier run"}}))
    from bench.gpu.__main__ import write

    write({"synthetic": report["synthetic"]}, out)
    merged = json.loads(out.read_text())
    assert merged["embedded"] == {"from": "an earlier run"} and merged["synthetic"] == report["synthetic"]
