"""Shipped texts: found offline without importing their package; user files checked."""

import subprocess
import sys

import pytest

from sw_core import texts
from sw_core.errors import BadInput


def test_shipped_texts_are_real_english_prose_and_verse():
    shipped = texts.shipped_texts()
    assert set(shipped) == {"shakespeare", "britannica"}
    assert shipped["shakespeare"].startswith("ACT I.") and "To be, or not to be" in shipped["shakespeare"]
    assert shipped["britannica"].startswith("Shakespeare, William (1564--1616)")
    assert "###" not in shipped["britannica"] and "p.772:0" not in shipped["britannica"]
    assert all(len(t) > 100_000 for t in shipped.values())


def test_text_cuts_at_a_word_boundary():
    cut = texts.text("britannica", max_chars=100)
    assert len(cut) <= 100 and texts.text("britannica").startswith(cut)
    assert texts.text("britannica")[len(cut)] == " "


def test_a_user_file_is_read_and_bad_ones_are_refused(tmp_path):
    good = tmp_path / "mine.txt"
    good.write_text("Once upon a time there was a weight.", encoding="utf-8")
    assert texts.text(str(good)) == "Once upon a time there was a weight."
    cases = {
        "empty.txt": (b"  \n ", "empty"),
        "binary.bin": (b"\x00\x01\x02garbage", "binary"),
        "latin1.txt": ("caf\u00e9".encode("latin-1"), "not UTF-8"),
        "control.txt": (bytes(range(1, 32)) * 20, "control characters"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(BadInput, match=message):
            texts.text(str(path))
    for bad in ("no-such-text", str(tmp_path / "missing.txt"), ""):
        with pytest.raises(BadInput):
            texts.text(bad)
    with pytest.raises(BadInput, match="max_chars"):
        texts.text("shakespeare", max_chars=0)


def test_default_path_imports_neither_datasets_nor_the_text_package():
    code = ("import sys; from sw_core import texts, metrics; texts.shipped_texts(); metrics.trivia_pairs(); "
            "print(sorted(m for m in ('datasets', 'shakespeare', 'chatterbot_corpus') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
