"""Hub checkpoints: one snapshot download (with progress), and errors that say what went wrong.

`huggingface_hub` downloads each file to a temporary `.incomplete` blob and links it into the
snapshot folder only when it is whole: an interrupted download leaves no file a load could read
(the next attempt resumes it). Its endpoint follows `HF_ENDPOINT`, its cache `HF_HOME`.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ModelLoadError

# What a causal LM needs: config, weights, tokenizer. Pickled weights only when the caller allows them.
PATTERNS = ["*.json", "*.safetensors", "*.model", "*.tiktoken", "*.txt", "tokenizer*"]
PICKLES = ["*.bin"]
IGNORED = ["consolidated*"]  # a second copy of the weights in another layout (Mistral repos): never loaded


def download(ref: str, *, allow_pickle: bool, offline: bool, progress=None) -> Path:
    """The local snapshot folder of hub model `ref` (its name is the commit), downloaded if needed."""
    from huggingface_hub import snapshot_download

    from .progress import forwarding_tqdm

    # Without a progress the library prints nothing: a bar that forwards to nowhere.
    bars = forwarding_tqdm(progress or (lambda *_: None), "download", only=("Reconstructing",))
    try:
        folder = snapshot_download(ref, allow_patterns=PATTERNS + (PICKLES if allow_pickle else []),
                                   ignore_patterns=IGNORED, local_files_only=offline, tqdm_class=bars)
    except ModelLoadError:
        raise
    except Exception as e:  # the hub client raises its own, httpx's and OSError: all say "not loaded"
        raise load_error(ref, e, "HF_HUB_OFFLINE is set or no network" if offline else None) from e
    return Path(folder)


def _cause_chain(e: BaseException):
    while e is not None:
        yield e
        e = e.__cause__ or e.__context__


def load_error(ref: str, e: BaseException, offline: str | None) -> ModelLoadError:
    """A ModelLoadError for a failed hub request, by what failed: gated, missing, offline, cut off."""
    from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError

    hf_home = os.environ.get("HF_HOME", "~/.cache/huggingface")
    chain = list(_cause_chain(e))
    first_line = (str(e).splitlines() or [type(e).__name__])[0]
    if offline or any(isinstance(x, LocalEntryNotFoundError) for x in chain):
        return ModelLoadError(
            f"Offline ({offline or 'the hub cannot be reached'}): the hub model '{ref}' is not in the local "
            f"cache ({hf_home}), and the Hugging Face hub cannot be reached to download it. Use "
            "'embedded', which works offline, or connect once to download the model."
        )
    if any(isinstance(x, GatedRepoError) for x in chain) or "gated" in str(e).lower():
        return ModelLoadError(
            f"The hub model '{ref}' is gated: its authors require you to accept their conditions. Accept "
            f"them on the model's page, then log in (`hf auth login`) or set HF_TOKEN, and load it again."
        )
    if any(isinstance(x, RepositoryNotFoundError) for x in chain) or "not a valid model identifier" in str(e):
        return ModelLoadError(
            f"The hub model '{ref}' was not found: check the id (\"org/name\", as on its page). A private "
            "model also answers this way without a token: log in or set HF_TOKEN. Or use 'embedded'."
        )
    status = next((getattr(getattr(x, "response", None), "status_code", None) for x in chain
                   if getattr(x, "response", None) is not None), None)
    return ModelLoadError(
        f"Could not download the hub model '{ref}'"
        + (f" (HTTP {status})" if status else "")
        + f": {first_line}. Nothing half-downloaded is used: run the same command again to resume, "
        f"check the network (the local hub cache is {hf_home}), or use 'embedded', which works offline."
    )
