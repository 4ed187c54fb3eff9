"""The app's Report page (AppTest, embedded model): a quick report is built through the queue and
offered for download, every section in its HTML."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from explorer.session import MODEL_KEY
from sw_core.report import SECTIONS

PAGE = str(Path(__file__).resolve().parent.parent / "app_pages" / "report.py")


def test_report_page_builds_a_downloadable_report():
    at = AppTest.from_file(PAGE, default_timeout=900)
    at.session_state[MODEL_KEY] = ("embedded", "cpu", "auto", False, False)  # what app.py's sidebar sets
    at.run()
    assert not at.exception, at.exception
    assert "report_files" not in at.session_state
    at.radio(key="report_depth").set_value("quick")
    at.button[0].click().run()
    assert not at.exception, at.exception
    name, page, data = at.session_state["report_files"]
    assert name == "SmolLM2-135M-Instruct"
    for key, (title, _) in SECTIONS.items():
        assert f"<section id='{key}'><h2>{title}</h2>" in page
    assert "could not run" not in page and '"table1"' in data
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Download report.html", "Download report.json"]
