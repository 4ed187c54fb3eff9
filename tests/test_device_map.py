"""Models larger than one device: scans, detection and edits work unchanged on a sharded model.

A tiny Llama (with a planted super weight) is saved as safetensors and loaded through
`sw_core.loading.load(..., device_map=...)` with its layers spread over the devices this machine
has: "disk" and "cpu" always (accelerate then keeps offloaded weights on 'meta' and streams them in
per forward, exactly as for a 70B model offloaded from GPUs), plus "cuda:0" when a GPU is visible.
Every result must equal the same call on the unsplit model.
"""

import pytest
import torch

from sw_core.detect import find_super_weights
from sw_core.edits import ActivationPin, Coord, Edit, applied, off
from sw_core.loading import load
from sw_core.scan import scan

PLANTED = Coord(layer=1, row=5, col=7)
PROMPT = "The capital of France is Paris, and the capital of Italy is Rome."


def _devices() -> list:
    """The places to spread layers over here: a GPU first when there is one, then CPU, then disk."""
    return ([0] if torch.cuda.is_available() else []) + ["cpu", "disk"]


def _device_map(devices: list, layers: int = 4) -> dict:
    # Embeddings on the first device, the head on the last non-disk one, layers round-robin:
    # the planted layer 1 lands on "cpu" (offloaded) or "disk" depending on the machine.
    dm = {"model.embed_tokens": devices[0], "model.rotary_emb": devices[0]}
    for i in range(layers):
        dm[f"model.layers.{i}"] = devices[i % len(devices)]
    dm["model.norm"] = devices[0]
    dm["lm_head"] = devices[0]
    return dm


@pytest.fixture(scope="module")
def folder(tmp_path_factory, embedded):
    """A 4-layer Llama with the embedded model's tokenizer, one weight made 'super', on disk."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    path = tmp_path_factory.mktemp("tiny-llama")
    cfg = LlamaConfig(vocab_size=len(embedded.tokenizer), hidden_size=64, intermediate_size=256,
                      num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4,
                      max_position_embeddings=256, tie_word_embeddings=False)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    with torch.no_grad():
        model.model.layers[PLANTED.layer].mlp.down_proj.weight[PLANTED.row, PLANTED.col] = 2000.0
    model.save_pretrained(path)  # safetensors
    embedded.tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def whole(folder):
    return load(str(folder), device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def sharded(folder):
    return load(str(folder), dtype="float32", device_map=_device_map(_devices()))


def _logits(loaded, edit=None):
    ids = loaded.encode(PROMPT).to(loaded.input_device)
    with torch.no_grad(), applied(loaded, edit):
        return loaded.model(input_ids=ids, use_cache=False).logits.float().cpu()


def test_load_spreads_layers_and_offloads_weights(sharded, whole):
    assert sharded.model.hf_device_map == _device_map(_devices())
    offloaded = [p for p in sharded.layers if p.module.weight.is_meta]
    assert offloaded, "some down projections should be offloaded (weights on 'meta' between passes)"
    for p in sharded.layers:  # the offloaded copies read back equal to the unsplit weights
        torch.testing.assert_close(p.dense_weight().float().cpu(), whole.layers[p.layer].dense_weight())
    assert sharded.layers[PLANTED.layer].weight_view()[PLANTED.row, PLANTED.col].item() == 2000.0


def test_edit_on_shards_equals_edit_on_unsplit_model(sharded, whole):
    plain = _logits(whole)
    torch.testing.assert_close(_logits(sharded), plain, atol=1e-4, rtol=1e-4)
    for edit in (off(PLANTED), Edit.of({PLANTED: 0.0, Coord(2, 3, 11): 2.5},
                                       pins=[ActivationPin(PLANTED.layer, PLANTED.row, 0, None)])):
        edited = _logits(whole, edit)
        assert (edited - plain).abs().max() > 1e-2  # the edit changes the output...
        torch.testing.assert_close(_logits(sharded, edit), edited, atol=1e-4, rtol=1e-4)  # ...identically


def test_edits_on_shards_never_write_weights(sharded):
    before = [p.dense_weight().float().cpu().clone() for p in sharded.layers]
    _logits(sharded, off(PLANTED))
    for p, w in zip(sharded.layers, before):
        assert torch.equal(p.dense_weight().float().cpu(), w)


def test_scan_on_shards_equals_scan_on_unsplit_model(sharded, whole):
    a, b = scan(whole, PROMPT), scan(sharded, PROMPT)
    assert [(s.in_token, s.in_channel, s.out_token, s.out_channel) for s in a.layers] == \
           [(s.in_token, s.in_channel, s.out_token, s.out_channel) for s in b.layers]
    for x, y in zip(a.layers, b.layers):
        assert x.in_max == pytest.approx(y.in_max, rel=1e-4)
        assert x.out_value == pytest.approx(y.out_value, rel=1e-4)
        assert x.out_median == pytest.approx(y.out_median, rel=1e-3, abs=1e-6)
    # The planted weight makes the largest spike, at its row, in both.
    top = max(b.layers, key=lambda s: s.out_max)
    assert (top.layer, top.out_channel) == (PLANTED.layer, PLANTED.row)


def test_detection_on_shards_finds_the_planted_weight(sharded, whole):
    # The spike rules (a random tiny model depends on nothing, so the perplexity check is off).
    a, b = find_super_weights(whole, PROMPT, verify=False), find_super_weights(sharded, PROMPT, verify=False)
    assert PLANTED in b.coords()
    assert b.coords() == a.coords()


def test_accelerate_auto_map_under_a_memory_cap(folder, whole):
    """infer_auto_device_map with max_memory (how a 70B model is planned) also gives equal edits."""
    from accelerate import infer_auto_device_map, init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(folder)
    with init_empty_weights():
        skeleton = AutoModelForCausalLM.from_config(config)
    # Room for the embeddings and about one decoder layer in memory: the rest must go to disk.
    layer_bytes = sum(t.numel() * 4 for t in skeleton.model.layers[0].parameters())
    embed_bytes = sum(t.numel() * 4 for t in skeleton.model.embed_tokens.parameters())
    budget = {"cpu": 2 * embed_bytes + layer_bytes + 4096}
    if torch.cuda.is_available():
        budget = {0: budget["cpu"], "cpu": budget["cpu"]}
    dm = infer_auto_device_map(skeleton, max_memory=budget, no_split_module_classes=["LlamaDecoderLayer"],
                               dtype=torch.float32)
    assert "disk" in set(dm.values())
    capped = load(str(folder), dtype="float32", device_map=dm)
    torch.testing.assert_close(_logits(capped, off(PLANTED)), _logits(whole, off(PLANTED)), atol=1e-4, rtol=1e-4)
