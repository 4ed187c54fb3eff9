"""Every measured table in README.md and docs/*.md is what `make numbers` renders from the stored
outputs (docs/numbers/*.json, bench/results.json): a stale number fails here. No model runs."""

import json

import pytest

from bench import numbers, numbers_render as render


def test_every_document_block_matches_the_stored_measurements():
    assert numbers.check() == [], "run `make numbers` (or `python -m bench.numbers`) and commit the result"


def test_the_docs_hold_the_blocks_the_app_numbers_need():
    names = {m.group(2) for doc in render.documents() for m in render.BLOCK.finditer(doc.read_text())}
    assert {"app-perplexity", "app-quantization", "quant-lesson", "deploy-memory"} <= names


def test_a_changed_measurement_makes_its_block_stale(tmp_path, monkeypatch):
    stored = json.loads((render.NUMBERS / "app.json").read_text())
    doc = f"intro\n<!-- numbers:app-perplexity -->\n{render.app_perplexity()}<!-- /numbers:app-perplexity -->\nend\n"
    assert render.stale_blocks(doc) == [] and render.filled(doc) == doc
    stored["edits"][0]["perplexity"] += 1.0  # a re-measurement that differs from what the doc shows
    (tmp_path / "app.json").write_text(json.dumps(stored))
    monkeypatch.setattr(render, "NUMBERS", tmp_path)
    assert render.stale_blocks(doc) == ["app-perplexity"]
    refreshed = render.filled(doc)
    assert refreshed.startswith("intro\n") and refreshed.endswith("end\n")
    assert f"| original | {stored['edits'][0]['perplexity']:,.2f} |" in refreshed


def test_an_unknown_block_name_is_an_error():
    with pytest.raises(KeyError, match="unknown numbers block 'nope'"):
        render.filled("<!-- numbers:nope -->\nx\n<!-- /numbers:nope -->")
