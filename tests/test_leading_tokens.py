"""The first tokens of a long text, tokenized from a prefix: the same ids as the whole text's."""

import pytest

from sw_core import texts
from sw_core.leading_tokens import leading_ids


@pytest.mark.parametrize("name", texts.shipped_names())
@pytest.mark.parametrize("n", [2, 48, 256, 1000])
def test_a_shipped_text_gives_the_whole_texts_first_tokens_from_a_prefix(embedded, name, n):
    body = texts.text(name)
    whole = embedded.encode(body)
    seen = []
    real = embedded.tokenizer

    class Counting:  # what was tokenized: prefixes only, never the 50,000+ tokens of the whole text
        def __call__(self, part, **kw):
            seen.append(len(part))
            return real(part, **kw)

        def __getattr__(self, attr):
            return getattr(real, attr)

    embedded.tokenizer = Counting()
    try:
        assert embedded.encode(body, max_tokens=n).tolist() == whole[:, :n].tolist()
        for bos in (True, False):  # a BOS added or dropped: still the first n of the whole text's ids
            assert embedded.encode(body, add_bos=bos, max_tokens=n).tolist() == \
                embedded.encode(body, add_bos=bos)[:, :n].tolist()
    finally:
        embedded.tokenizer = real
    assert seen and max(seen[:2]) < len(body) // 10


def test_a_tokenizer_whose_split_depends_on_the_whole_text_gets_the_whole_text():
    """The prefixes disagree (each token here is offset by the text's length): the whole text decides."""
    calls = []

    def tokenize(text):
        calls.append(len(text))
        return [len(text) + i for i in range(len(text.split()))]

    body = " ".join(["word"] * 5000)
    assert leading_ids(tokenize, body, 10) == tokenize(body)[:10]
    assert calls[-1] == len(body)


@pytest.mark.parametrize("body", ["x" * 20_000, "short text", "mots " * 3000 + "é" * 5000])
def test_texts_without_spaces_or_short_ones_agree_with_the_whole(embedded, body):
    for n in (1, 7, 300):
        assert embedded.encode(body, max_tokens=n).tolist() == embedded.encode(body)[:, :n].tolist()
