"""The report: every section on a planted tiny model, the "cannot run" path on an unplanted one,
the scale sweep against a deep copy with the weight scaled in place, and once on the embedded
model with small settings, where the sweep's 0 and 1 must equal the impact command's numbers."""

import copy
import dataclasses
import json
import re

import pytest
import torch

from sw_core import texts as shipped
from sw_core.report import SECTIONS, ReportSettings, build_report, write_report
from sw_core.report.numbers import Percent, cell, num, pct, plural, times
from sw_core.testing import plant_super_weight, tiny_model
from sw_core.testing import teach_head

KEYS = ["detection", "table1", "scale_sweep", "block_sweep", "mechanism"]  # the keys
TEXT = ("The exact date of his birth is not known. His father, John Shakespeare, was a burgess of the recently "
        "constituted corporation of Stratford, and had already filled certain minor municipal offices.")
SMALL = ReportSettings(max_tokens=64, window=64, questions=8, sweep_questions=8, stop_prompts=8, scales=(0, 2, 3),
                       weight_sweep_scales=(0, 3), weight_sweep_tokens=32, weight_sweep_questions=4,
                       blocks=(64, "row", "tensor"), block_tokens=64, validate_prompts=False, vocabulary=False)


def planted():
    loaded = tiny_model("llama", layers=4, seed=0)
    coord = plant_super_weight(loaded, seed=0)
    teach_head(loaded, TEXT)
    return loaded, coord


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory):
    loaded, coord = planted()
    calls = []
    report = build_report(loaded, SMALL, progress=lambda s, done, total, elapsed: calls.append((s.key, done, total)))
    out = tmp_path_factory.mktemp("tiny_report")
    write_report(report, out)
    return loaded, coord, report, out, calls


def test_every_section_runs_and_is_written(tiny_report):
    loaded, coord, report, out, calls = tiny_report
    assert calls == [(k, i + 1, len(SECTIONS)) for i, k in enumerate(SECTIONS)]  # progress per section
    data = json.loads((out / "report.json").read_text())
    assert set(KEYS + ["model"]) <= set(data)
    assert all(data[k]["ran"] and data[k]["why_not"] is None for k in SECTIONS), {k: data[k]["why_not"] for k in SECTIONS}
    assert data["model"]["name"] == loaded.name and data["model"]["package_version"]
    found = [[w["layer"], w["row"], w["col"]] for w in data["detection"]["result"]["super_weights"]]
    assert found == [[coord.layer, coord.row, coord.col]]
    page = (out / "report.html").read_text()
    assert page.count("<h2>") == len(SECTIONS) and "could not run" not in page
    assert page.count("plotly.js v") == 1  # the library inlined once, not per figure
    assert "<script src=" not in page and 'src="http' not in page  # nothing to fetch


def test_the_scale_sweep_anchors_on_table1_and_agrees_with_a_deep_copy(tiny_report):
    loaded, coord, report, out, _ = tiny_report
    data = json.loads((out / "report.json").read_text())
    rows = {r["condition"]: r for r in data["table1"]["rows"]}
    points = {p["scale"]: p for p in data["scale_sweep"]["points"]}
    assert sorted(points) == [0.0, 1.0, 2.0, 3.0]
    assert points[0.0]["perplexity"] == rows["sw_off"]["perplexity"]
    assert points[1.0]["perplexity"] == rows["original"]["perplexity"]
    best = min(points.values(), key=lambda p: p["mean_perplexity"])["scale"]
    assert data["scale_sweep"]["best_perplexity_scale"] == best
    for factor in (0.0, 2.0):  # an own loop on a deep copy with the weight scaled in place
        model = copy.deepcopy(loaded.model)
        with torch.no_grad():
            model.get_submodule(loaded.layers[coord.layer].name).weight[coord.row, coord.col] *= factor
            for name in SMALL.texts:
                ids = loaded.encode(shipped.text(name))[:, :SMALL.max_tokens]
                logits = model(input_ids=ids).logits[0, :-1].double()
                ref = float(torch.exp(torch.nn.functional.cross_entropy(logits, ids[0, 1:])))
                assert points[factor]["perplexity"][name] == pytest.approx(ref, rel=1e-4)


def test_a_sweep_of_only_0_and_1_takes_both_points_from_table1():
    """Scales 0 and 1 alone: Table 1 measured both, so the sweep measures nothing (it once ran an
    empty batch and failed)."""
    loaded, _ = planted()
    settings = dataclasses.replace(SMALL, scales=(0.0,), blocks=("tensor",))
    report = build_report(loaded, settings, sections=["detection", "table1", "scale_sweep"])
    table1, sweep = report.sections[1], report.sections[2]
    assert sweep.ran, sweep.why_not
    rows = {r["condition"]: r for r in table1.data["rows"]}
    points = {p["scale"]: p for p in sweep.data["points"]}
    assert sorted(points) == [0.0, 1.0] and {p["from"] for p in points.values()} == {"table1.sw_off", "table1.original"}
    assert points[0.0]["perplexity"] == rows["sw_off"]["perplexity"]


def test_a_model_without_super_weights_says_why_per_section(tmp_path):
    loaded = tiny_model("llama", layers=4, seed=3)
    teach_head(loaded, TEXT)
    report = build_report(loaded, SMALL)
    write_report(report, tmp_path)
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["detection"]["ran"] and not data["detection"]["result"]["found"]
    for key in ("table1", "scale_sweep", "mechanism"):
        assert not data[key]["ran"] and "No super weight was found" in data[key]["why_not"]
    assert data["block_sweep"]["ran"] and {p["aware"] for p in data["block_sweep"]["points"]} == {False}
    page = (tmp_path / "report.html").read_text()
    assert page.count("<h2>") == len(SECTIONS) and page.count("could not run") == 3


def test_bad_settings_are_refused_with_a_clear_message():
    from sw_core.errors import BadInput

    with pytest.raises(BadInput, match="scales"):
        ReportSettings(scales=(-1,)).check()
    with pytest.raises(BadInput, match="at least 8 tokens"):
        ReportSettings(max_tokens=2).check()


# The embedded model's report at a small size, as command-line flags: every section runs, on the
# fewest tokens, questions, scales and blocks that still test the report against the impact command.
EMBEDDED = dataclasses.replace(SMALL, max_tokens=48, window=48, questions=4, sweep_questions=4, stop_prompts=4,
                               scales=(0, 3), weight_sweep_scales=(0,), weight_sweep_tokens=16,
                               weight_sweep_questions=2, weight_sweep_max=1, blocks=("tensor",), block_tokens=32)
EMBEDDED_ARGS = ["--max-tokens", "48", "--window", "48", "--questions", "4", "--sweep-questions", "4",
                 "--stop-prompts", "4", "--scales", "0", "3", "--weight-sweep-scales", "0", "--weight-sweep-tokens", "16",
                 "--weight-sweep-questions", "2", "--weight-sweep-max", "1", "--blocks", "tensor", "--block-tokens", "32",
                 "--no-validate", "--no-vocabulary"]


def test_the_command_refuses_bad_blocks_before_loading(capsys):
    from sw_core.__main__ import main

    assert main(["report", "--model", "no/such-model", "--blocks", "big"]) == 2
    assert "--blocks 'big'" in capsys.readouterr().err


def test_embedded_report_matches_the_impact_command(tmp_path, capsys):
    from sw_core.__main__ import main

    assert main(["report", "--model", "embedded", "--device", "cpu", "--out", str(tmp_path / "report"), *EMBEDDED_ARGS]) == 0
    err = capsys.readouterr().err
    for i, (title, _) in enumerate(SECTIONS.values()):  # one progress line per section, with its time
        assert f"[{i + 1}/{len(SECTIONS)}] {title}: done (" in err
    data = json.loads((tmp_path / "report" / "report.json").read_text())
    assert data["settings"] == json.loads(json.dumps(dataclasses.asdict(EMBEDDED)))  # the flags are EMBEDDED
    assert all(data[k]["ran"] for k in SECTIONS), {k: data[k]["why_not"] for k in SECTIONS}
    coords = [(w["layer"], w["row"], w["col"]) for w in data["detection"]["result"]["super_weights"]]
    assert coords == [(11, 507, 1229), (11, 507, 1487)]
    assert main(["impact", "--model", "embedded", "--device", "cpu", "--texts", *EMBEDDED.texts,
                 "--weights", *(f"{layer}:{row}:{col}" for layer, row, col in coords),  # detection is tested above
                 "--max-tokens", str(EMBEDDED.max_tokens), "--window", str(EMBEDDED.window),
                 "--stride", str(EMBEDDED.window), "--questions", str(EMBEDDED.questions), "--stop-prompts", "0",
                 "--json", str(tmp_path / "impact.json")]) == 0
    impact = {r["condition"]: r for r in json.loads((tmp_path / "impact.json").read_text())["rows"]}
    points = {p["scale"]: p for p in data["scale_sweep"]["points"]}
    for factor, condition in ((0.0, "sw_off"), (1.0, "original")):
        for name in EMBEDDED.texts:
            assert points[factor]["perplexity"][name] == pytest.approx(impact[condition]["perplexity"][name], rel=1e-6)
        assert points[factor]["zero_shot_accuracy"] == impact[condition]["zero_shot_accuracy"]
    assert points[0.0]["mean_perplexity"] > 100 * points[1.0]["mean_perplexity"]  # removing them breaks the model
    block = data["block_sweep"]
    assert all(p["perplexity"] > block["full_precision"] * 0.99 for p in block["points"])


def test_report_json_is_strict_json(tiny_report):
    *_, out, _ = tiny_report
    text = (out / "report.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


def test_without_the_zero_shot_set_the_tables_say_why(monkeypatch):
    from sw_core.errors import BadInput
    from sw_core.metrics import zeroshot

    def missing():
        raise BadInput("The zero-shot set comes from the 'chatterbot-corpus' package, which is not installed.")

    monkeypatch.setattr(zeroshot, "trivia_pairs", missing)  # as on an install without the package
    loaded, _ = planted()
    report = build_report(loaded, SMALL, sections=["detection", "table1", "scale_sweep"])
    table1, sweep = report.sections[1], report.sections[2]
    assert table1.ran and sweep.ran  # perplexity and stop words still run
    for s in (table1, sweep):
        assert any("zero-shot accuracy cannot run" in n and "chatterbot-corpus" in n for n in s.notes)
    assert all(r["zero_shot_accuracy"] is None for r in table1.data["rows"])
    assert all(p["zero_shot_accuracy"] is None for p in sweep.data["points"])


def test_each_super_weight_is_swept_alone_against_a_deep_copy():
    loaded = tiny_model("llama", layers=4, seed=0)
    coords = [plant_super_weight(loaded, 0, 5, 10, seed=0), plant_super_weight(loaded, 1, 20, 40, weight=-40.0, seed=0)]
    teach_head(loaded, TEXT)
    settings = dataclasses.replace(SMALL, weight_sweep_tokens=32, weight_sweep_scales=(0, 2), weight_sweep_questions=4)
    report = build_report(loaded, settings, sections=["detection", "table1", "scale_sweep"])
    sweep = report.sections[2].data
    assert sweep["scaled_together"] and [p["scale"] for p in sweep["points"]] == [0.0, 1.0, 2.0, 3.0]  # joint kept
    per = sweep["per_weight"]
    assert per["settings"]["max_tokens"] == 32 and per["settings"]["questions"] == 4
    assert sorted(w["label"] for w in per["weights"]) == sorted(str(c) for c in coords)
    for w in per["weights"]:
        coord = next(c for c in coords if str(c) == w["label"])
        points = {p["scale"]: p for p in w["points"]}
        assert sorted(points) == [0.0, 1.0, 2.0]
        assert w["best_perplexity_scale"] == min(points.values(), key=lambda p: p["mean_perplexity"])["scale"]
        for factor in (0.0, 1.0, 2.0):  # this weight scaled in place on a deep copy, the other untouched
            model = copy.deepcopy(loaded.model)
            with torch.no_grad():
                model.get_submodule(loaded.layers[coord.layer].name).weight[coord.row, coord.col] *= factor
                for name in settings.texts:
                    ids = loaded.encode(shipped.text(name))[:, :32]
                    logits = model(input_ids=ids).logits[0, :-1].double()
                    ref = float(torch.exp(torch.nn.functional.cross_entropy(logits, ids[0, 1:])))
                    assert points[factor]["perplexity"][name] == pytest.approx(ref, rel=1e-4)
        assert points[0.0]["mean_perplexity"] > 2 * points[1.0]["mean_perplexity"]  # each plant matters alone
    page = report.html()
    assert "each super weight alone" in page and page.count("★") >= 2  # both sweeps mark their optimum


def test_one_super_weight_has_no_separate_per_weight_sweep(tiny_report):
    *_, out, _ = tiny_report
    sweep = json.loads((out / "report.json").read_text())["scale_sweep"]
    assert sweep["per_weight"] is None
    assert any("its own per-weight sweep" in n for n in next(s for s in tiny_report[2].sections
                                                            if s.key == "scale_sweep").notes)


def test_the_block_sweep_includes_the_whole_tensor(tiny_report):
    *_, out, _ = tiny_report
    block = json.loads((out / "report.json").read_text())["block_sweep"]
    assert {p["block"] for p in block["points"]} == {64, "row", "tensor"}
    tensor = [p for p in block["points"] if p["block"] == "tensor"]
    assert len(tensor) == 4 and all(p["label"].startswith("RTN int4 per tensor") for p in tensor)
    page = (out / "report.html").read_text()
    assert "whole tensor" in page and "whole row" in page


SCIENTIFIC = re.compile(r"\b\d+(?:\.\d+)?e[+-]?\d+\b", re.IGNORECASE)


def test_every_number_a_reader_sees_is_plain(tiny_report):
    """Tables, notes and figure labels: no 1.872e+06, accuracy as %, plurals right; the JSON keeps raw numbers."""
    *_, report, out, _ = tiny_report
    page = (out / "report.html").read_text()
    text = re.sub(r"<(script|style).*?</\1>", "", page, flags=re.S)  # plotly.js, the figures' data, the CSS
    shown = re.sub(r"<[^>]+>", " ", text)
    assert not SCIENTIFIC.findall(shown), SCIENTIFIC.findall(shown)[:5]
    assert "(s)" not in shown and "super weights off" in shown
    for s in report.sections:
        for fig in s.figures:
            labels = [t.name or "" for t in fig.data] + [fig.layout.title.text or ""]
            labels += [a.text or "" for a in fig.layout.annotations]
            assert not any(SCIENTIFIC.search(x) for x in labels), labels
    table1 = next(s for s in report.sections if s.key == "table1")
    accuracy = [r["zero-shot accuracy (trivia)"] for _, rows in table1.tables[:1] for r in rows]
    assert all(re.fullmatch(r"\d+(\.\d)?%", cell(a)) for a in accuracy)
    data = json.loads((out / "report.json").read_text())
    assert all(0 <= r["zero_shot_accuracy"] <= 1 for r in data["table1"]["rows"])  # data stays a fraction


@pytest.mark.parametrize("value, text", [
    (1871931.59, "1.87M"), (267197.48, "267,197"), (24022.4, "24,022"), (26.9419, "26.94"), (0.7329, "0.733"),
    (8.553e-05, "0.000086"), (2.8e22, "2.8 × 10²²"), (9.96e39, "1 × 10⁴⁰"), (1e-9, "<0.000001"), (-14217.0, "-14,217"), (0.0, "0"),
    (3.0, "3"), (12345, "12,345"), (507, "507"), (None, "-"), (float("inf"), "∞")])
def test_numbers_read_without_scientific_notation(value, text):
    assert num(value) == text


def test_percentages_ratios_and_plurals():
    assert [pct(0.225), pct(0.7), pct(0.725), pct(1.0)] == ["22.5%", "70%", "72.5%", "100%"]
    assert cell(Percent(0.225)) == "22.5%" and cell(0.225) == "0.225" and cell("row") == "row"
    assert times(53518.2) == "x53,518" and times(1.0012) == "x1.001"
    assert plural(1, "super weight") == "1 super weight" and plural(2, "super weight") == "2 super weights"
    assert plural(0, "question") == "0 questions"
