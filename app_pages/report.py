"""Report: the paper's analysis of the loaded model in one self-contained HTML file plus its JSON,
built through the app's job queue and offered as downloads (the same as `python -m sw_core report`)."""

import streamlit as st

from explorer import report_jobs, session

st.title("Report")
st.caption("Every section of the paper's analysis for this model: detection, where the super activation is, "
           "Table 1, the scale sweep, the block-size sweep and the mechanism, with the paper's own figures "
           "labelled beside them. One HTML file that opens without a network, and the JSON behind every figure.")
loaded, det = session.model_and_detection("Detecting super weights ...")


depths = report_jobs.depths()  # a public server builds quick reports only
depth = st.radio("Depth", depths, format_func=report_jobs.DEPTHS.get, key="report_depth")

if st.button("Build the report", type="primary"):
    with report_jobs.report_slot() as free:
        if not free:
            st.warning("Other reports are being built right now (the server builds a limited number at once): "
                       "try again in a few minutes.")
            st.stop()
        status, bar = st.empty(), st.progress(0.0)

        def step(section, done, total, elapsed):
            bar.progress(done / total, text=f"{section.title}: {'done' if section.ran else 'could not run'} "
                                             f"({section.seconds:.0f} s; {elapsed:.0f} s in all)")

        with session.errors_shown():
            status.info(f"Building the report: {report_jobs.SECTION_COUNT} sections ...")
            report = report_jobs.build(loaded, det, depth, on_section=step,
                                       on_wait=lambda pos: status.info(f"queued: {pos} in line"))
            status.empty()
            st.session_state["report_files"] = (loaded.name, report.html(), report.json_text())

files = st.session_state.get("report_files")
if files and files[0] == loaded.name:
    name, page, data = files
    stem = "report-" + "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name)
    cols = st.columns(2)
    cols[0].download_button("Download report.html", page, file_name=f"{stem}.html", mime="text/html")
    cols[1].download_button("Download report.json", data, file_name=f"{stem}.json", mime="application/json")
    st.caption(f"{len(page) / 1e6:.1f} MB of HTML (plotly inlined); open it in any browser, offline.")
