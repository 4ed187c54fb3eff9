"""`make scale-check` rehearsed on the tiny shape: the model is written shard by shard, `detect`
runs in a fresh process as a user runs it, and finds exactly the plant."""

import json

import pytest
import torch

from bench import scale_check
from bench.gpu.shapes import TINY
from sw_core import memory_plan


def test_the_model_is_written_one_shard_per_layer_and_reads_back(tmp_path):
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM

    folder = tmp_path / "model"
    written = scale_check.write_model(TINY, folder, say=lambda m: None)
    shards = sorted(folder.glob("*.safetensors"))
    assert len(shards) == written["shards"] == TINY.layers + 1
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    assert {index["weight_map"][n] for n in index["weight_map"]} == {p.name for p in shards}
    # Every layer has the same tensors, and the folder holds exactly the model its config describes.
    layer = lambda i: {k.split(".", 3)[3] for k in index["weight_map"] if k.startswith(f"model.layers.{i}.")}  # noqa: E731
    assert all(layer(i) == layer(0) for i in range(TINY.layers))
    config = AutoConfig.from_pretrained(folder)
    assert memory_plan.count_safetensors(folder) == memory_plan.count_config(config) == written["parameters"]
    # Plain transformers reads it back with the plant written where the plant said.
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16)
    at = TINY.plant
    down = model.model.layers[at.layer].mlp.down_proj.weight.detach()
    assert float(down[at.row, at.col]) == torch.tensor(written["plant"]["weight"], dtype=torch.bfloat16).item()
    column = down[:, at.col].float().abs()
    assert int(column.argmax()) == at.row
    shard = load_file(str(folder / index["weight_map"][f"model.layers.{TINY.layers - 1}.mlp.down_proj.weight"]))
    assert set(shard) == {f"model.layers.{TINY.layers - 1}.{n}" for n in layer(0)}  # a later layer: its own shard


def test_detect_in_a_fresh_process_finds_exactly_the_plant(tmp_path):
    result = scale_check.check("tiny", keep=str(tmp_path), say=lambda m: None)
    assert result["exact"] and result["found"] == [[TINY.plant.layer, TINY.plant.row, TINY.plant.col]]
    d = result["detect"]
    assert d["wall_s"] > 0 and d["cpu_s"] > 0 and d["peak_rss_bytes"] > result["weights_bytes"]
    assert d["load_s"] is not None and any("memory plan" in line for line in d["plan"])
    assert "activation source" in d["stdout"] or "super weight" in d["stdout"]


@pytest.mark.parametrize("offset", [11, 12])
def test_a_gate_that_points_away_is_turned_round_and_the_plant_fires(monkeypatch, tmp_path, offset):
    """About 1 init in 10 of the tiny shape gives the planted channel a gate that closes on every
    token of the prompt (these two seeds did): the planting turns it round instead of failing."""
    real = torch.manual_seed
    monkeypatch.setattr(torch, "manual_seed", lambda seed: real(seed + offset))
    head = scale_check._planted_head(TINY, torch.bfloat16, scale_check.byte_tokenizer(tmp_path))
    assert head["plant"]["x_col_max"] > 0 and head["plant"]["weight"] != 0
