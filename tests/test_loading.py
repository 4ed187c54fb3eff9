"""Loading: the embedded model offline, its fp32 cache, and specific errors for bad references."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sw_core import embedded as emb
from sw_core.errors import BadInput, ModelLoadError, UnsupportedArchitecture
from sw_core.loading import load, resolve_device, resolve_dtype

ROOT = Path(__file__).resolve().parents[1]

# Runs in a fresh interpreter so HF_HOME / SW_CACHE take effect before any hub library is imported.
# The only test that dequantizes the GGUF (~13 s): every other test reads the fp32 cache.
_OFFLINE_SCRIPT = r"""
import json, torch
from sw_core.loading import load
first = load("embedded", device="cpu")  # the cache it finds is half-written: rebuilt from the GGUF
ids = first.encode("The capital of France is")
out = first.model.generate(ids, max_new_tokens=8, do_sample=False)
text = first.tokenizer.decode(out[0, ids.shape[1]:])
second = load("embedded", device="cpu")
same = all(torch.equal(a, b) for a, b in zip(first.model.parameters(), second.model.parameters()))
print(json.dumps({"text": text, "first_cached": first.from_cache, "first_source": first.source,
                  "second_cached": second.from_cache, "same_weights": same,
                  "sw": float(second.layers[11].weight_view()[507, 1229])}))
"""


def test_embedded_loads_offline_rebuilds_a_half_written_cache_then_reads_it(embedded, tmp_path):
    folder = tmp_path / "cache" / emb.CACHE_NAME
    shutil.copytree(emb.cache_dir(), folder)
    weights = folder / "model.safetensors"
    size = weights.stat().st_size
    with open(weights, "r+b") as f:
        f.truncate(size // 2)  # a half-written file, as after a crash or a full disk
    assert not emb.cache_is_valid(folder)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "empty_hf_home"),
           "SW_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", _OFFLINE_SCRIPT], env=env, capture_output=True,
                          text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "Paris" in result["text"]
    assert result["first_cached"] is False and result["first_source"].endswith(".gguf")  # never read
    assert result["second_cached"] is True and result["same_weights"]
    assert result["sw"] == float(embedded.layers[11].weight_view()[507, 1229])
    assert emb.cache_is_valid(folder) and weights.stat().st_size == size
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temp folder left


def _copy_cache(embedded, tmp_path) -> Path:
    src = emb.cache_dir()
    assert emb.cache_is_valid(src)  # the session fixture has built it
    dst = tmp_path / emb.CACHE_NAME
    shutil.copytree(src, dst)
    return dst


def test_truncated_cache_is_detected(embedded, tmp_path):
    folder = _copy_cache(embedded, tmp_path)
    weights = folder / "model.safetensors"
    with open(weights, "r+b") as f:
        f.truncate(weights.stat().st_size // 2)
    assert not emb.cache_is_valid(folder)


def test_overwritten_cache_bytes_are_detected(embedded, tmp_path):
    folder = _copy_cache(embedded, tmp_path)
    with open(folder / "model.safetensors", "r+b") as f:
        f.seek(-100, os.SEEK_END)
        f.write(b"\x00" * 100)
    assert not emb.cache_is_valid(folder)


def test_cache_without_manifest_is_not_read(embedded, tmp_path):
    folder = _copy_cache(embedded, tmp_path)
    (folder / emb.MANIFEST).unlink()  # what a crash before the last write leaves
    assert not emb.cache_is_valid(folder)


def test_missing_local_path(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load(str(tmp_path / "nowhere"))


def test_hub_id_offline_names_the_model_and_suggests_embedded(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as err:
        load("someone/not-a-cached-model")
    message = str(err.value)
    assert "someone/not-a-cached-model" in message
    assert "not in the local cache" in message and "embedded" in message


def _save_tiny(folder: Path, config) -> None:
    from transformers import AutoModel

    AutoModel.from_config(config).save_pretrained(folder)


def test_non_causal_model_is_refused(tmp_path):
    from transformers import BertConfig

    _save_tiny(tmp_path, BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                    intermediate_size=64, vocab_size=100))
    with pytest.raises(ModelLoadError, match="not a causal language model"):
        load(str(tmp_path))


def test_unsupported_causal_architecture_is_refused(tmp_path):
    from transformers import BloomConfig

    _save_tiny(tmp_path, BloomConfig(hidden_size=32, n_layer=1, n_head=2, vocab_size=100))
    with pytest.raises(UnsupportedArchitecture, match="'bloom'"):
        load(str(tmp_path))


def test_pickled_weights_need_opt_in(tmp_path):
    from transformers import LlamaConfig

    config = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, vocab_size=100)
    config.save_pretrained(tmp_path)
    torch.save({}, tmp_path / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match="allow_pickle=True"):
        load(str(tmp_path))


def test_local_folder_round_trip(embedded, tmp_path):
    """A saved local folder loads back with the same weights and the same adapter."""
    from sw_core.testing import tiny_model

    tiny = tiny_model("gpt2", layers=2)
    tiny.model.save_pretrained(tmp_path)
    embedded.tokenizer.save_pretrained(tmp_path)  # any real tokenizer makes the folder complete
    loaded = load(str(tmp_path), device="cpu")
    assert loaded.model_type == "gpt2" and loaded.num_layers == 2 and not loaded.from_cache
    torch.testing.assert_close(loaded.layers[1].weight_view(), tiny.layers[1].weight_view())


def test_device_and_dtype_resolution():
    assert resolve_device("auto") in ("cpu", "cuda")
    assert resolve_dtype("auto", "cpu") is torch.float32
    assert resolve_dtype("bf16", "cpu") is torch.bfloat16
    with pytest.raises(BadInput, match="Unknown dtype"):
        resolve_dtype("int3", "cpu")
    with pytest.raises(BadInput, match="Unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(BadInput, match="no CUDA GPU"):
            resolve_device("cuda")


def test_encode_bos_control(embedded):
    plain = embedded.encode("Hello world")
    with_bos = embedded.encode("Hello world", add_bos=True)
    assert plain[0, 0].item() != embedded.tokenizer.bos_token_id  # SmolLM2 adds no BOS itself
    assert with_bos[0, 0].item() == embedded.tokenizer.bos_token_id
    assert torch.equal(with_bos[0, 1:], plain[0])
    with pytest.raises(BadInput, match="empty"):
        embedded.encode("   ")


def test_cli_info_json(embedded, capsys):
    from sw_core.__main__ import main

    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["layers"] == 30 and info["hidden_size"] == 576 and info["intermediate_size"] == 1536
    assert info["from_cache"] is True and info["dtype"] == "float32"
