"""The per-architecture adapters find every layer's down projection, viewed as [out, in]."""

import pytest
import torch

from sw_core.arch import ARCHITECTURES, down_projections, spec_for
from sw_core.errors import UnsupportedArchitecture
from sw_core.tiny import HIDDEN, INTER, TINY_TYPES, tiny_model


@pytest.mark.parametrize("model_type", TINY_TYPES)
def test_adapter_finds_every_layer(model_type):
    loaded = tiny_model(model_type, layers=3)
    projs = down_projections(loaded.model)
    assert [p.layer for p in projs] == [0, 1, 2]
    modules = dict(loaded.model.named_modules())
    for p in projs:
        assert modules[p.name] is p.module
        assert tuple(p.weight_view().shape) == (HIDDEN, INTER)
        assert (p.out_features, p.in_features) == (HIDDEN, INTER)


@pytest.mark.parametrize("model_type", ["gpt2", "llama", "gpt_neox", "opt", "phi3"])
def test_view_matches_module_behaviour(model_type):
    """A one-hot input at column c moves exactly the outputs W[:, c]; a planted W[r, c] moves row r."""
    proj = tiny_model(model_type, layers=2).layers[1]
    r, c = 17, 201
    with torch.no_grad():
        proj.weight_view()[r, c] = 1000.0  # the view writes through to the stored weight
        x = torch.zeros(1, 1, INTER)
        base = proj.module(x)
        x[..., c] = 1.0
        moved = (proj.module(x) - base).reshape(-1)
    assert int(moved.abs().argmax()) == r
    torch.testing.assert_close(moved, proj.weight_view()[:, c])


def test_gpt2_view_is_transposed_storage():
    proj = tiny_model("gpt2", layers=1).layers[0]
    assert proj.transposed
    assert tuple(proj.module.weight.shape) == (INTER, HIDDEN)  # Conv1D stores [in, out]
    assert proj.weight_view().data_ptr() == proj.module.weight.data_ptr()  # a view, not a copy


def test_unsupported_architecture_names_it_and_lists_supported():
    with pytest.raises(UnsupportedArchitecture) as err:
        spec_for("bloom")
    message = str(err.value)
    assert "'bloom'" in message
    for supported in ("llama", "gpt2", "gpt_neox", "opt", "phi3"):
        assert supported in message


def test_table_covers_the_promised_architectures():
    promised = {"llama", "mistral", "qwen2", "qwen3", "phi3", "olmo", "olmo2", "gemma", "gemma2",
                "gemma3_text", "gemma3", "gpt2", "gpt_neox", "opt"}
    assert promised <= set(ARCHITECTURES)
