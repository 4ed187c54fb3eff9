"""Models converted once: a GGUF dequantized, or a hub checkpoint cast to another dtype, is saved as
safetensors in `$SW_CACHE` and read from there on every later load.

An entry is keyed by the source's identity and the dtype: a file by its size, modification time
and a hash of its first and last MiB; a hub checkpoint by its repo id and commit. It is written
shard by shard (`save_pretrained(max_shard_size=...)`: never a second full copy of the model in
memory) into a temporary sibling folder, gets a manifest last (each file's size and end hashes),
and is renamed into place: a half-written entry is never read, and is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

MANIFEST = "sw_manifest.json"
SHARD = "1GB"  # the largest extra copy a save holds in memory
_SAMPLE = 1 << 20


def cache_root() -> Path:
    """`$SW_CACHE`, else `~/.cache/super-weight-explorer`."""
    env = os.environ.get("SW_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "super-weight-explorer"


def fingerprint(path: Path) -> dict:
    """Size and SHA-256 of the first and last MiB: catches truncated and overwritten files cheaply."""
    size = path.stat().st_size
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read(_SAMPLE))
        if size > _SAMPLE:
            f.seek(max(size - _SAMPLE, _SAMPLE))
            h.update(f.read(_SAMPLE))
    return {"size": size, "sha256_ends": h.hexdigest()}


def _dtype_name(dtype) -> str:
    return str(dtype).replace("torch.", "")


def _slug(text: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_." else "-" for c in text.lower())
    return keep.strip("-.")[:60] or "model"


def file_source(path: Path) -> dict:
    """The identity of a local file: a changed, replaced or rewritten file gets a new entry."""
    path = Path(path).resolve()
    st = path.stat()
    return {"kind": "file", "path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "sha256_ends": fingerprint(path)["sha256_ends"]}


def hub_source(repo_id: str, commit: str) -> dict:
    return {"kind": "hub", "repo": repo_id, "commit": commit}


def entry_name(source: dict, dtype) -> str:
    """The entry's folder name: readable, and unique per (source identity, dtype)."""
    identity = {k: v for k, v in source.items() if k != "path"}  # a moved file is the same file
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    label = Path(source["path"]).stem if source["kind"] == "file" else source["repo"].replace("/", "--")
    return f"{_slug(label)}-{_dtype_name(dtype)}-{digest}"


def entry_dir(source: dict, dtype) -> Path:
    return cache_root() / "converted" / entry_name(source, dtype)


def is_valid(folder: Path) -> bool:
    """True when the manifest exists and every file it lists matches its size and hash."""
    try:
        entries = json.loads((folder / MANIFEST).read_text())["files"]
        return bool(entries) and all(fingerprint(folder / name) == fp for name, fp in entries.items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def lookup(source: dict, dtype) -> Path | None:
    """The valid entry for (source, dtype), or None (a half-written or damaged one is ignored)."""
    folder = entry_dir(source, dtype)
    return folder if is_valid(folder) else None


def write(model, tokenizer, folder: Path, info: dict, progress=None) -> None:
    """Save `model` + `tokenizer` into a temporary sibling of `folder`, manifest last, then rename.

    progress(done, total) counts the bytes of weights written.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the cache may be shared (e.g. a container user)
    try:
        total = sum(p.numel() * p.element_size() for p in model.state_dict().values())
        _save_shards(model, tmp, total, progress)
        tokenizer.save_pretrained(tmp)
        files = {p.name: fingerprint(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        (tmp / MANIFEST).write_text(json.dumps({**info, "created": time.time(), "files": files}, indent=1))
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        try:
            os.replace(tmp, folder)
        except OSError:
            if not is_valid(folder):  # another process may have just written a valid one
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _save_shards(model, folder: Path, total: int, progress) -> None:
    """save_pretrained in shards of at most SHARD; progress follows the shard files as they appear."""
    import threading

    stop = threading.Event()

    def watch():
        while not stop.wait(0.5):
            done = sum(p.stat().st_size for p in folder.glob("*.safetensors") if p.is_file())
            progress(min(done, total), total)

    watcher = threading.Thread(target=watch, daemon=True) if progress else None
    if watcher:
        watcher.start()
    try:
        model.save_pretrained(folder, safe_serialization=True, max_shard_size=SHARD)
    finally:
        stop.set()
        if watcher:
            watcher.join()
            progress(total, total)


def entries() -> list[dict]:
    """Every cache entry (converted models and the embedded model's): name, size, source, valid."""
    root = cache_root()
    folders = [p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")] if root.is_dir() else []
    converted = root / "converted"
    if converted.is_dir():
        folders = [p for p in folders if p != converted] + sorted(
            p for p in converted.iterdir() if p.is_dir())
    out = []
    for folder in folders:
        try:
            manifest = json.loads((folder / MANIFEST).read_text())
        except (OSError, ValueError):
            manifest = {}
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        out.append({"name": folder.name, "path": str(folder), "bytes": size, "valid": is_valid(folder),
                    "source": manifest.get("source"), "dtype": manifest.get("dtype")})
    return out


def clear() -> int:
    """Remove the whole cache (also half-written temporary folders); returns the bytes freed."""
    root = cache_root()
    if not root.is_dir():
        return 0
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    shutil.rmtree(root)
    return size
