"""The app's quantized copies stay within a byte budget (explorer/cached.py), on a tiny model."""

import pytest

from explorer import cached
from sw_core.quant import QuantSetting
from sw_core.quant.targets import decoder_linears
from sw_core.testing import tiny_model


@pytest.fixture
def tiny():
    cached.forget_quantized_copies()
    yield tiny_model("llama", layers=2, seed=0)
    cached.forget_quantized_copies()


def _linear_bytes(loaded, only: str | None = None) -> int:
    """Independent count: the float32 weights of the decoder's linear layers (what RTN replaces)."""
    return sum(t.weight_view().numel() * 4 for t in decoder_linears(loaded.model, loaded.layers)
               if only is None or only in t.name)


def test_a_copy_costs_the_bytes_of_the_weights_it_replaces(tiny):
    whole = cached.quantized_model(tiny, QuantSetting("rtn", block=32), ())
    down = cached.quantized_model(tiny, QuantSetting("rtn", block=32, modules="down_proj"), ())
    assert cached.own_bytes(whole, tiny) == _linear_bytes(tiny)
    assert cached.own_bytes(down, tiny) == _linear_bytes(tiny, "down_proj") < _linear_bytes(tiny)
    assert cached.quantized_model(tiny, QuantSetting("rtn", block=32), ()) is whole  # kept: the same copy


def test_least_recently_used_copies_leave_first_and_the_budget_holds(tiny, monkeypatch):
    one = _linear_bytes(tiny)
    monkeypatch.setattr(cached, "quant_budget_bytes", lambda: int(2.5 * one))  # room for two whole copies
    a, b, c = (QuantSetting("rtn", bits=bits, block=32) for bits in (3, 4, 5))
    qa = cached.quantized_model(tiny, a, ())
    cached.quantized_model(tiny, b, ())
    assert cached.quantized_model(tiny, a, ()) is qa  # a is now the most recently used
    cached.quantized_model(tiny, c, ())  # b leaves, not a
    assert cached.quantized_copies_kept() == {"copies": 2, "bytes": 2 * one, "budget": int(2.5 * one)}
    assert cached.quantized_model(tiny, a, ()) is qa
    assert cached.quantized_model(tiny, b, ()) is not None and cached.quantized_copies_kept()["bytes"] <= 2.5 * one


def test_a_copy_over_the_budget_is_used_but_not_kept(tiny, monkeypatch):
    monkeypatch.setenv("SW_QUANT_CACHE_MB", "0")
    q = cached.quantized_model(tiny, QuantSetting("rtn", block=32), ())
    assert q is not tiny and cached.quantized_copies_kept()["copies"] == 0
    monkeypatch.delenv("SW_QUANT_CACHE_MB")
    monkeypatch.setenv("SW_PUBLIC", "1")  # a public server keeps less: an all-layer copy is rebuilt when needed
    assert cached.quant_budget_bytes() == cached.PUBLIC_QUANT_BUDGET_MB << 20 < cached.DEFAULT_QUANT_BUDGET_MB << 20
    monkeypatch.setenv("SW_QUANT_CACHE_MB", "lots")
    with pytest.raises(Exception, match="SW_QUANT_CACHE_MB='lots' is not an integer"):
        cached.quant_budget_bytes()
