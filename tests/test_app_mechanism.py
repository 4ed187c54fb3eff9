"""The Mechanism screen in AppTest on the embedded model: the story's four steps, with measured numbers."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

import golden

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def test_mechanism_screen_tells_the_story_and_follows_the_prompt():
    at = AppTest.from_file(APP, default_timeout=600)
    at.query_params["prompt"] = "Summer is hot. Winter is"
    at.run()
    at.switch_page("app_pages/mechanism.py").run()
    assert not at.exception and not at.error
    assert [h.value.split(" · ")[0] for h in at.header] == ["1", "2", "3", "4"]
    story = at.markdown[0].value
    layer, row, col = golden.MAIN_SUPER_WEIGHT
    assert f"input channel **{col}** of layer {layer}" in story and f"W[{row}, {col}]" in story
    metrics = {m.label.split(",")[1].strip(): float(m.value) for m in at.metric}
    assert metrics["super weights off"] < metrics["original"]  # the sink weakens without them
    assert at.text_input(key="mech_prompt").value == "Summer is hot. Winter is"  # seeded from the URL
    at.text_input(key="mech_prompt").set_value("").run()
    assert not at.exception and any("empty" in e.value for e in at.error)
