"""Caps on prompts, generated tokens and perplexity tokens: generous locally, tight when public."""

import pytest

from explorer import limits
from sw_core.errors import BadInput


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in ("SW_PUBLIC", "SW_MAX_PROMPT_CHARS", "SW_MAX_NEW_TOKENS", "SW_MAX_PPL_TOKENS", "SW_MAX_CONCURRENT_JOBS"):
        monkeypatch.delenv(var, raising=False)


def test_public_limits_are_tighter_than_local_ones(monkeypatch):
    local = limits.current()
    assert local == limits.DEFAULT
    monkeypatch.setenv("SW_PUBLIC", "1")
    public = limits.current()
    assert public == limits.PUBLIC
    for name in ("max_prompt_chars", "max_new_tokens", "max_ppl_tokens", "max_concurrent_jobs"):
        assert getattr(public, name) < getattr(local, name), name


def test_environment_overrides_one_cap(monkeypatch):
    monkeypatch.setenv("SW_PUBLIC", "1")
    monkeypatch.setenv("SW_MAX_NEW_TOKENS", "300")
    got = limits.current()
    assert got.max_new_tokens == 300 and got.max_prompt_chars == limits.PUBLIC.max_prompt_chars
    assert limits.check_new_tokens(300) == 300


@pytest.mark.parametrize("raw, words", [("many", "not an integer"), ("0", "at least 1")])
def test_bad_override_says_which_variable(monkeypatch, raw, words):
    monkeypatch.setenv("SW_MAX_PROMPT_CHARS", raw)
    with pytest.raises(BadInput, match=f"SW_MAX_PROMPT_CHARS.*{words}"):
        limits.current()


def test_check_prompt_passes_text_up_to_the_cap(monkeypatch):
    monkeypatch.setenv("SW_PUBLIC", "1")
    cap = limits.current().max_prompt_chars
    text = "a" * cap
    assert limits.check_prompt(text) is text


@pytest.mark.parametrize("value, message", [
    ("", "empty"), ("   \n\t", "empty"), (None, "must be text, not NoneType"), (b"bytes", "must be text, not bytes"),
])
def test_check_prompt_refuses_non_text_and_empty(value, message):
    with pytest.raises(BadInput, match=message):
        limits.check_prompt(value)


def test_check_prompt_over_the_cap_says_cap_and_length(monkeypatch):
    monkeypatch.setenv("SW_PUBLIC", "1")
    with pytest.raises(BadInput) as e:
        limits.check_prompt("x" * 2_501)
    assert "2,501 characters" in str(e.value) and "2,000" in str(e.value)
    monkeypatch.delenv("SW_PUBLIC")  # locally the same prompt is fine
    assert len(limits.check_prompt("x" * 2_501)) == 2_501


@pytest.mark.parametrize("check, cap_field, what", [
    (limits.check_new_tokens, "max_new_tokens", "new tokens"),
    (limits.check_ppl_tokens, "max_ppl_tokens", "perplexity tokens"),
])
@pytest.mark.parametrize("public", [False, True])
def test_token_counts_in_range_pass_others_say_the_range(monkeypatch, check, cap_field, what, public):
    if public:
        monkeypatch.setenv("SW_PUBLIC", "1")
    cap = getattr(limits.current(), cap_field)
    assert check(1) == 1 and check(cap) == cap
    assert check(5.0) == 5 and type(check(5.0)) is int
    allowed = f"1 to {cap:,}"
    for bad in (0, -3, cap + 1):
        with pytest.raises(BadInput, match=f"{what}.*allowed: {allowed}"):
            check(bad)
    for bad in (2.5, "10", None, True, float("nan")):
        with pytest.raises(BadInput, match=f"whole number from {allowed}"):
            check(bad)


def test_numpy_integers_are_accepted():
    import numpy as np

    assert limits.check_new_tokens(np.int64(7)) == 7
