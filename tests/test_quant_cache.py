"""The app's quantized copies stay within a byte budget (explorer/quant_cache.py), on a tiny model."""

import pytest

from explorer import quant_cache
from sw_core.quant import QuantSetting
from sw_core.quant.targets import decoder_linears
from sw_core.testing import tiny_model


@pytest.fixture
def tiny():
    quant_cache.clear()
    yield tiny_model("llama", layers=2, seed=0)
    quant_cache.clear()


def _linear_bytes(loaded, only: str | None = None) -> int:
    """Independent count: the float32 weights of the decoder's linear layers (what RTN replaces)."""
    return sum(t.weight_view().numel() * 4 for t in decoder_linears(loaded.model, loaded.layers)
               if only is None or only in t.name)


def test_a_copy_costs_the_bytes_of_the_weights_it_replaces(tiny):
    whole = quant_cache.quantized_model(tiny, QuantSetting("rtn", block=32), ())
    down = quant_cache.quantized_model(tiny, QuantSetting("rtn", block=32, modules="down_proj"), ())
    assert quant_cache.own_bytes(whole, tiny) == _linear_bytes(tiny)
    assert quant_cache.own_bytes(down, tiny) == _linear_bytes(tiny, "down_proj") < _linear_bytes(tiny)
    assert quant_cache.quantized_model(tiny, QuantSetting("rtn", block=32), ()) is whole  # kept: the same copy


def test_least_recently_used_copies_leave_first_and_the_budget_holds(tiny, monkeypatch):
    one = _linear_bytes(tiny)
    monkeypatch.setattr(quant_cache, "budget_bytes", lambda: int(2.5 * one))  # room for two whole copies
    a, b, c = (QuantSetting("rtn", bits=bits, block=32) for bits in (3, 4, 5))
    qa = quant_cache.quantized_model(tiny, a, ())
    quant_cache.quantized_model(tiny, b, ())
    assert quant_cache.quantized_model(tiny, a, ()) is qa  # a is now the most recently used
    quant_cache.quantized_model(tiny, c, ())  # b leaves, not a
    assert quant_cache.kept() == {"copies": 2, "bytes": 2 * one, "budget": int(2.5 * one)}
    assert quant_cache.quantized_model(tiny, a, ()) is qa
    assert quant_cache.quantized_model(tiny, b, ()) is not None and quant_cache.kept()["bytes"] <= 2.5 * one


def test_a_copy_over_the_budget_is_used_but_not_kept(tiny, monkeypatch):
    monkeypatch.setenv("SW_QUANT_CACHE_MB", "0")
    q = quant_cache.quantized_model(tiny, QuantSetting("rtn", block=32), ())
    assert q is not tiny and quant_cache.kept()["copies"] == 0
    monkeypatch.delenv("SW_QUANT_CACHE_MB")
    monkeypatch.setenv("SW_PUBLIC", "1")  # a public server keeps less: an all-layer copy is rebuilt when needed
    assert quant_cache.budget_bytes() == quant_cache.PUBLIC_BUDGET_MB << 20 < quant_cache.DEFAULT_BUDGET_MB << 20
    monkeypatch.setenv("SW_QUANT_CACHE_MB", "lots")
    with pytest.raises(Exception, match="SW_QUANT_CACHE_MB='lots' is not an integer"):
        quant_cache.budget_bytes()
