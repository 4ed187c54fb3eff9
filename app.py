"""Super Weight Explorer: `streamlit run app.py`. The sidebar picks the model; app_pages/ hold the screens.

Not "pages/": with that folder Streamlit falls back to its v1 multipage mode on a process's first run
(and on every AppTest run), which executes a deep-linked page without this script and its sidebar.
"""

import streamlit as st

from explorer import lanes, public, session
from explorer.urlstate import state_from_url, state_to_url
from sw_core.errors import BadInput, SuperWeightError
from sw_core.loading import check_hub_id, resolve_device

st.set_page_config(page_title="Super Weight Explorer", page_icon=":material/bolt:", layout="wide")
if public.is_public():  # no traceback reaches a visitor: our own message instead (session.unexpected_errors_hidden)
    st.set_option("client.showErrorDetails", "none")

# The root URL shows the Activations screen through a hidden default page, so that the screen in the
# menu has its own address, /activations, like every other screen.
PAGES = [
    st.Page("app_pages/activations.py", title="Activations", icon=":material/grid_on:", url_path="home",
            default=True, visibility="hidden"),
    st.Page("app_pages/activations.py", title="Activations", icon=":material/grid_on:", url_path="activations"),
    st.Page("app_pages/super_weights.py", title="Super weights", icon=":material/bolt:"),
    st.Page("app_pages/classroom.py", title="Classroom", icon=":material/school:"),
    st.Page("app_pages/mechanism.py", title="Mechanism", icon=":material/account_tree:"),
    st.Page("app_pages/quantization.py", title="Quantization", icon=":material/compress:"),
    st.Page("app_pages/catalog.py", title="Catalog", icon=":material/menu_book:"),
    st.Page("app_pages/report.py", title="Report", icon=":material/summarize:"),
]
DEVICES = ["auto", "cpu", "cuda"]
DTYPES = ["auto", "float32", "bfloat16", "float16"]
page = st.navigation(PAGES)


def _url_model(raw: str) -> str:
    ref = public.resolve(raw.strip())  # on a public server "gpt2" is the allowlisted openai-community/gpt2
    # Never repeated on the page: it may name a path on the server.
    if "://" in ref or ref.lower().startswith("file:") or (public.is_public() and public.is_local(ref)):
        raise BadInput("a link can name a hub model (org/name) or 'embedded', not a file or web address.")
    check_hub_id(ref)  # "org/name@rev": ignored with the reason
    public.check_load_request(ref)  # refused here: ignored with the reason, not loaded
    return ref


def _url_choice(options: list[str], what: str):
    def decode(raw: str) -> str:
        if raw not in options:
            raise BadInput(f"{raw!r} is not a {what}: use one of {', '.join(options)}.")
        if what == "device" and raw != "auto":
            resolve_device(raw)  # e.g. cuda on a machine without a GPU: say so
        return raw
    return decode


# Seeded from the URL before the sidebar, so an "Ignored ..." notice shows on the page itself.
state_from_url("model_ref", "model", _url_model, default="embedded", echo=False)
state_from_url("model_device", "device", _url_choice(DEVICES, "device"), default="auto")
state_from_url("model_dtype", "dtype", _url_choice(DTYPES, "dtype"), default="auto")

with st.sidebar:
    st.markdown("### Model")
    ref = st.text_input("Model", key="model_ref",
                        help="'embedded' (SmolLM2-135M-Instruct, offline), a hub id, a local folder or a .gguf file")
    c1, c2 = st.columns(2)
    device = c1.selectbox("Device", DEVICES, key="model_device")
    dtype = c2.selectbox("Dtype", DTYPES, key="model_dtype")
    trust = pickle = False
    if not public.is_public():  # a public server refuses both: not even offered
        with st.expander("Unsafe loading options"):
            trust = st.checkbox("trust_remote_code (runs the repo's code)", key="model_trust")
            pickle = st.checkbox("allow pickled .bin weights", key="model_pickle")
state_to_url(device=None if device == "auto" else device, dtype=None if dtype == "auto" else dtype)


def _load(key: tuple):
    public.check_load_request(key[0], trust_remote_code=key[3], allow_pickle=key[4])
    with st.spinner(f"Loading {key[0]} ..."):
        return session.load_model(*key)


wanted = public.resolve(ref.strip()) or "embedded"
with session.unexpected_errors_hidden():
    try:
        key = session.resolved_request(wanted, device, dtype, trust, pickle)
        loaded = _load(key)
        state_to_url(model=None if key[0] == "embedded" else key[0])  # only a model that loaded enters the link
    except SuperWeightError as e:
        # Refused, missing, or not downloaded on an offline server: say so, and keep the page
        # usable on the embedded model (it needs no network) instead of stopping it.
        st.session_state.pop(session.MODEL_KEY, None)
        state_to_url(model=None)
        if wanted == "embedded":
            st.error(f"{e}")
            st.stop()
        st.error(f"{e}  \nShowing the embedded model meanwhile.")
        try:
            key = session.resolved_request("embedded", device, dtype)
            loaded = _load(key)
        except SuperWeightError as e2:
            st.error(f"{e2}")
            st.stop()
    st.session_state[session.MODEL_KEY] = key
    with st.sidebar:
        info = loaded.info()
        st.caption(f"**{info['model']}** · {info['layers']} layers · {info['parameters'] / 1e6:.0f}M params · "
                   f"{info['device']} · {info['dtype']} · loaded in {info['load_seconds']:.1f} s")

    lanes.usual_threads()  # this run's thread may have started while another page's lane ran
    page.run()
