"""Every page of the app driven by AppTest on the embedded model: no page raises, numbers move."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 240


def start(page: str | None = None, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if query:
        at.query_params.update(query)
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def metric(at: AppTest, label: str) -> str:
    for m in at.metric:
        if m.label == label:
            return m.value
    raise AssertionError(f"no metric {label!r} among {[m.label for m in at.metric]}")


def test_activations_page_shows_the_layer_11_spike_and_follows_the_prompt():
    at = start()
    assert not at.error
    assert metric(at, "Spike layer") == "11"
    assert metric(at, "Channels (in → out)").endswith("→ 507")
    first = metric(at, "Max |output|")
    at.text_area(key="act_prompt").set_value("Paris is the capital of France.").run()
    assert not at.exception
    assert metric(at, "Max |output|") != first  # a new forward pass, not a cached number
    assert at.query_params["prompt"] == "Paris is the capital of France."


def test_prompt_from_the_url_reproduces_the_view():
    at = start(query={"prompt": "The cat sat on the mat."})
    assert at.text_area(key="act_prompt").value == "The cat sat on the mat."
    assert metric(at, "Spike layer") == "11"


def test_bad_model_shows_an_error_not_a_traceback():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.text_input(key="model_ref").set_value("./no/such/model").run()
    assert not at.exception
    assert any("does not exist" in e.value for e in at.error)


def test_empty_prompt_is_explained():
    at = start()
    at.text_area(key="act_prompt").set_value("   ").run()
    assert not at.exception
    assert any("empty" in e.value for e in at.error)
