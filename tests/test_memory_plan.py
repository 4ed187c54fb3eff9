"""The memory plan made before loading: sizes counted without loading, decisions on faked memory
numbers, a real load through disk offload under a small budget, and a refusal with the numbers."""

import pytest
import torch

from sw_core import memory_plan as mp
from sw_core.errors import BadInput
from sw_core.loading import load

from model_folders import tiny_llama_folder

GB = mp.GB
SEVEN_B = 6_738_415_616  # Llama-7B's parameters
PLENTY_OF_DISK = 1000 * GB


def test_fits_as_asked():
    p = mp.make_plan(135_000_000, "cpu", "auto", available=8 * GB, disk_free=PLENTY_OF_DISK)
    assert p.dtype == torch.float32 and not p.offload and not p.notes
    assert p.weights_bytes == 135_000_000 * 4 and p.needed_bytes <= 8 * GB


def test_auto_on_cpu_picks_bfloat16_when_float32_does_not_fit_and_says_so():
    p = mp.make_plan(SEVEN_B, "cpu", "auto", available=20 * GB, disk_free=PLENTY_OF_DISK)
    assert p.dtype == torch.bfloat16 and not p.offload
    assert p.weights_bytes == SEVEN_B * 2
    (note,) = p.notes
    assert "bfloat16 instead of float32" in note and "30.1 GB" in note and "20.0 GB" in note


def test_an_explicit_dtype_is_kept_and_offloaded_instead():
    p = mp.make_plan(SEVEN_B, "cpu", "float32", available=20 * GB, disk_free=PLENTY_OF_DISK)
    assert p.dtype == torch.float32 and p.offload
    assert p.max_memory == {"cpu": 20 * GB - p.working_bytes}


def test_offload_when_even_bfloat16_does_not_fit():
    p = mp.make_plan(SEVEN_B, "cpu", "auto", available=8 * GB, disk_free=PLENTY_OF_DISK)
    assert p.dtype == torch.bfloat16 and p.offload and p.max_memory["cpu"] < p.weights_bytes
    assert any("disk offload" in n for n in p.notes)


def test_refused_with_the_numbers_when_nothing_fits():
    with pytest.raises(BadInput) as small_ram:
        mp.make_plan(SEVEN_B, "cpu", "auto", available=2 * GB, disk_free=PLENTY_OF_DISK)
    message = str(small_ram.value)
    assert "does not fit" in message and "6.74B parameters in bfloat16" in message
    assert "2.0 GB is available" in message and "must stay in memory" in message and "smaller model" in message
    with pytest.raises(BadInput, match=r"disk offload needs 13.5 GB of free disk and 1.0 GB is free"):
        mp.make_plan(SEVEN_B, "cpu", "auto", available=8 * GB, disk_free=1 * GB)
    with pytest.raises(BadInput, match="GGUF file is dequantized whole"):
        mp.make_plan(SEVEN_B, "cpu", "auto", available=8 * GB, disk_free=PLENTY_OF_DISK, extra_bytes=4 * GB)


def test_gpu_plans_against_free_gpu_memory():
    p = mp.make_plan(SEVEN_B, "cuda:0", torch.bfloat16, available=80 * GB, disk_free=PLENTY_OF_DISK)
    assert p.device == "cuda:0" and p.dtype == torch.bfloat16 and not p.offload


def test_available_ram_reads_the_machine():
    with open("/proc/meminfo") as f:
        total = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemTotal:"))
    assert 0 < mp.available_ram() <= total
    assert 0 < mp._meminfo_available() <= total


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A 4-layer Llama with one weight made 'super', saved as safetensors with a byte tokenizer."""
    folder = tmp_path_factory.mktemp("planted")

    def plant(model):
        model.model.layers[1].mlp.down_proj.weight[5, 7] = 2000.0

    model = tiny_llama_folder(folder, layers=4, edit=plant)
    return folder, model


def test_sizes_are_counted_without_loading(planted, tmp_path):
    from transformers import AutoConfig

    folder, model = planted
    n = sum(p.numel() for p in model.parameters())
    assert mp.count_safetensors(folder) == n
    assert mp.count_config(AutoConfig.from_pretrained(folder)) == n


def test_a_real_load_goes_through_disk_offload_under_a_small_budget(planted):
    """Budget: the working memory plus half the weights. The plan offloads; the logits are those of
    the model loaded whole, and detection still finds the planted weight."""
    from sw_core.detect import find_super_weights

    folder, model = planted
    weights = mp.count_safetensors(folder) * 4
    budget = mp.working_bytes(weights) + weights // 2
    capped = load(str(folder), device="cpu", dtype="float32", memory_budget=budget)
    assert capped.plan.offload and capped.plan.dtype == torch.float32
    assert "disk" in set(capped.model.hf_device_map.values())
    whole = load(str(folder), device="cpu", dtype="float32")
    assert not whole.plan.offload
    ids = whole.encode("The capital of France is Paris.")
    with torch.no_grad():
        torch.testing.assert_close(capped.model(input_ids=ids).logits, whole.model(input_ids=ids).logits)
        torch.testing.assert_close(model(input_ids=ids).logits, whole.model(input_ids=ids).logits)
    found = find_super_weights(capped, verify=False)
    assert [(c.layer, c.row, c.col) for c in found.coords()] == [(1, 5, 7)]


def test_a_model_too_big_is_refused_before_loading(planted, monkeypatch):
    from transformers import AutoModelForCausalLM

    folder, _ = planted

    def never(*a, **k):
        raise AssertionError("from_pretrained was called: the plan should have refused first")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", never)
    with pytest.raises(BadInput, match=r"does not fit: .* and 0.0 GB is available"):
        load(str(folder), device="cpu", memory_budget=1024)


def test_a_consolidated_copy_of_the_weights_is_not_counted_twice(planted, tmp_path):
    """Some repos hold the sharded weights and a consolidated copy: transformers loads the shards."""
    import shutil

    folder, model = planted
    copy = tmp_path / "repo"
    shutil.copytree(folder, copy)
    model.save_pretrained(copy, max_shard_size="200KB")  # shards + index
    shutil.copy(folder / "model.safetensors", copy / "consolidated.safetensors")
    assert len(list(copy.glob("*.safetensors"))) > 3
    assert mp.count_safetensors(copy) == sum(p.numel() for p in model.parameters())
