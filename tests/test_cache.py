"""Converted once: a GGUF file is dequantized on its first load, cached as safetensors in
$SW_CACHE (keyed by the file's identity and the dtype, written atomically with a manifest) and
read from there afterwards; `python -m sw_core cache list|clear` shows and removes it.

The GGUF files are written here with the `gguf` package (`bench.gguf_check.write_gguf`): a
2-layer Llama with a byte-level tokenizer, its weights in Q8_0 (so they are really dequantized).
"""

import os
from pathlib import Path

import pytest
import torch

from bench.gguf_check import write_gguf
from sw_core import conversion_cache
from sw_core.__main__ import main
from sw_core.errors import BadInput
from sw_core.loading import load

@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SW_CACHE", str(tmp_path / "sw-cache"))
    return tmp_path / "sw-cache"


@pytest.fixture(scope="module")
def gguf_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("gguf") / "tiny-llama.gguf"
    return path, write_gguf(path)


def _entries(cache: Path) -> list[Path]:
    root = cache / "converted"
    return sorted(root.iterdir()) if root.exists() else []


def _params(loaded) -> dict:
    return {n: p.detach().clone() for n, p in loaded.model.named_parameters()}


def test_a_gguf_is_converted_once_then_read_from_the_cache(gguf_file, cache):
    from transformers import AutoModelForCausalLM

    path, down = gguf_file
    steps = []
    first = load(str(path), device="cpu", progress=lambda s, d, t: steps.append((s, d, t)))
    assert first.from_cache is False and first.source == str(path) and first.dtype == torch.float32
    assert {"convert", "cache"} <= {s for s, _, _ in steps}
    (entry,) = _entries(cache)
    assert conversion_cache.is_valid(entry) and entry.name.startswith("tiny-llama-float32-")
    second = load(str(path), device="cpu")
    assert second.from_cache is True and second.source == str(path)
    # The reference: the Q8_0 bytes dequantized by the gguf package, and a plain transformers load.
    plain = dict(AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32).named_parameters())
    a, b = _params(first), _params(second)
    assert a.keys() == b.keys() == plain.keys()
    for name in a:
        assert torch.equal(a[name], b[name]) and torch.equal(b[name], plain[name]), name
    for name, ref in down.items():
        assert torch.equal(b[name], ref), name
    assert second.encode("Paris is").tolist() == first.encode("Paris is").tolist()


def test_the_entry_follows_the_file_and_the_dtype(gguf_file, cache, tmp_path):
    path, _ = gguf_file
    copy = tmp_path / "tiny-llama.gguf"
    copy.write_bytes(path.read_bytes())
    assert load(str(copy), device="cpu").from_cache is False
    assert load(str(copy), device="cpu", dtype="bfloat16").from_cache is False  # another dtype: its own entry
    assert load(str(copy), device="cpu", dtype="bfloat16").from_cache is True
    os.utime(copy, (1_000_000_000, 1_000_000_000))  # the file changed (as far as its mtime says)
    assert load(str(copy), device="cpu").from_cache is False
    assert len(_entries(cache)) == 3


def test_a_damaged_entry_is_rebuilt_not_read(gguf_file, cache):
    path, down = gguf_file
    load(str(path), device="cpu")
    (entry,) = _entries(cache)
    shard = next(entry.glob("*.safetensors"))
    with open(shard, "r+b") as f:
        f.truncate(shard.stat().st_size // 2)  # a half-written shard
    assert not conversion_cache.is_valid(entry)
    again = load(str(path), device="cpu")
    assert again.from_cache is False and conversion_cache.is_valid(entry)
    for name, ref in down.items():
        assert torch.equal(dict(again.model.named_parameters())[name], ref)
    assert not [p for p in (cache / "converted").iterdir() if p.name.startswith(".")]


def test_a_failed_write_leaves_nothing(gguf_file, cache, monkeypatch):
    from transformers import PreTrainedTokenizerBase

    path, _ = gguf_file

    def full_disk(self, *a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(PreTrainedTokenizerBase, "save_pretrained", full_disk)
    with pytest.raises(OSError, match="No space left"):
        load(str(path), device="cpu")
    assert list((cache / "converted").iterdir()) == []  # no entry, no temporary folder


def test_the_cache_is_written_in_shards_and_reads_back(gguf_file, cache, monkeypatch):
    """Shard by shard (never a second full copy in memory): many small shards give the same model."""
    path, down = gguf_file
    monkeypatch.setattr(conversion_cache, "SHARD", "64KB")
    first = load(str(path), device="cpu")
    (entry,) = _entries(cache)
    assert len(list(entry.glob("*.safetensors"))) > 2 and (entry / "model.safetensors.index.json").is_file()
    second = load(str(path), device="cpu")
    assert second.from_cache
    for name, p in _params(first).items():
        assert torch.equal(p, dict(second.model.named_parameters())[name])


def test_cache_list_and_clear(gguf_file, cache, capsys):
    path, _ = gguf_file
    load(str(path), device="cpu")
    (entry,) = _entries(cache)
    assert main(["cache", "list"]) == 0
    out = capsys.readouterr().out
    assert entry.name in out and str(path.resolve()) in out and "float32" in out and "1 entry" in out
    assert main(["cache", "clear"]) == 0
    assert not cache.exists()
    assert main(["cache", "list"]) == 0 and "0 entries" in capsys.readouterr().out


def test_a_cached_gguf_too_big_for_memory_loads_with_disk_offload(gguf_file, cache):
    """Once converted, a GGUF is a safetensors folder: under a small budget it is offloaded, not refused."""
    from sw_core import memory_plan

    path, _ = gguf_file
    whole = load(str(path), device="cpu", dtype="float32")  # converts and caches
    (entry,) = _entries(cache)
    weights = memory_plan.count_safetensors(entry) * 4
    budget = memory_plan.working_bytes(weights) + weights // 2
    capped = load(str(path), device="cpu", dtype="float32", memory_budget=budget)
    assert capped.from_cache and capped.plan.offload and "disk" in set(capped.model.hf_device_map.values())
    ids = whole.encode("The capital of France is Paris.")
    with torch.no_grad():
        torch.testing.assert_close(capped.model(input_ids=ids).logits, whole.model(input_ids=ids).logits)
    conversion_cache.clear()  # not converted yet: it must be dequantized whole, which does not fit
    with pytest.raises(BadInput, match="dequantized whole in memory"):
        load(str(path), device="cpu", dtype="float32", memory_budget=budget)


def test_conversion_builds_each_name_table_once_and_equals_plain_transformers(gguf_file, cache, monkeypatch):
    """sw_core.gguf_reads: one header parse per file and one tensor-name table per (arch, layers)
    during a conversion, the library's functions back afterwards, and the weights and the tokenizer
    identical to transformers' own conversion."""
    import gguf
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, _ = gguf_file

    original_names, original_reader, built, parsed = gguf.get_tensor_name_map, gguf.GGUFReader, [], []

    def counted_names(arch, layers):
        built.append((arch, layers))
        return original_names(arch, layers)

    def counted_reader(*args, **kwargs):
        parsed.append(args[0])
        return original_reader(*args, **kwargs)

    monkeypatch.setattr(gguf, "get_tensor_name_map", counted_names)
    monkeypatch.setattr(gguf, "GGUFReader", counted_reader)
    ours = load(str(path), device="cpu", dtype="float32")
    assert len(built) == 1 and len(parsed) == 1  # config, weights and tokenizer share one parse
    assert gguf.get_tensor_name_map is counted_names and gguf.GGUFReader is counted_reader  # restored
    plain = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    assert len(built) > 3 and len(parsed) > 2  # without it: a table per module, a parse per reader
    text = "The capital of France is Paris."
    assert ours.tokenizer(text)["input_ids"] == tokenizer(text)["input_ids"]
    theirs = dict(plain.named_parameters())
    assert dict(ours.model.named_parameters()).keys() == theirs.keys()
    assert all(torch.equal(p, theirs[n]) for n, p in ours.model.named_parameters())
