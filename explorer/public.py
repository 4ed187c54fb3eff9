"""Public mode (`SW_PUBLIC=1`): what a shared server refuses to load, and why.

A public server runs the models its visitors pick, so it only loads references from an
allowlist (`assets/public_allowlist.txt`, or the file named by `SW_ALLOWLIST`), never a local
path (that would read the server's own disk), never with `trust_remote_code` (runs the model
repository's Python) and never pickled weights (unpickling runs code). Locally every check is a
no-op: the user owns the machine.
"""

from __future__ import annotations

import os
from pathlib import Path

from sw_core.errors import BadInput

DEFAULT_ALLOWLIST = Path(__file__).resolve().parent.parent / "assets" / "public_allowlist.txt"
_TRUE = {"1", "true", "yes", "on"}


class PublicModeRefusal(BadInput):
    """A request a public server refuses; the message says why and what to do instead."""


def is_public() -> bool:
    """True when the environment variable SW_PUBLIC is 1 (or true/yes/on)."""
    return os.environ.get("SW_PUBLIC", "").strip().lower() in _TRUE


def allowlist_path() -> Path:
    env = os.environ.get("SW_ALLOWLIST", "").strip()
    return Path(env).expanduser() if env else DEFAULT_ALLOWLIST


def allowlist() -> list[str]:
    """Model references a public server may load, "embedded" first; '#' starts a comment."""
    path = allowlist_path()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise BadInput(f"The public allowlist {path} cannot be read ({e.strerror}); fix SW_ALLOWLIST or restore the file.") from None
    refs: list[str] = []
    for line in lines:
        ref = line.split("#", 1)[0].strip()
        if ref and ref not in refs:
            refs.append(ref)
    # The embedded model needs no network and no disk access beyond the package: always allowed.
    return ["embedded"] + [r for r in refs if r != "embedded"]


def resolve(ref: str) -> str:
    """On a public server, a short name of an allowlisted model is that model: "gpt2" ->
    "openai-community/gpt2" (the part after the slash, any case). Anything else is returned as given."""
    if not is_public() or not isinstance(ref, str) or not ref.strip() or "/" in ref:
        return ref
    matches = [a for a in allowlist() if a.rpartition("/")[2].lower() == ref.strip().lower()]
    return matches[0] if len(matches) == 1 else ref


def check_load_request(ref, *, trust_remote_code: bool = False, allow_pickle: bool = False) -> None:
    """In public mode, raise PublicModeRefusal unless `ref` may be loaded as asked; else no-op."""
    if not is_public():
        return
    if trust_remote_code:
        raise PublicModeRefusal(
            "This is a public server: trust_remote_code is refused, because it would run the model "
            "repository's own Python code here. Pick an allowlisted model, or run the app on your "
            "own machine to load models that need it."
        )
    if allow_pickle:
        raise PublicModeRefusal(
            "This is a public server: pickled weights (.bin, .pt, .ckpt) are refused, because "
            "unpickling can run arbitrary code. Pick an allowlisted model (they ship safetensors), "
            "or run the app on your own machine."
        )
    if not isinstance(ref, str) or not ref.strip():
        raise BadInput("No model given: pick one of the allowed models.")
    ref = ref.strip()
    allowed = allowlist()
    _check_hub_id(ref)  # "org/name@rev", ".../tree/rev", a URL: say so, not "a local path"
    if ref != "embedded" and _is_local(ref):
        raise PublicModeRefusal(
            f"This is a public server: '{ref}' is a local path, and local files cannot be opened "
            f"here. Pick one of the allowed models ({', '.join(allowed)}), or run the app on your "
            "own machine to open your own folders and .gguf files."
        )
    if ref not in allowed:
        raise PublicModeRefusal(
            f"This is a public server: '{ref}' is not on its allowlist. Allowed: "
            f"{', '.join(allowed)}. Run the app on your own machine (make run) to explore any model."
        )


def is_local(ref: str) -> bool:
    """True when `ref` would be read from this machine's disk, not the hub."""
    return ref != "embedded" and _is_local(ref)


def _is_local(ref: str) -> bool:
    # The same rule `load` uses to decide it reads a path, so the two can never disagree.
    from sw_core.loading import _looks_local

    return _looks_local(ref)


def _check_hub_id(ref: str) -> None:
    from sw_core.loading import check_hub_id

    check_hub_id(ref)
