"""The detect and report commands derive their options from the settings dataclasses: one option per
field, the field's default, and a value given on the command line reaches the settings."""

import argparse
import dataclasses
import json

import pytest

from sw_core.cli import detect as detect_cli
from sw_core.cli import report as report_cli
from sw_core.detect import Rules
from sw_core.errors import BadInput
from sw_core.report.settings import ReportSettings, quick_settings
from sw_core.testing import plant_super_weight, tiny_model


def parser(command) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    command.add_arguments(p)
    return p


@pytest.mark.parametrize("command, cls", [(report_cli, ReportSettings), (detect_cli, Rules)])
def test_every_field_is_an_option_with_the_field_default(command, cls):
    actions = {a.dest: a for a in parser(command)._actions}
    for f in dataclasses.fields(cls):
        assert f.name in actions, f"{f.name}: no option"
        assert actions[f.name].default == f.default, f.name
        assert f.metadata["help"].replace("%", "%%") in actions[f.name].help  # the field's own help


def test_no_options_give_the_default_settings():
    args = parser(report_cli).parse_args([])
    assert report_cli.settings_from_args(args) == ReportSettings()


def test_options_reach_the_report_settings():
    """quick_settings() written as flags, plus the fields only the command line used to lack."""
    quick = quick_settings()
    argv = ["--max-tokens", "64", "--window", "64", "--questions", "8", "--sweep-questions", "8",
            "--stop-prompts", "8", "--scales", "0", "1", "2", "3", "--weight-sweep-scales", "0", "1", "3",
            "--weight-sweep-tokens", "64", "--weight-sweep-questions", "4", "--blocks", "64", "row", "tensor",
            "--block-tokens", "64", "--no-validate", "--no-vocabulary",
            "--prompt", "Hello", "--texts", "britannica", "--block-text", "shakespeare", "--clip-z", "2.5",
            "--control-k", "7"]
    got = report_cli.settings_from_args(parser(report_cli).parse_args(argv))
    assert got == dataclasses.replace(quick, prompt="Hello", texts=("britannica",), block_text="shakespeare",
                                      clip_z=2.5, control_k=7)
    assert got.blocks == (64, "row", "tensor") and isinstance(got.scales, tuple)


def test_a_bad_value_names_its_option():
    with pytest.raises(BadInput, match="--blocks 'big'"):
        report_cli.settings_from_args(parser(report_cli).parse_args(["--blocks", "64", "big"]))
    with pytest.raises(BadInput, match="non-empty detection prompt"):
        report_cli.settings_from_args(parser(report_cli).parse_args(["--prompt", " "]))
    with pytest.raises(BadInput, match="control_k=0"):
        report_cli.settings_from_args(parser(report_cli).parse_args(["--control-k", "0"]))


def test_detect_options_reach_the_detection(monkeypatch, tmp_path, capsys):
    loaded = tiny_model("llama", layers=4, seed=0)
    coord = plant_super_weight(loaded, seed=0)
    monkeypatch.setattr(detect_cli, "load_from_args", lambda args: loaded)

    def detect(*argv):
        out = tmp_path / "d.json"
        args = parser(detect_cli).parse_args(["--no-verify", "--json", str(out), *argv])
        assert detect_cli.run(args) == 0
        return json.loads(out.read_text())

    found = detect()
    assert [(w["layer"], w["row"], w["col"]) for w in found["super_weights"]] == [(coord.layer, coord.row, coord.col)]
    assert found["threshold"] == Rules.threshold
    high = found["max_spike_ratio"] * 2  # above the planted spike: nothing is followed
    none = detect("--threshold", str(high), "--far", str(high))
    assert none["threshold"] == high and none["far"] == high and none["super_weights"] == []
    assert "none found" in capsys.readouterr().out
    with pytest.raises(BadInput, match="weak 2.0 must be in"):
        detect("--weak", "2")
