"""The Quantization page (AppTest, embedded model): it opens on the lesson, every error shows on the
page itself (never in a collapsed box), unusable URL values are ignored with the reason, and the
usual block sizes run on the model's 576-wide rows. One AppTest session per test, each kept short."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from explorer.quant_controls import LESSON

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PAGE = "app_pages/quantization.py"


def _quant_page(query: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params.update(query)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def _ppl(at: AppTest, side: str) -> float:
    return float(next(m for m in at.metric if m.label == f"Perplexity, {side}").value.replace(",", ""))


def _errors_in_collapsed_boxes(at: AppTest) -> list[str]:
    return [e.value for box in at.expander for e in box.error] + [e.value for box in at.status for e in box.error]


def test_opens_on_the_lesson_ignores_a_bad_url_value_and_runs_block_128():
    # An unusable value for A is ignored with the reason; A falls back to the lesson's naive side.
    at = _quant_page({"qa": "rtn;block=100", "qb": "bnb-fp5"})
    warnings = [w.value for w in at.warning]
    assert ("Ignored the link's qa=rtn;block=100: block must be one of 32, 64, 128, 256, 512, row or tensor, "
            "not '100'.") in warnings, warnings  # one problem, in the widget's own words
    assert any("Ignored the link's qb=bnb-fp5" in w and "Unknown quantization mode" in w for w in warnings)
    assert "qa" not in at.query_params or "100" not in at.query_params["qa"]  # the refused value left the link
    assert not at.error
    naive, aware, original = _ppl(at, "A"), _ppl(at, "B"), _ppl(at, "original")
    assert naive >= 3 * aware and aware < 3 * original, (naive, aware, original)
    texts = [c.value for c in at.code]
    assert len(texts) == 2 and "Paris" in texts[1] and "Paris" not in texts[0], texts
    # the super weights: crushed by naive clipping, exact when held out
    values = at.dataframe[-1].value
    a, b = values[values.setting.str.startswith("A")], values[values.setting.str.startswith("B")]
    assert (a["relative error"] > 0.5).all() and (b["quantized"] == b["original"]).all()
    assert at.query_params["qa"] == LESSON[0]  # the URL says what is shown, not the ignored value
    # block 128 does not divide the 576-wide rows of the attention and MLP inputs: a ragged last block
    at.radio(key="qa_modules").set_value("all linear layers")
    at.selectbox(key="qa_block").set_value("128").run()
    assert not at.exception and not at.error
    assert at.query_params["qa"] == "rtn;clip_z=4"  # block 128 and all layers are the defaults
    assert at.dataframe[0].value["setting"][1] == "A: RTN int4 block 128 clip z=4 naive"
    assert _ppl(at, "A") not in (naive, original)  # a new copy measured, not a cached number


def test_an_error_shows_on_the_page_not_in_a_collapsed_box(monkeypatch):
    import sw_core.quant
    from sw_core.errors import BadInput

    def refuse(*args, **kwargs):
        raise BadInput("this setting cannot be built here: try another")

    monkeypatch.setattr(sw_core.quant, "quantized", refuse)
    at = _quant_page({"qa": "rtn;bits=3;block=64", "qb": "rtn;bits=3;block=64;aware=1"})  # not cached by the other test
    assert any("cannot be built here" in e.value for e in at.error)
    assert not _errors_in_collapsed_boxes(at)
