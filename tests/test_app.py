"""Every page of the app driven by AppTest on the embedded model: no page raises, numbers move."""

from pathlib import Path

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


def test_super_weights_page_toggle_breaks_perplexity_and_text():
    at = start("app_pages/super_weights.py")
    assert not at.error
    table = at.dataframe[0].value
    assert {(r.layer, r.row, r.col) for r in table.itertuples()} == {(11, 507, 1229), (11, 507, 1487)}
    before = float(metric(at, "Perplexity, original"))
    assert metric(at, "Perplexity, edited") == metric(at, "Perplexity, original")
    original_text = at.code[-1].value
    for t in ("sw_on_11_507_1229", "sw_on_11_507_1487"):
        at.toggle(key=t).set_value(False)
    at.run()
    assert not at.exception
    after = float(metric(at, "Perplexity, edited").replace(",", ""))
    assert after >= 3 * before
    assert at.code[-1].value != original_text and at.code[-2].value == original_text
    assert at.query_params["sw"] == "11.507.1229=0,11.507.1487=0"
    at.toggle(key="sw_restore").set_value(True).run()  # the paper's "+SA": most of the damage undone
    restored = float(metric(at, "Perplexity, edited").replace(",", ""))
    assert restored < after / 100


def test_edit_in_the_url_reproduces_the_view():
    at = start(query={"sw": "11.507.1229=0"})
    at.switch_page("app_pages/super_weights.py").run()
    assert not at.exception
    assert at.toggle(key="sw_on_11_507_1229").value is False and at.toggle(key="sw_on_11_507_1487").value is True
    ratio = float(metric(at, "Perplexity, edited").replace(",", "")) / float(metric(at, "Perplexity, original"))
    assert ratio > 2  # one of the two weights off: measured 13.8 -> 49 on a longer text


def test_classroom_button_removes_the_super_weight():
    at = start("app_pages/classroom.py")
    ppl = float(metric(at, "Perplexity (lower is better)").replace(",", ""))
    at.button(key="class_button").click().run()
    assert not at.exception
    assert float(metric(at, "Perplexity (lower is better)").replace(",", "")) > 3 * ppl
    assert at.query_params["removed"] == "1"
    assert at.code[0].value != at.code[1].value
    # The paper's lesson with the main super weight alone: stop words gain (measured x1.8 on 64 prompts).
    share = next(m for m in at.metric if m.label == "Stop words' share of the next word")
    assert float(share.delta.lstrip("×")) > 1.2
    at.toggle(key="class_all").set_value(True).run()  # every super weight off: the model collapses
    assert not at.exception
    assert float(metric(at, "Perplexity (lower is better)").replace(",", "")) > 1000 * ppl


# The Quantization page: tests/test_app_quantization.py.


def test_catalog_page_checks_the_loaded_model():
    at = start("app_pages/catalog.py")
    assert any("re-found 2 of 2" in s.value for s in at.success)
    assert len(at.dataframe[1].value) >= 10  # every published entry is listed
