"""The app's Report page (AppTest, embedded model): a quick report is built through the queue and
offered for download, every section in its HTML. What each section measures is tested in
test_report.py; here the quick depth is made smaller still, so the page's wiring is what costs."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from explorer import report_jobs
from explorer.session import MODEL_KEY
from sw_core.report import SECTIONS, ReportSettings

PAGE = str(Path(__file__).resolve().parent.parent / "app_pages" / "report.py")


# Every section still runs: one scale besides 1, one block size, a few tokens and questions.
SMALLEST = ReportSettings(max_tokens=32, window=32, questions=4, sweep_questions=4, stop_prompts=4, scales=(0,),
                          weight_sweep_scales=(0,), weight_sweep_tokens=16, weight_sweep_questions=2,
                          weight_sweep_max=1, blocks=("tensor",), block_tokens=32, validate_prompts=False,
                          vocabulary=False)


def test_report_page_builds_a_downloadable_report(monkeypatch):
    monkeypatch.setattr(report_jobs, "quick_settings", lambda: SMALLEST)
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
