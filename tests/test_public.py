"""Public mode (SW_PUBLIC=1): refused loads, capped inputs, the heavy-job queue, and the app under it."""

import threading
import time
from pathlib import Path

import pytest
import torch

from explorer import jobs, limits, public
from sw_core.errors import BadInput
from sw_core.loading import _looks_local
from explorer.public import PublicModeRefusal, check_load_request
from sw_core.testing import tiny_model

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def public_mode(monkeypatch):
    for var in ("SW_ALLOWLIST", "SW_MAX_PROMPT_CHARS", "SW_MAX_NEW_TOKENS", "SW_MAX_PPL_TOKENS", "SW_MAX_CONCURRENT_JOBS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SW_PUBLIC", "1")


# --- loading refusals -------------------------------------------------------------------------

def test_allowlist_starts_with_embedded_and_holds_hub_ids_only():
    refs = public.allowlist()
    assert refs[0] == "embedded" and len(refs) == len(set(refs)) > 1
    assert not any(_looks_local(r) for r in refs[1:]), "an allowlisted id would be read as a local path"


def test_locally_nothing_is_refused(monkeypatch, tmp_path):
    monkeypatch.delenv("SW_PUBLIC", raising=False)
    assert not public.is_public()
    check_load_request(str(tmp_path), trust_remote_code=True, allow_pickle=True)
    check_load_request("someone/anything")


def test_embedded_and_allowlisted_ids_pass(public_mode):
    assert public.is_public()
    for ref in public.allowlist():
        check_load_request(ref)
        check_load_request(f"  {ref} ")


def test_refuses_an_id_not_on_the_allowlist(public_mode):
    with pytest.raises(PublicModeRefusal) as e:
        check_load_request("meta-llama/Llama-2-70b-hf")
    msg = str(e.value)
    assert "'meta-llama/Llama-2-70b-hf' is not on its allowlist" in msg
    assert "embedded" in msg and "openai-community/gpt2" in msg  # says what is allowed instead


@pytest.mark.parametrize("make_ref", [
    lambda tmp: str(tmp),  # an existing folder
    lambda tmp: "./models/mine",
    lambda tmp: "~/secret",
    lambda tmp: "/etc/passwd",
    lambda tmp: "weights.gguf",
    lambda tmp: "a/b/c",
])
def test_refuses_local_paths(public_mode, tmp_path, make_ref):
    ref = make_ref(tmp_path)
    with pytest.raises(PublicModeRefusal, match="is a local path, and local files cannot be opened here"):
        check_load_request(ref)


def test_a_folder_shadowing_an_allowlisted_id_is_refused(public_mode, tmp_path, monkeypatch):
    # `load` would read a folder named like the id from the working directory: refuse it.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "openai-community" / "gpt2").mkdir(parents=True)
    with pytest.raises(PublicModeRefusal, match="local path"):
        check_load_request("openai-community/gpt2")


def test_refuses_trust_remote_code_even_for_allowed_models(public_mode):
    with pytest.raises(PublicModeRefusal, match="trust_remote_code is refused.*own Python code"):
        check_load_request("embedded", trust_remote_code=True)


def test_refuses_pickled_weights(public_mode):
    with pytest.raises(PublicModeRefusal, match=r"pickled weights \(.bin, .pt, .ckpt\) are refused"):
        check_load_request("openai-community/gpt2", allow_pickle=True)


def test_allowlist_file_can_be_replaced(public_mode, monkeypatch, tmp_path):
    f = tmp_path / "gpu_allowlist.txt"
    f.write_text("# bigger hardware\nmistralai/Mistral-7B-v0.1  # 14 GB bf16\n\nembedded\n")
    monkeypatch.setenv("SW_ALLOWLIST", str(f))
    assert public.allowlist() == ["embedded", "mistralai/Mistral-7B-v0.1"]
    check_load_request("mistralai/Mistral-7B-v0.1")
    with pytest.raises(PublicModeRefusal):
        check_load_request("openai-community/gpt2")
    monkeypatch.setenv("SW_ALLOWLIST", str(tmp_path / "missing.txt"))
    with pytest.raises(BadInput, match="allowlist .*missing.txt cannot be read"):
        public.allowlist()


# --- input caps ---------------------------------------------------------------------------------

def test_refuses_an_over_long_prompt(public_mode, embedded):
    text = "The quick brown fox jumps over the lazy dog. " * 50  # 2,250 characters
    with pytest.raises(BadInput, match="2,250 characters long; the limit here is 2,000"):
        limits.check_prompt(text)
    half = limits.check_prompt(text[:1_000])
    assert embedded.encode(half).shape[1] > 100  # what passes is still a real prompt


def test_refuses_too_many_new_tokens(public_mode):
    assert limits.check_new_tokens(128) == 128
    with pytest.raises(BadInput, match="129 new tokens asked for; allowed: 1 to 128"):
        limits.check_new_tokens(129)
    with pytest.raises(BadInput, match="5,000 perplexity tokens asked for; allowed: 1 to 2,048"):
        limits.check_ppl_tokens(5_000)


# --- the heavy-job queue ------------------------------------------------------------------------

def _wait_for(pred, tries: int = 3000):
    """Poll `pred` every 10 ms (about 30 s in all) until it holds."""
    for _ in range(tries):
        if pred():
            return
        time.sleep(0.01)
    pytest.fail(f"gave up waiting; queue: {jobs.queue_state()}")


def test_public_mode_runs_two_heavy_jobs_at_a_time(public_mode):
    assert jobs.queue_state()["limit"] == limits.PUBLIC.max_concurrent_jobs == 2
    loaded = tiny_model("llama", layers=2)
    ids = loaded.encode("queued work")
    release = threading.Event()
    lock, active, peak, done = threading.Lock(), [0], [0], []

    def worker(i):
        with jobs.heavy_job(f"forward-{i}"):
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            release.wait(30)
            with torch.no_grad():
                loaded.model(input_ids=ids)
            with lock:
                active[0] -= 1
                done.append(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    _wait_for(lambda: jobs.queue_state()["running"] == 2 and jobs.queue_state()["waiting"] == 4)
    release.set()
    for t in threads:
        t.join(30)
    assert sorted(done) == list(range(6)) and peak[0] == 2
    assert jobs.queue_state()["running"] == jobs.queue_state()["waiting"] == 0


def test_waiting_callers_see_their_place_and_run_in_arrival_order(monkeypatch):
    monkeypatch.setenv("SW_MAX_CONCURRENT_JOBS", "1")
    seen: dict[str, list[int]] = {"a": [], "b": []}
    order = []

    def worker(name):
        with jobs.heavy_job(name, on_wait=seen[name].append):
            order.append(name)

    with jobs.heavy_job("holder"):
        a = threading.Thread(target=worker, args=("a",))
        a.start()
        _wait_for(lambda: seen["a"])
        b = threading.Thread(target=worker, args=("b",))
        b.start()
        _wait_for(lambda: seen["b"])
        state = jobs.queue_state()
        assert state["running_jobs"] == ["holder"] and state["waiting_jobs"] == ["a", "b"]
    a.join(30)
    b.join(30)
    assert order == ["a", "b"]
    assert set(seen["a"]) == {1} and set(seen["b"]) <= {1, 2} and seen["b"][0] == 2


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, RuntimeError])
def test_an_interrupted_waiter_leaves_the_queue_consistent(monkeypatch, interrupt):
    monkeypatch.setenv("SW_MAX_CONCURRENT_JOBS", "1")
    caught, ran = [], []

    def impatient():
        def on_wait(position):
            raise interrupt("the user left the page")

        try:
            with jobs.heavy_job("impatient", on_wait=on_wait):
                ran.append("impatient")
        except BaseException as e:  # noqa: BLE001 - the test checks which one
            caught.append(type(e))

    def patient():
        with jobs.heavy_job("patient"):
            ran.append("patient")

    with jobs.heavy_job("holder"):
        t = threading.Thread(target=impatient)
        t.start()
        t.join(30)
        assert caught == [interrupt] and jobs.queue_state()["waiting"] == 0
        p = threading.Thread(target=patient)
        p.start()
        _wait_for(lambda: jobs.queue_state()["waiting"] == 1)
    p.join(30)
    assert ran == ["patient"]
    assert jobs.queue_state()["running"] == jobs.queue_state()["waiting"] == 0


def test_a_failing_job_frees_its_slot(monkeypatch):
    monkeypatch.setenv("SW_MAX_CONCURRENT_JOBS", "1")
    with pytest.raises(BadInput):
        with jobs.heavy_job("fails"):
            limits.check_new_tokens(0)
    assert jobs.queue_state()["running"] == 0
    with jobs.heavy_job("next"):  # would wait forever if the slot had leaked
        assert jobs.queue_state()["running_jobs"] == ["next"]


# --- the app in public mode ---------------------------------------------------------------------

def _app():
    from streamlit.testing.v1 import AppTest

    assert Path(APP).exists(), "app.py is missing"
    return AppTest.from_file(APP, default_timeout=240)


def test_app_refuses_a_model_with_an_error_and_keeps_serving(public_mode):
    at = _app().run()
    assert not at.exception and not at.error  # the embedded model is allowed
    at.text_input(key="model_ref").set_value("meta-llama/Llama-2-70b-hf").run()
    assert not at.exception
    assert any("not on its allowlist" in e.value for e in at.error), [e.value for e in at.error]
    at.text_input(key="model_ref").set_value(str(Path(APP).parent)).run()
    assert any("local path" in e.value for e in at.error), [e.value for e in at.error]
    at.text_input(key="model_ref").set_value("openai-community/gpt2@main").run()
    assert any("names a revision" in e.value and "'openai-community/gpt2'" in e.value for e in at.error)
    assert not any("local path" in e.value for e in at.error)
    at.text_input(key="model_ref").set_value("embedded").run()
    assert not at.exception and not at.error  # the same session serves the allowed model again
    assert at.metric, "the page shows its results again"
    # Unsafe loading options are not even offered on a public server (check_load_request refuses
    # them too: test_refuses_trust_remote_code_even_for_allowed_models).
    assert not [c for c in at.checkbox if c.key in ("model_trust", "model_pickle")]


def test_app_refuses_an_over_long_prompt(public_mode):
    at = _app().run()
    at.text_area(key="act_prompt").set_value("word " * 500).run()  # 2,500 characters
    assert not at.exception
    assert any("the limit here is 2,000" in e.value for e in at.error), [e.value for e in at.error]


def test_app_ignores_a_refused_url_model_and_hides_unexpected_errors(public_mode, monkeypatch):
    from streamlit import config

    from explorer import session

    before = config.get_option("client.showErrorDetails")
    at = _app()
    at.query_params.update({"model": "meta-llama/Llama-2-70b-hf", "device": "tpu", "dtype": "float32"})
    try:
        at.run()
        assert any("Ignored the link's device=tpu" in w.value for w in at.warning)
        assert at.selectbox(key="model_dtype").value == "float32"  # a usable value is taken as it is
        assert any("Ignored the link's model" in w.value and "allowlist" in w.value
                   for w in at.warning), [w.value for w in at.warning]
        assert "model" not in at.query_params and "device" not in at.query_params  # refused: out of the link
        assert at.text_input(key="model_ref").value == "embedded" and not at.error and not at.exception
        assert config.get_option("client.showErrorDetails") == "none"  # Streamlit's own traceback is off too

        def broken(*args, **kwargs):
            raise RuntimeError("an internal detail a visitor must not see")

        monkeypatch.setattr(session, "model_and_detection", broken)
        at.switch_page("app_pages/quantization.py").run()
        assert not at.exception
        assert [e.value for e in at.error] == [session.GENERIC_ERROR]
    finally:
        config.set_option("client.showErrorDetails", before)  # process-wide: later tests get the default


def test_a_short_name_is_the_allowlisted_model_on_a_public_server_only(public_mode, monkeypatch):
    assert public.resolve("gpt2") == "openai-community/gpt2" and public.resolve("GPT2") == "openai-community/gpt2"
    assert public.resolve("pythia-160m") == "EleutherAI/pythia-160m"
    assert public.resolve("llama-2") == "llama-2" and public.resolve("embedded") == "embedded"
    monkeypatch.delenv("SW_PUBLIC")
    assert public.resolve("gpt2") == "gpt2"  # locally a name means what the hub says


def test_an_allowed_model_not_downloaded_offline_says_so_and_the_page_stays_on_embedded(public_mode, monkeypatch):
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home")  # nothing is cached: an offline server cannot fetch gpt2
    at = _app()
    at.query_params.update({"model": "gpt2"})
    at.run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any("openai-community/gpt2" in e and "Showing the embedded model" in e for e in errors), errors
    assert at.metric and "model" not in at.query_params  # the page works, on embedded; the link names no model


@pytest.mark.parametrize("url", ["file:///etc/passwd", "http://example.com/model", "/etc/passwd"])
def test_a_file_or_web_address_in_a_link_is_refused_without_repeating_it(public_mode, url):
    at = _app()
    at.query_params.update({"model": url})
    at.run()
    assert not at.exception
    shown = " ".join(w.value for w in at.warning) + " ".join(e.value for e in at.error)
    assert "Ignored the link's model" in shown and "etc/passwd" not in shown and "example.com" not in shown
    assert "model" not in at.query_params and at.metric
