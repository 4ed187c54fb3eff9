"""A hub id without network fails at once with the offline message (no retries behind a spinner);
a hub id with a revision or a hub URL is answered about revisions, not as a path."""

import socket
import threading

import pytest

from explorer import public
from sw_core import loading
from sw_core.errors import BadInput, ModelLoadError


@pytest.fixture
def no_network(monkeypatch):
    """Every connection attempt fails, as on a machine without network; returns the probes made."""
    probes = []
    real = loading._reachable

    def counted(host, port):
        probes.append((host, port))
        return real(host, port)

    def refuse(address, *args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(loading, "_reachable", counted)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    monkeypatch.setattr(loading, "_probe_cache", {})
    return probes


def test_a_hub_id_fails_with_the_offline_message_after_one_probe(no_network, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache: the model cannot be there
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    asked = []
    real = loading._auto_classes

    def watched():
        config, model, tokenizer = real()

        class Config:  # records what the hub client was told: never to go online here
            @staticmethod
            def from_pretrained(ref, **kw):
                asked.append(kw)
                return config.from_pretrained(ref, **kw)

        return Config, model, tokenizer

    monkeypatch.setattr(loading, "_auto_classes", watched)
    with pytest.raises(ModelLoadError, match=r"Offline \(no network: huggingface.co cannot be reached\).*'embedded'"):
        loading.load("someone/some-model", device="cpu")
    assert asked and asked[0].get("local_files_only") is True  # the cache only: no request, no retry
    assert no_network == [("huggingface.co", 443)]  # one short probe
    with pytest.raises(ModelLoadError, match="Offline"):
        loading.load("someone/other-model", device="cpu")
    assert len(no_network) == 1  # the probe's answer is reused


def test_hf_hub_offline_needs_no_probe(no_network, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert loading.hub_offline_reason() == "HF_HUB_OFFLINE is set"
    assert no_network == []


def test_a_probe_that_hangs_counts_as_offline(monkeypatch):
    release = threading.Event()

    class Connection:  # what the probe gets once released: it closes it
        def close(self):
            pass

    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: release.wait(30) and Connection())
    monkeypatch.setattr(loading, "_probe_cache", {})
    monkeypatch.setattr(loading, "PROBE_SECONDS", 0.05)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    try:
        assert loading.hub_offline_reason().startswith("no network")
    finally:
        release.set()


@pytest.mark.parametrize("ref,plain", [
    ("openai-community/gpt2@main", "openai-community/gpt2"),
    ("openai-community/gpt2:v1", "openai-community/gpt2"),
    ("openai-community/gpt2/tree/main", "openai-community/gpt2"),
    ("https://huggingface.co/openai-community/gpt2", "openai-community/gpt2"),
])
def test_a_revision_gets_a_message_about_revisions(ref, plain, monkeypatch):
    with pytest.raises(BadInput, match=f"names a revision or a web address.*give the id '{plain}'"):
        loading.load(ref, device="cpu")
    monkeypatch.setenv("SW_PUBLIC", "1")
    with pytest.raises(BadInput) as e:
        public.check_load_request(ref)
    assert "revision" in str(e.value) and "local path" not in str(e.value)


def test_paths_are_still_paths():
    for ref in ("./models/a:b", "/tmp/x@y", "~/m", "a/b/c", "weights.gguf"):
        assert loading._looks_local(ref), ref
    assert not loading._looks_local("openai-community/gpt2")
