"""Report: the paper's analysis of the loaded model in one self-contained HTML file plus its JSON,
built through the app's job queue and offered as downloads (the same as `python -m sw_core report`)."""

import threading

import streamlit as st

from explorer import jobs, limits, session
from explorer.public import is_public
from sw_core.report import SECTIONS, ReportSettings, build_report
from sw_core.report.settings import quick_settings

PUBLIC_REPORT_JOBS, LOCAL_REPORT_JOBS = 1, 2  # reports built at once (each takes minutes of CPU)

st.title("Report")
st.caption("Every section of the paper's analysis for this model: detection, where the super activation is, "
           "Table 1, the scale sweep, the block-size sweep and the mechanism, with the paper's own figures "
           "labelled beside them. One HTML file that opens without a network, and the JSON behind every figure.")
loaded, det = session.model_and_detection("Detecting super weights ...")


@st.cache_resource
def _report_slots() -> threading.BoundedSemaphore:
    """Process-wide: at most this many reports are built at once, on top of the job queue's own bound."""
    default = PUBLIC_REPORT_JOBS if is_public() else LOCAL_REPORT_JOBS
    return threading.BoundedSemaphore(getattr(limits.current(), "max_report_jobs", default))


DEPTHS = {"full": "full: the default settings, a few CPU-minutes on the embedded model",
          "quick": "quick: fewer tokens, questions, scales and blocks, about a CPU-minute"}
depths = ["quick"] if is_public() else list(DEPTHS)  # a public server builds quick reports only
depth = st.radio("Depth", depths, format_func=DEPTHS.get, key="report_depth")

if st.button("Build the report", type="primary"):
    slots = _report_slots()
    if not slots.acquire(blocking=False):
        st.warning("Other reports are being built right now (the server builds a limited number at once): "
                   "try again in a few minutes.")
        st.stop()
    try:
        status, bar = st.empty(), st.progress(0.0)

        def step(section, done, total, elapsed):
            bar.progress(done / total, text=f"{section.title}: {'done' if section.ran else 'could not run'} "
                                             f"({section.seconds:.0f} s; {elapsed:.0f} s in all)")

        with session.errors_shown(), jobs.heavy_job("report", on_wait=lambda pos: status.info(f"queued: {pos} in line")):
            status.info(f"Building the report: {len(SECTIONS)} sections ...")
            settings = quick_settings() if depth == "quick" else ReportSettings()
            report = build_report(loaded, settings, detection=det, progress=step)
            status.empty()
            st.session_state["report_files"] = (loaded.name, report.html(), report.json_text())
    finally:
        slots.release()

files = st.session_state.get("report_files")
if files and files[0] == loaded.name:
    name, page, data = files
    stem = "report-" + "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name)
    cols = st.columns(2)
    cols[0].download_button("Download report.html", page, file_name=f"{stem}.html", mime="text/html")
    cols[1].download_button("Download report.json", data, file_name=f"{stem}.json", mime="application/json")
    st.caption(f"{len(page) / 1e6:.1f} MB of HTML (plotly inlined); open it in any browser, offline.")
