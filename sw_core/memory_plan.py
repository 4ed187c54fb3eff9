"""A memory plan made before loading: will the model fit, in which dtype, and where.

The weights are counted without loading them (safetensors headers, GGUF tensor info, or a
config built on the 'meta' device), priced at the dtype asked for, and compared with what the
machine has (available RAM, the cgroup limit of a container, free GPU memory). Then:

- the model fits: load it as asked;
- `dtype="auto"` on a CPU and fp32 does not fit: bfloat16 (half the bytes), and the plan says so;
- not even that fits: accelerate's big-model loading (`device_map="auto"` with a `max_memory`
  cap and a disk `offload_folder`): weights that do not fit stay on disk and are streamed in;
- nothing fits (not even the part that must stay in memory, or the disk is full): `BadInput`
  before anything is loaded, with the numbers and what to do.
"""

from __future__ import annotations

import json
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .errors import BadInput

GB = 10 ** 9  # decimal, as disk and RAM sizes are quoted
# Working memory next to the weights: the interpreter, torch and the tokenizer (~0.5 GB), plus
# activations and one layer's transient copies while loading (a tenth of the weights covers a
# scan and a 128-token perplexity pass at the sizes this tool loads).
FIXED_WORKING = GB // 2
WORKING_SHARE = 0.10
# With disk offload, what must stay in memory: embeddings, head and a few decoder layers.
OFFLOAD_RESIDENT_SHARE = 0.15

_SAFETENSORS_BYTES = {"F64": 8, "F32": 4, "BF16": 2, "F16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
                      "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}


@dataclass
class Plan:
    """What `load` will do, and the numbers it decided from (bytes)."""

    device: str
    dtype: torch.dtype
    parameters: int
    weights_bytes: int  # the parameters at `dtype`
    working_bytes: int
    available_bytes: int  # RAM (CPU) or free GPU memory the load may use
    offload: bool = False  # load with device_map="auto" + disk offload
    max_memory: dict = field(default_factory=dict)  # the cap handed to accelerate when offloading
    notes: list[str] = field(default_factory=list)  # what was decided and why, for the user

    @property
    def needed_bytes(self) -> int:
        return self.weights_bytes + self.working_bytes

    def summary(self) -> str:
        where = "with disk offload" if self.offload else f"on {self.device}"
        return (f"{self.parameters / 1e9:.2f}B parameters, {dtype_name(self.dtype)} {where}: "
                f"{gb(self.weights_bytes)} of weights + {gb(self.working_bytes)} working, "
                f"{gb(self.available_bytes)} available")


def gb(n: float) -> str:
    return f"{n / GB:.1f} GB"


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def bytes_per(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


# --- what the machine has -------------------------------------------------------------------------

def available_ram() -> int:
    """Bytes of RAM a new allocation can get now: MemAvailable, capped by a cgroup limit (containers)."""
    try:
        import psutil

        free = int(psutil.virtual_memory().available)
    except ImportError:
        free = _meminfo_available()
    limit = _cgroup_room()
    return min(free, limit) if limit is not None else free


def _meminfo_available() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise OSError("no MemAvailable in /proc/meminfo")


def _cgroup_room() -> int | None:
    """What a cgroup v2 memory limit leaves (limit - usage), or None without one."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int(Path("/sys/fs/cgroup/memory.current").read_text()))
    except (OSError, ValueError):
        return None


def available_gpu(device: str) -> int:
    index = torch.device(device).index or 0
    return int(torch.cuda.mem_get_info(index)[0])


def free_disk(folder: Path) -> int:
    folder = Path(folder)
    while not folder.exists():
        folder = folder.parent
    return shutil.disk_usage(folder).free


# --- what the model needs ------------------------------------------------------------------------

def weight_files(folder: Path) -> list[Path]:
    """The safetensors files transformers would load: those of the index when there is one (a
    repo may also hold a consolidated copy of the same weights), else model.safetensors, else all."""
    folder = Path(folder)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        return [folder / name for name in sorted(set(json.loads(index.read_text())["weight_map"].values()))]
    single = folder / "model.safetensors"
    return [single] if single.is_file() else sorted(folder.glob("*.safetensors"))


def count_safetensors(folder: Path) -> int:
    """Parameters in a folder's safetensors weights, read from their headers only."""
    total = 0
    for path in weight_files(folder):
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(length))
        for name, info in header.items():
            if name != "__metadata__":
                n = 1
                for d in info["shape"]:
                    n *= d
                total += n
    return total


def count_gguf(path: Path) -> int:
    """Parameters of a GGUF file, from its header's tensor table (nothing dequantized).

    Read directly: gguf's reader also decodes every metadata string (a 150k-token vocabulary
    takes many seconds), and only the tensor shapes are needed here.
    """
    with open(path, "rb") as f:
        magic, version = f.read(4), _u32(f)
        if magic != b"GGUF" or version < 2:
            raise BadInput(f"'{path}' is not a GGUF file (version 2 or later): its header does not say GGUF.")
        tensors, kvs = _u64(f), _u64(f)
        for _ in range(kvs):
            _skip_string(f)
            _skip_value(f, _u32(f))
        total = 0
        for _ in range(tensors):
            _skip_string(f)
            n = 1
            for _ in range(_u32(f)):
                n *= _u64(f)
            f.seek(12, 1)  # type (u32) and data offset (u64)
            total += n
    return total


_GGUF_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}  # value type -> bytes
_GGUF_STRING, _GGUF_ARRAY = 8, 9


def _u32(f) -> int:
    return struct.unpack("<I", f.read(4))[0]


def _u64(f) -> int:
    return struct.unpack("<Q", f.read(8))[0]


def _skip_string(f) -> None:
    f.seek(_u64(f), 1)


def _skip_value(f, kind: int) -> None:
    if kind == _GGUF_STRING:
        _skip_string(f)
    elif kind == _GGUF_ARRAY:
        item, count = _u32(f), _u64(f)
        if item in _GGUF_SIZES:
            f.seek(_GGUF_SIZES[item] * count, 1)
        else:
            for _ in range(count):
                _skip_value(f, item)
    elif kind in _GGUF_SIZES:
        f.seek(_GGUF_SIZES[kind], 1)
    else:
        raise BadInput(f"Unknown GGUF metadata type {kind}: the file is damaged or from a newer GGUF version.")


def count_config(config) -> int:
    """Parameters of the model a config describes, built on the 'meta' device (no memory)."""
    from accelerate import init_empty_weights
    from transformers import AutoModelForCausalLM

    with init_empty_weights():
        skeleton = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in skeleton.parameters())


# --- the plan -------------------------------------------------------------------------------------

def working_bytes(weights: int) -> int:
    return FIXED_WORKING + int(WORKING_SHARE * weights)


def make_plan(parameters: int, device: str, dtype, *, available: int | None = None,
              disk_free: int | None = None, allow_offload: bool = True, extra_bytes: int = 0) -> Plan:
    """The plan for `parameters` on `device` at `dtype` (a torch.dtype, or "auto": fp32 on a CPU
    unless it does not fit, then bf16; on a GPU what `resolve_dtype` picks).

    available / disk_free: bytes (default: measured now). extra_bytes: working memory the source
    itself needs on top (a GGUF is read whole while it is dequantized). Raises BadInput when
    nothing fits.
    """
    on_gpu = device.startswith("cuda")
    if available is None:
        available = available_gpu(device) if on_gpu else available_ram()
    auto = dtype == "auto"
    chosen = resolve_dtype(dtype, device)

    def plan(dt, **kw) -> Plan:
        w = parameters * bytes_per(dt)
        return Plan(device, dt, parameters, w, working_bytes(w) + extra_bytes, available, **kw)

    first = plan(chosen)
    if first.needed_bytes <= available:
        return first
    if auto and not on_gpu and chosen == torch.float32:
        half = plan(torch.bfloat16)
        note = (f"bfloat16 instead of float32: float32 needs {gb(first.needed_bytes)} and "
                f"{gb(available)} is available")
        if half.needed_bytes <= available:
            half.notes.append(note)
            return half
        first = half
        first.notes.append(note)
    return _offload_or_refuse(first, available, disk_free, allow_offload, extra_bytes)


def _offload_or_refuse(p: Plan, available: int, disk_free: int | None, allow_offload: bool,
                       extra_bytes: int) -> Plan:
    resident = int(OFFLOAD_RESIDENT_SHARE * p.weights_bytes) + p.working_bytes
    if disk_free is None:
        from .embedded import cache_root

        disk_free = free_disk(cache_root())
    fits_disk = disk_free >= p.weights_bytes
    if allow_offload and not extra_bytes and resident <= available and fits_disk:
        room = available - p.working_bytes
        p.offload = True
        p.max_memory = ({torch.device(p.device).index or 0: room, "cpu": available_ram()}
                        if p.device.startswith("cuda") else {"cpu": room})
        p.notes.append(f"disk offload: {gb(p.needed_bytes)} needed, {gb(available)} available; "
                       f"{gb(room)} of weights stay in memory, the rest is read from disk per forward pass (slow)")
        return p
    why = []
    if extra_bytes:
        why.append("a GGUF file is dequantized whole in memory before it can be offloaded")
    elif not allow_offload:
        why.append("disk offload is not possible with this load (an explicit device map or quantization)")
    elif not fits_disk:
        why.append(f"disk offload needs {gb(p.weights_bytes)} of free disk and {gb(disk_free)} is free")
    else:
        why.append(f"even with disk offload {gb(resident)} must stay in memory")
    raise BadInput(
        f"The model does not fit: {p.parameters / 1e9:.2f}B parameters in {dtype_name(p.dtype)} need "
        f"{gb(p.needed_bytes)} ({gb(p.weights_bytes)} of weights + {gb(p.working_bytes)} working) on {p.device}, "
        f"and {gb(available)} is available; {'; '.join(why)}. Free memory (close other programs), "
        "pick a smaller model, a GPU (--device cuda), or a smaller dtype (--dtype bfloat16)."
    )


_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
           "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}


def resolve_dtype(dtype, device: str) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    try:
        return _DTYPES[dtype]
    except KeyError:
        raise BadInput(f"Unknown dtype '{dtype}': use 'auto', 'float32', 'bfloat16' or 'float16'.") from None
