"""The quantization modes are registered once (sw_core.quant.settings.MODES): the CLI's rows, the
default comparison table and the app's choices all derive from that registry."""

import argparse

import pytest

from sw_core.cli import quantize as cli
from sw_core.errors import BadInput
from sw_core.quant import MODES, QuantSetting, standard_settings, table_rows, table_settings
from sw_core.quant.settings import Mode


def _cli_args(*argv):
    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    return p, p.parse_args(["--model", "embedded", *argv])


def test_the_table_rows_follow_the_registry():
    assert list(table_rows(every=True)) == ["fp", "rtn", "rtn-aware", "w8a8", "w8a8-aware",
                                            "bnb-int8", "bnb-nf4", "bnb-fp4"]
    assert "bnb-fp4" not in table_rows()  # left out of the default table
    assert [s.label for s in standard_settings(bits=3, block=32)] == [
        "full precision", "RTN int3 block 32 naive", "RTN int3 block 32 aware", "W8A8 per-tensor naive",
        "W8A8 per-tensor aware", "bnb LLM.int8 t=6", "bnb NF4"]


def test_each_mode_gets_only_the_options_it_reads():
    rows = dict(table_settings(["rtn-aware", "w8a8", "bnb-int8"], bits=3, block="row", granularity="token",
                               threshold=4.0, modules="mlp.down_proj"))
    assert rows["rtn-aware"] == QuantSetting("rtn", bits=3, block="row", aware=True, modules="mlp.down_proj")
    assert rows["w8a8"] == QuantSetting("w8a8", granularity="token", modules="mlp.down_proj")
    assert rows["bnb-int8"] == QuantSetting("bnb-int8", threshold=4.0)


def test_the_cli_offers_what_the_registry_holds(monkeypatch):
    p, args = _cli_args("--modes", "fp", "w8a8-aware", "--bits", "3")
    assert [(name, s.mode, s.aware) for name, s in cli.settings_from_args(args)] == [
        ("fp", "fp", False), ("w8a8-aware", "w8a8", True)]
    assert all(r in p.format_help() for r in table_rows(every=True))
    # A new mode is one registry entry: the CLI accepts it and its help names it.
    monkeypatch.setitem(MODES, "toy", Mode("a toy mode", ("bits",), aware_row=True, in_table=False))
    p, args = _cli_args("--modes", "toy-aware", "--bits", "5")
    assert "toy-aware" in p.format_help()
    assert cli.settings_from_args(args) == [("toy-aware", QuantSetting("toy", bits=5, aware=True))]


def test_an_unknown_row_names_every_choice():
    _, args = _cli_args("--modes", "rtn", "gptq")
    with pytest.raises(BadInput, match=r"Unknown mode\(s\) \['gptq'\]: choose from fp rtn rtn-aware .* bnb-fp4"):
        cli.settings_from_args(args)


def test_the_app_offers_every_registered_mode():
    from explorer.quant_controls import QUANT_MODES

    assert QUANT_MODES == {name: m.title for name, m in MODES.items()}
