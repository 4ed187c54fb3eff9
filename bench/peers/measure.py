"""What every peers/scaling measurement shares: peak memory of this process, the load average,
prompts of an exact token count, and the environment a fresh measuring process runs in."""

from __future__ import annotations

import os
import sys

# Every allocation above 128 KiB gets its own mapping and is returned on free, so the resident set
# follows the tensors alive (glibc would otherwise keep freed memory and hide a later peak).
# Setting the threshold also turns off glibc's adaptive threshold.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}
QUIET_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1", "TOKENIZERS_PARALLELISM": "false",
             "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def child_env(exact_peak: bool = True) -> dict[str, str]:
    """The environment of a fresh measuring process: one thread, offline; with exact_peak, the
    malloc setting above (it makes loading slower, so cold starts are timed without it)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.environ.get("PYTHONPATH", "")
    env = {k: v for k, v in os.environ.items() if k not in MALLOC_ENV}
    return {**env, **QUIET_ENV, **(MALLOC_ENV if exact_peak else {}), "PYTHONPATH": root + (os.pathsep + path if path else "")}


def reexec_with_malloc_env(module: str) -> None:
    """Restart this process as `python -m module argv...` with MALLOC_ENV, unless it has it already."""
    if all(os.environ.get(k) == v for k, v in MALLOC_ENV.items()):
        return
    os.execve(sys.executable, [sys.executable, "-m", module, *sys.argv[1:]], child_env())


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak() -> bool:
    """Reset this process's peak resident set (Linux: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_over(fn) -> tuple[object, int | None, float]:
    """(fn(), peak resident bytes during fn above the resident bytes before it or None if
    unreadable, seconds fn took). The collection before it is not timed."""
    import gc
    import time

    gc.collect()
    ok = reset_peak()
    before = _status_kib("VmRSS")
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    peak = _status_kib("VmHWM")
    if not ok or before is None or peak is None:
        return result, None, seconds
    return result, (peak - before) * 1024, seconds


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def prompt_of_tokens(loaded, n: int, source: str = "britannica") -> str:
    """A prompt that `loaded` encodes to exactly `n` tokens (or as close as the tokenizer allows),
    cut from the shipped text repeated as needed."""
    from sw_core.texts import text

    body = text(source)
    while len(body) < 8 * n:  # a token is >= 1 character: 8 chars a token is plenty
        body += "\n\n" + body
    ids = loaded.encode(body[: 8 * n + 64])[0].tolist()
    keep = n
    for _ in range(8):  # decoding and re-encoding can merge or split a token at the cut
        prompt = _decode(loaded, ids[:keep])
        got = loaded.encode(prompt).shape[1]
        if got == n:
            return prompt
        keep += n - got
    return prompt


def _decode(loaded, ids: list[int]) -> str:
    bos = getattr(loaded.tokenizer, "bos_token_id", None)
    return loaded.tokenizer.decode([i for i in ids if i != bos])
