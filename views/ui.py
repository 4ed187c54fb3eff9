"""Streamlit glue every page shares: the model in use, error display, downloads, URL state.

Pages import this module; it holds no maths (that lives in sw_core). The model is loaded once per
(ref, device, dtype) by `st.cache_resource` and shared by every session: it is never mutated, edits
run inside `sw_core.edits.applied` in the script thread.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import streamlit as st

from sw_core import urlstate
from sw_core.errors import SuperWeightError

# Derived results (detection, metrics, quantized copies) are cached with st.cache_resource too: they
# are read-only, shared by every session, and unlike st.cache_data need no pickling per hit.
MODEL_KEY = "_sw_model_key"  # session_state: the (ref, device, dtype) the sidebar picked


@st.cache_resource(show_spinner=False, max_entries=2)
def load_model(ref: str, device: str, dtype: str, trust_remote_code: bool = False, allow_pickle: bool = False):
    from sw_core.loading import load

    return load(ref, device=device, dtype=dtype, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)


def model():
    """The Loaded model the sidebar picked (a cache hit: app.py loaded it before the page ran)."""
    key = st.session_state.get(MODEL_KEY)
    if key is None:
        st.error("No model is loaded: pick one in the sidebar.")
        st.stop()
    return load_model(*key)


def model_id(loaded) -> str:
    """A string naming the model for cache keys of derived results."""
    return f"{loaded.ref}|{loaded.input_device}|{loaded.dtype}"


@contextmanager
def errors_shown():
    """Show expected bad input (SuperWeightError) as st.error with its advice, then stop the page."""
    try:
        yield
    except SuperWeightError as e:
        st.error(str(e))
        st.stop()


@contextmanager
def queued(name: str):
    """Heavy work goes through the process-wide job queue; while it waits, say where it stands.

    Never nest: a queued body must not enter another queued block (two users could each hold a
    slot while waiting for a second one).
    """
    from sw_core import jobs, limits

    box = st.empty()

    def waiting(position: int) -> None:  # position 1 = next to run once a running job ends
        box.info(f"Queued: number {position} in line; the server runs "
                 f"{limits.current().max_concurrent_jobs} heavy jobs at a time ...")

    with jobs.heavy_job(name, on_wait=waiting):
        box.empty()
        yield


def download_figure(fig, name: str, key: str | None = None) -> None:
    """A button that downloads the figure as a self-contained HTML file (works offline)."""
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


def state_from_url(key: str, param: str, decode=str, default=None):
    """Seed session_state[key] from the query parameter once per session (so a URL reproduces a view)."""
    seeded = st.session_state.setdefault("_sw_seeded", set())
    if key not in seeded:
        seeded.add(key)
        raw = st.query_params.get(param)
        if raw is not None:
            try:
                st.session_state[key] = decode(raw)
            except (ValueError, SuperWeightError):
                st.warning(f"Ignored the URL parameter {param}={raw!r}: it is malformed.")
    if key not in st.session_state and default is not None:
        st.session_state[key] = default
    return st.session_state.get(key)


def state_to_url(**params) -> None:
    """Write page state into the URL; None or an empty value removes the parameter."""
    for name, value in params.items():
        text = urlstate.encode_value(value)
        if text in (None, ""):
            if name in st.query_params:
                del st.query_params[name]
        elif st.query_params.get(name) != text:
            st.query_params[name] = text


def check_load_request(ref: str, device: str, dtype: str, trust_remote_code: bool, allow_pickle: bool) -> None:
    """Refuse what a public deployment forbids (non-allowlisted models, unsafe loading) before loading."""
    try:
        from sw_core import public
    except ImportError:  # the deployment module is optional
        return
    public.check_load_request(ref, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)


@st.cache_resource(show_spinner=False, max_entries=64)
def spike_scan(_loaded, model_key: str, prompt: str):
    """A scan of `prompt` that also traces, per token, the channel of the largest output spike."""
    from sw_core.scan import scan

    first = scan(_loaded, prompt)
    spike = max(first.layers, key=lambda s: s.out_max)
    return scan(_loaded, prompt, track_channel=spike.out_channel)


# --- super weights: detection, the edit controls, metrics (all cached by model + inputs) -------------

STABILITY_PROMPTS = (
    "Apple Inc. is a worldwide tech company.",
    "Summer is hot. Winter is",
    "The quick brown fox jumps over the lazy dog.",
    "In 1905, Albert Einstein published four papers on physics.",
)
PPL_TEXT, PPL_TOKENS = "britannica", 256  # short, so a toggle updates within seconds on a small CPU


@st.cache_resource(show_spinner=False, max_entries=16)
def detection(_loaded, model_key: str, prompts: tuple[str, ...]):
    from sw_core.detect import find_super_weights

    return find_super_weights(_loaded, list(prompts))


@st.cache_resource(show_spinner=False, max_entries=256)
def perplexity(_loaded, model_key: str, edit, text_name: str = PPL_TEXT, max_tokens: int = PPL_TOKENS) -> float:
    from sw_core import limits, texts
    from sw_core.metrics import perplexity as ppl

    limits.check_ppl_tokens(max_tokens)
    with queued("perplexity"):
        return ppl(_loaded, texts.text(text_name, max_chars=8 * max_tokens), max_tokens=max_tokens, edit=edit)


def model_and_detection(message: str = "Detecting super weights ..."):
    """(loaded model, its cache key, its detection on the first built-in prompt) for a page."""
    loaded = model()
    key = model_id(loaded)
    with errors_shown(), st.spinner(message):
        det = detection(loaded, key, STABILITY_PROMPTS[:1])
    return loaded, key, det


def coord_key(c) -> str:
    return f"{c.layer}_{c.row}_{c.col}"


def edit_controls(det, prefix: str = "sw"):
    """A toggle and a 0-3 scale slider per super weight, and a restore switch; returns the Edit.

    Seeded once from the URL (?sw=11.507.1229=0&restore=1) and written back to it on every run.
    """
    from sw_core.edits import Edit

    url = state_from_url(f"{prefix}_url", "sw", urlstate.decode_factors, default={}) or {}
    factors = {}
    for w in det.super_weights:
        k, f = coord_key(w.coord), url.get(w.coord, 1.0)
        st.session_state.setdefault(f"{prefix}_on_{k}", f != 0)
        st.session_state.setdefault(f"{prefix}_scale_{k}", float(min(max(f, 0.0), 3.0)) if f else 1.0)
        c1, c2 = st.columns([2, 3])
        on = c1.toggle(f"{w.coord}  (w = {w.value:+.3f})", key=f"{prefix}_on_{k}")
        scale = c2.slider("scale", 0.0, 3.0, step=0.1, key=f"{prefix}_scale_{k}", disabled=not on,
                          label_visibility="collapsed")
        factors[w.coord] = scale if on else 0.0
    state_from_url(f"{prefix}_restore", "restore", urlstate.decode_bool, default=False)
    restore = st.toggle("Restore the super activation (weights stay off, the activation is pinned)",
                        key=f"{prefix}_restore")
    changed = {c: f for c, f in factors.items() if f != 1.0}
    state_to_url(sw=changed or None, restore=True if restore else None)
    return Edit.of(changed, pins=det.restore_pins() if restore else ())


# --- quantization ---------------------------------------------------------------------------------

QUANT_MODES = {"fp": "full precision", "rtn": "RTN (weight-only)", "w8a8": "W8A8 (simulated)",
               "bnb-int8": "bitsandbytes LLM.int8", "bnb-nf4": "bitsandbytes NF4"}


def quant_setting_controls(side: str, default: str):
    """Widgets for one QuantSetting (seeded from ?q<side>=..., written back); returns the setting."""
    from sw_core.quant import QuantSetting

    p = f"q{side}"
    seed = state_from_url(f"{p}_url", p, urlstate.decode_setting, default=urlstate.decode_setting(default))
    st.session_state.setdefault(f"{p}_mode", seed.mode)
    st.session_state.setdefault(f"{p}_bits", seed.bits)
    st.session_state.setdefault(f"{p}_block", str(seed.block))
    st.session_state.setdefault(f"{p}_clip", 0.0 if seed.clip_z in (None, "search") else float(seed.clip_z))
    st.session_state.setdefault(f"{p}_aware", seed.aware or seed.skip_super_layers)
    mode = st.selectbox("Method", list(QUANT_MODES), format_func=QUANT_MODES.get, key=f"{p}_mode")
    kw = {}
    if mode == "rtn":
        c1, c2, c3 = st.columns(3)
        kw["bits"] = c1.slider("bits", 2, 8, key=f"{p}_bits")
        block = c2.selectbox("block", ["32", "64", "128", "256", "512", "row", "tensor"], key=f"{p}_block")
        kw["block"] = int(block) if block.isdigit() else block
        clip = c3.number_input("clip z (0 = none)", 0.0, 100.0, step=0.5, key=f"{p}_clip")
        kw["clip_z"] = clip or None
    if mode in ("rtn", "w8a8"):
        kw["aware"] = st.toggle("super-weight aware" if mode == "rtn" else "super-activation aware", key=f"{p}_aware")
    if mode.startswith("bnb"):
        kw["skip_super_layers"] = st.toggle("keep the super weights' layers unquantized", key=f"{p}_aware")
    setting = QuantSetting(mode, **kw)
    state_to_url(**{p: urlstate.encode_setting(setting)})
    return setting


@st.cache_resource(show_spinner=False, max_entries=4)
def quantized_model(_loaded, model_key: str, setting, coords: tuple):
    """The quantized copy of the shared model (the shared model itself is never changed)."""
    from sw_core.quant import quantized

    with queued(f"quantize {setting.label}"):
        return quantized(_loaded, setting, list(coords))


@st.cache_resource(show_spinner=False, max_entries=64)
def quant_perplexity(_loaded, model_key: str, setting, coords: tuple, max_tokens: int = PPL_TOKENS) -> float:
    from sw_core import texts
    from sw_core.metrics import perplexity as ppl

    q = quantized_model(_loaded, model_key, setting, coords)  # queues on its own: not nested below
    with queued("perplexity"):
        return ppl(q, texts.text(PPL_TEXT, max_chars=8 * max_tokens), max_tokens=max_tokens)


def super_weight_table(results: dict, det, original):
    """One row per (setting, super weight): the value before and after quantization."""
    import pandas as pd
    from sw_core.quant import super_weight_values

    rows = []
    for side, (setting, qmodel, _) in results.items():
        for v in super_weight_values(qmodel, det, original):
            rows.append({"setting": f"{side.upper()}: {setting.label}", "weight": f"layer {v.layer} [{v.row}, {v.col}]",
                         "original": v.original, "quantized": v.quantized, "relative error": v.relative_error})
    return pd.DataFrame(rows)


STOP_PROMPTS = 12  # sentences of the shipped text, last word held out (a LAMBADA stand-in)
TRIVIA_QUESTIONS = 20
NEXT_TOKEN_PROMPT = "Summer is hot. Winter is"


@st.cache_resource(show_spinner=False, max_entries=128)
def stopwords(_loaded, model_key: str, edit, n: int = STOP_PROMPTS):
    from sw_core.metrics import next_word_prompts, stopword_probabilities

    with queued("stop words"):
        return stopword_probabilities(_loaded, edit, prompts=next_word_prompts(n))


def stopword_figure(loaded, model_key: str, edit, *, title: str = "Next-token probability of stop words"):
    """The stop-word bar chart (original vs edited, ratio on top) and the shift it shows."""
    from sw_core import plots
    from sw_core.metrics import stopword_shift

    shift = stopword_shift(stopwords(loaded, model_key, None), stopwords(loaded, model_key, edit))
    words = [w.word.replace(" ", "␣") for w in shift.words] + ["all stop words", "true next word"]
    ratios = shift.words + [shift.stop_mass, shift.target]
    fig = plots.probability_bars(words, [r.original for r in ratios], [r.edited for r in ratios],
                                 ratios=[r.ratio for r in ratios], title=f"{title} ({shift.prompts} sentences)")
    return fig, shift


@st.cache_resource(show_spinner=False, max_entries=128)
def next_tokens(_loaded, model_key: str, edit, prompt: str = NEXT_TOKEN_PROMPT, k: int = 8):
    """Top-k next tokens, original and edited, side by side as a table."""
    import pandas as pd
    from sw_core.metrics import top_next_tokens

    a, b = top_next_tokens(_loaded, prompt, k), top_next_tokens(_loaded, prompt, k, edit)
    return pd.DataFrame({"original": [t.token for t in a], "p original": [t.probability for t in a],
                         "edited": [t.token for t in b], "p edited": [t.probability for t in b]})


@st.cache_resource(show_spinner=False, max_entries=128)
def zero_shot(_loaded, model_key: str, edit, n: int = TRIVIA_QUESTIONS):
    from sw_core.metrics import trivia_questions, zero_shot_accuracy

    with queued("zero-shot"):
        return zero_shot_accuracy(_loaded, edit, questions=trivia_questions(limit=n))


# --- generation: streamed side by side, remembered so a redraw does not generate again -----------------

GEN_TOKENS = 40


@st.cache_resource(show_spinner=False)
def _generated() -> dict:
    return {}  # (model key, prompt, n, labels+edits) -> {label: text}; shared, bounded below


def side_by_side(settings: dict, prompt: str, cache_key: tuple, max_new_tokens: int = GEN_TOKENS) -> dict[str, str]:
    """Stream each setting's continuation of `prompt` into its own column; returns {label: text}.

    settings: {label: (loaded, edit)}. Results are remembered by `cache_key` (model, edits, prompt).
    """
    from sw_core import generate, limits

    limits.check_prompt(prompt)
    limits.check_new_tokens(max_new_tokens)
    memo, full_key = _generated(), (cache_key, prompt, max_new_tokens)
    boxes = {}
    for col, label in zip(st.columns(len(settings)), settings):
        col.markdown(f"**{label}**")
        boxes[label] = col.empty()
    if full_key in memo:
        for label, text in memo[full_key].items():
            boxes[label].code(prompt + text, language=None, wrap_lines=True)
        return memo[full_key]
    texts = {label: "" for label in settings}
    with queued("generate"):
        for label, piece in generate.stream_side_by_side(settings, prompt, max_new_tokens=max_new_tokens):
            texts[label] += piece
            boxes[label].code(prompt + texts[label], language=None, wrap_lines=True)
    if len(memo) > 256:
        memo.clear()
    memo[full_key] = texts
    return texts
