"""report.html in headless Chromium, from a file:// URL: every section heading visible, no console
error, and no request but the file itself (plotly is inlined). Checked on a tiny model's report
built here and on the embedded model's report shipped in docs/report/."""

import os
import shutil
from pathlib import Path

import pytest

from sw_core.report import SECTIONS, ReportSettings, build_report, write_report
from sw_core.testing import plant_super_weight, tiny_model
from sw_core.testing import teach_head

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
SHIPPED = ROOT / "docs" / "report" / "report.html"


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail("chromium is not installed: run `make browser` (apt-get install -y chromium).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def tiny_html(tmp_path_factory):
    loaded = tiny_model("llama", layers=4, seed=0)
    plant_super_weight(loaded, seed=0)
    teach_head(loaded, "Some text the model learns to predict, so that it depends on its super weight.")
    settings = ReportSettings(max_tokens=32, window=32, questions=4, sweep_questions=4, stop_prompts=4,
                              scales=(0, 2), blocks=(64,), block_tokens=32, validate_prompts=False, vocabulary=False)
    out = tmp_path_factory.mktemp("report")
    report = build_report(loaded, settings)
    assert all(s.ran for s in report.sections), [s.why_not for s in report.sections]
    html, _ = write_report(report, out)
    return html


def open_report(browser, path: Path):
    page = browser.new_page()
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    url = path.resolve().as_uri()
    page.goto(url, wait_until="load")
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length > 0")
    return page, url, requests, errors


@pytest.mark.parametrize("which", ["tiny", "shipped"])
def test_report_opens_offline_with_every_section(browser, tiny_html, which):
    path = tiny_html if which == "tiny" else SHIPPED
    if which == "shipped" and not SHIPPED.exists():
        pytest.fail("docs/report/report.html is missing: regenerate it with `make numbers`.")
    page, url, requests, errors = open_report(browser, path)
    try:
        for key, (title, _) in SECTIONS.items():
            heading = page.locator(f"section#{key} h2")
            assert heading.is_visible() and heading.inner_text() == title
        assert page.locator("#card").is_visible()
        plots = page.locator(".js-plotly-plot").count()
        assert plots >= 5 and page.locator(".js-plotly-plot .main-svg").count() >= plots  # every figure drawn
        assert errors == []
        assert requests == [url]  # the file itself and nothing else
    finally:
        page.close()


def screenshots(report: Path, out_dir: Path) -> list[Path]:
    """docs/screenshots/report_*.png: the card and each section of `report`, as a reader sees them."""
    from playwright.sync_api import sync_playwright

    names = {"detection": "detection", "activations": "activations", "table1": "table1",
             "scale_sweep": "scale_sweep", "block_sweep": "block_sweep", "mechanism": "mechanism"}
    written = []
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = b.new_page(viewport={"width": 1240, "height": 900})
        page.goto(report.resolve().as_uri(), wait_until="load")
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length > 0")
        page.wait_for_timeout(1000)  # let every figure finish drawing
        top = out_dir / "report_top.png"
        page.screenshot(path=str(top), clip={"x": 0, "y": 0, "width": 1240, "height": 900})
        written.append(top)
        for key, name in names.items():
            path = out_dir / f"report_{name}.png"
            page.locator(f"section#{key}").screenshot(path=str(path))
            written.append(path)
        b.close()
    return written


if __name__ == "__main__":  # python -m tests.test_report_browser: regenerate the report's screenshots
    for path in screenshots(SHIPPED, ROOT / "docs" / "screenshots"):
        print(path.relative_to(ROOT))
