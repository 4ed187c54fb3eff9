"""Catalog: published super weights with their sources, checked against the loaded model."""

import pandas as pd
import streamlit as st

from explorer import cached, downloads, session

st.title("Catalog")
st.caption("Shows the super weights published for known models (`layer: [row, col]` of "
           "`mlp.down_proj.weight`), checked against the model loaded now.  \n"
           "Try: load another catalogued model in the sidebar; instruct and chat versions keep their base model's coordinates.")
loaded, det = session.model_and_detection("Detecting super weights to check the catalog ...")
with session.errors_shown():
    checked = cached.catalog_check(loaded)

st.subheader(f"The loaded model: {loaded.name}")
if checked:
    mine = pd.DataFrame([{"layer": v.entry.layer, "row": v.entry.row, "col": v.entry.col,
                          "re-found by the detector": "yes" if v.refound else "no", "match": v.match,
                          "source": v.entry.source} for v in checked])
    st.dataframe(mine, hide_index=True)
    found = sum(v.refound for v in checked)
    (st.success if found == len(checked) else st.warning)(
        f"The detector re-found {found} of {len(checked)} catalogued coordinates.")
    downloads.download_table(mine, "catalog-check")
else:
    st.info("This model is not in the catalog. The detector found: "
            + (", ".join(str(c) for c in det.coords()) or "no super weight") + ".")

st.subheader("All published super weights")
entries = pd.DataFrame(cached.catalog_entries())
st.dataframe(entries, hide_index=True)
downloads.download_table(entries, "catalog")
