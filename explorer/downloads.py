"""Download buttons for figures (self-contained HTML, works offline), tables and JSON."""

from __future__ import annotations

import json

import streamlit as st


def download_figure(fig, name: str, key: str | None = None) -> None:
    st.download_button(
        f"Download {name}.html", data=lambda: fig.to_html(include_plotlyjs=True, full_html=True),
        file_name=f"{name}.html", mime="text/html", on_click="ignore", key=key or f"dl-{name}-html",
    )


def download_table(df, name: str, key: str | None = None) -> None:
    """Two buttons: the table as CSV and as JSON records."""
    c1, c2 = st.columns(2)
    with c1:
        st.download_button(f"{name}.csv", data=lambda: df.to_csv(index=False), file_name=f"{name}.csv",
                           mime="text/csv", on_click="ignore", key=key or f"dl-{name}-csv")
    with c2:
        st.download_button(f"{name}.json", data=lambda: df.to_json(orient="records", indent=2),
                           file_name=f"{name}.json", mime="application/json", on_click="ignore",
                           key=(key or f"dl-{name}") + "-json")


def download_json(obj, name: str, key: str | None = None) -> None:
    st.download_button(f"Download {name}.json", data=lambda: json.dumps(obj, indent=2, default=str),
                       file_name=f"{name}.json", mime="application/json", on_click="ignore",
                       key=key or f"dl-{name}-json")
