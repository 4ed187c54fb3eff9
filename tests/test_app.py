"""Every page of the app driven by AppTest on the embedded model: no page raises, numbers move.

Few sessions, each a long walk through a page: every AppTest session re-runs the app from the top.
"""

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
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


def number(at: AppTest, label: str) -> float:
    """A metric as shown (15.80, 2,145, 53.5k, 3.1M) back to a number."""
    text = metric(at, label).replace(",", "")
    return float(text.rstrip("kMBT")) * {"k": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}.get(text[-1:], 1)


def delta(at: AppTest, label: str):
    return next(m for m in at.metric if m.label == label).delta


def opens_with_what_to_try(at: AppTest) -> bool:
    """Each page opens with two lines: what it shows, and what to try."""
    return any(c.value.startswith("Shows ") and "\nTry: " in c.value for c in at.caption)


def figure(at: AppTest, key: str) -> dict:
    chart = next(e for e in at.get("plotly_chart") if e.proto.id and key in e.proto.id)
    return json.loads(chart.proto.spec)


def test_activations_page_shows_the_layer_11_spike_and_follows_the_prompt():
    at = start()
    assert not at.error and opens_with_what_to_try(at)
    assert metric(at, "Spike layer") == "11"
    assert metric(at, "Channels (in → out)").endswith("→ 507")
    first = metric(at, "Max |output|")
    assert "," in first  # 24,022: thousands separated
    at.text_area(key="act_prompt").set_value("Paris is the capital of France.").run()
    assert not at.exception
    assert metric(at, "Max |output|") != first  # a new forward pass, not a cached number
    assert at.query_params["prompt"] == "Paris is the capital of France."
    at.text_area(key="act_prompt").set_value("   ").run()
    assert not at.exception
    assert any("empty" in e.value for e in at.error)


def test_the_url_reproduces_every_prompt_and_edit_and_names_what_it_ignores():
    at = start(query={"prompt": "The cat sat on the mat.", "gen": "My favourite food is",
                      "sw": "11.507.1229=0,1.2.3=0,11.507.1487=5"})
    assert at.text_area(key="act_prompt").value == "The cat sat on the mat."
    assert metric(at, "Spike layer") == "11"
    at.switch_page("app_pages/super_weights.py").run()
    assert not at.exception
    # a coordinate that is not a super weight here, and a scale beyond the slider: ignored, with the reason
    warnings = " ".join(w.value for w in at.warning)
    assert "Ignored" in warnings and "1.2.3 is not a super weight of this model" in warnings
    assert "11.507.1487: the scale must be 0-3 (the slider's range), not 5" in warnings
    assert at.toggle(key="sw_on_11_507_1229").value is False and at.toggle(key="sw_on_11_507_1487").value is True
    assert at.slider(key="sw_scale_11_507_1229").disabled and not at.slider(key="sw_scale_11_507_1487").disabled
    assert at.slider(key="sw_scale_11_507_1487").value == 1.0  # not clamped to 3
    ratio = number(at, "Perplexity, edited") / number(at, "Perplexity, original")
    assert ratio > 2  # one of the two weights off: measured 13.8 -> 49 on a longer text
    assert at.text_input(key="sw_gen_prompt").value == "My favourite food is"
    assert at.code[0].value.startswith("My favourite food is")
    assert at.query_params["sw"] == "11.507.1229=0" and at.query_params["gen"] == "My favourite food is"


def test_classroom_title_counts_the_loaded_model_and_a_bad_model_is_explained(tmp_path, embedded):
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    cfg = LlamaConfig(vocab_size=len(embedded.tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128)
    torch.manual_seed(0)
    tiny = AutoModelForCausalLM.from_config(cfg)
    tiny.save_pretrained(tmp_path)
    embedded.tokenizer.save_pretrained(tmp_path)
    n = sum(p.numel() for p in tiny.parameters())
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["model_ref"] = str(tmp_path)
    at.run()
    at.switch_page("app_pages/classroom.py").run()
    assert not at.exception
    assert at.title[0].value == f"One weight out of {n / 1e6:.2g} million"  # this model, not 135 million
    at.text_input(key="model_ref").set_value("./no/such/model").run()
    assert not at.exception
    assert any("does not exist" in e.value for e in at.error)


def test_super_weights_page_toggle_breaks_perplexity_and_text():
    at = start("app_pages/super_weights.py")
    assert not at.error and opens_with_what_to_try(at)
    table = at.dataframe[0].value
    assert {(r.layer, r.row, r.col) for r in table.itertuples()} == {(11, 507, 1229), (11, 507, 1487)}
    assert set(table["verdict"]) == {"super weight"}  # the impact check, shown with its numbers
    assert (table["ppl × group"] > 1000).all() and (table["ppl × control"] < 1.1).all()
    # each weight's own impact beside its group's: [507, 1229] alone breaks the model, [507, 1487] far less
    alone = dict(zip(table["col"], table["ppl × alone"]))
    assert alone[1229] > 2 * alone[1487] > 1 and (table["ppl × alone"] < table["ppl × group"]).all()
    before = number(at, "Perplexity, original")
    assert metric(at, "Perplexity, original") == f"{before:.2f}"  # 15.80, not 15.8 or 15.7961
    assert metric(at, "Perplexity, edited") == metric(at, "Perplexity, original")
    assert delta(at, "Perplexity, edited") in (None, "")  # unedited: no change arrow
    original_text = at.code[-1].value
    at.button(key="stability_run").click().run()
    assert not at.exception and len(at.dataframe) == 3  # the stability table joins the page
    for t in ("sw_on_11_507_1229", "sw_on_11_507_1487"):
        at.toggle(key=t).set_value(False)
    at.run()
    assert not at.exception
    assert len(at.dataframe) == 3  # ... and stays through later reruns
    assert at.slider(key="sw_scale_11_507_1229").disabled
    after = number(at, "Perplexity, edited")
    assert after >= 3 * before and delta(at, "Perplexity, edited").startswith("×")
    assert at.code[-1].value != original_text and at.code[-2].value == original_text
    assert at.query_params["sw"] == "11.507.1229=0,11.507.1487=0"
    at.toggle(key="sw_restore").set_value(True).run()  # the paper's "+SA": most of the damage undone
    restored = number(at, "Perplexity, edited")
    assert restored < after / 100
    at.button(key="screening_run").click().run()  # the opt-in screening ranks the main super weight first
    ranking = next(d.value for d in at.dataframe if "ppl_ratio" in d.value)
    assert not at.exception and ranking["weight"].iloc[0] == "layer 11 [507, 1229]"


def test_classroom_teaches_with_the_chosen_prompt_and_keeps_it_in_the_url(embedded):
    at = start("app_pages/classroom.py", query={"cprompt": "Winter is", "all": "1"})
    assert opens_with_what_to_try(at)
    params = sum(p.numel() for p in embedded.model.parameters())
    assert at.title[0].value == f"One weight out of {params / 1e6:.0f} million"
    assert any("Ignored" in w.value and "cprompt" in w.value for w in at.warning)  # not a classroom prompt
    assert at.pills(key="class_prompt").value == "Summer is hot. Winter is"
    assert at.toggle(key="class_all").value is True  # from the URL
    at.toggle(key="class_all").set_value(False).run()
    ppl = number(at, "Perplexity, original")
    assert number(at, "Perplexity, now") == ppl and delta(at, "Perplexity, now") in (None, "")
    at.button(key="class_button").click().run()
    assert not at.exception
    assert number(at, "Perplexity, original") == ppl and number(at, "Perplexity, now") > 3 * ppl
    assert at.query_params["removed"] == "1" and "all" not in at.query_params
    assert at.code[0].value != at.code[1].value
    # The paper's lesson with the main super weight alone: stop words gain (measured 7% -> 17%), a red up arrow.
    share = next(m for m in at.metric if m.label == "Stop words' share")
    assert share.delta.startswith("+") and share.delta.endswith(" pts") and int(share.delta[1:-4]) >= 5
    from streamlit.proto.Metric_pb2 import Metric as MetricProto

    assert share.proto.direction == MetricProto.MetricDirection.UP and share.proto.color == MetricProto.MetricColor.RED
    assert number(at, "Perplexity, now") > 3 * ppl and delta(at, "Perplexity, now").startswith("×")
    assert at.markdown and any("without the super weight" in m.value for m in at.markdown)
    bars = figure(at, "class_next_words")["data"]  # sideways: the edited trace first, words on y
    assert "Summer is hot. Winter is" in figure(at, "class_next_words")["layout"]["title"]["text"]
    words = dict(zip(bars[1]["y"], zip(bars[1]["x"], bars[0]["x"])))  # word -> (original, edited)
    assert words["␣the"][1] > words["␣the"][0]  # "the" rises (measured 10.4% -> 11.8%)
    assert all(not t or "e+" not in t for t in bars[0]["text"])  # ratio labels never in scientific notation
    assert "stop words" in figure(at, "class_stopwords")["layout"]["title"]["text"].lower()
    at.pills(key="class_prompt").set_value("The capital of France is").run()
    assert not at.exception
    assert at.query_params["cprompt"] == "The capital of France is"
    paris = dict(zip(figure(at, "class_next_words")["data"][1]["y"], figure(at, "class_next_words")["data"][1]["x"]))
    assert paris["␣Paris"] > 0.5  # the chart follows the prompt
    # the sentence names the word that lost most, Paris (77% -> 0%), not a rare word with the same ratio
    said = next(m.value for m in at.markdown if m.value.startswith("After “The capital of France is”"))
    assert said.startswith("After “The capital of France is” without the super weight: **“Paris”** 77.3% → 0.00%")
    assert at.code[0].value.startswith("The capital of France is")
    at.toggle(key="class_all").set_value(True).run()  # every super weight off: the model collapses
    assert not at.exception and at.query_params["all"] == "1"
    assert number(at, "Perplexity, now") > 1000 * ppl
    assert metric(at, "Perplexity, now").endswith("k")  # 267k: whole in its column, not "267,19..."
    share = next(m for m in at.metric if m.label == "Stop words' share")  # 7% -> 6%: a red DOWN arrow
    assert share.proto.direction == MetricProto.MetricDirection.DOWN and share.proto.color == MetricProto.MetricColor.RED
    said = next(m.value for m in at.markdown if m.value.startswith("After “The capital of France is”"))
    assert "without 2 super weights: **“Paris”** 77.3% → 0.00%" in said  # the label counts the weights off


def test_classroom_style_stays_out_of_the_sidebar():
    import re

    css = re.sub(r"/\*.*?\*/", "", (ROOT / "assets" / "classroom.css").read_text(), flags=re.S)
    rules = [r.split("{")[0] for r in css.split("}") if "{" in r]
    selectors = [s.strip() for r in rules for s in r.split(",")]
    assert selectors and all(s.startswith('[data-testid="stMain"]') for s in selectors), selectors


# The Quantization page: tests/test_app_quantization.py.


def test_catalog_page_checks_the_loaded_model():
    at = start("app_pages/catalog.py")
    assert opens_with_what_to_try(at)
    assert any("re-found 2 of 2" in s.value for s in at.success)
    assert len(at.dataframe[1].value) >= 10  # every published entry is listed
