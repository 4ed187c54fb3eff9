"""Load a causal LM from a reference: "embedded", a local folder, a local .gguf file, or a hub id.

Safe by default: `trust_remote_code=False` and safetensors only, unless the caller opts in.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from . import embedded, gguf_reads
from .arch import ArchAdapter, DownProj, adapter_for, model_type_of
from .errors import BadInput, ModelLoadError
from .leading_tokens import leading_ids
from .memory_plan import resolve_dtype  # re-exported: callers ask loading for it

EMBEDDED = "embedded"


@dataclass
class Loaded:
    """A model ready for scans and edits. Shared by every caller: never mutate it outside a lock.

    Build one with `load` or `wrap`: they also register the scan / edit hooks (`instrument`).
    """

    model: nn.Module
    tokenizer: object
    ref: str
    model_type: str
    layers: list[DownProj]
    from_cache: bool
    load_seconds: float
    source: str  # what was actually read: a folder, a .gguf file or a hub id
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    plan: object = field(default=None, repr=False)  # the memory plan it was loaded by (sw_core.memory_plan)

    @property
    def arch(self) -> ArchAdapter:
        """Where this architecture keeps its decoder stack, blocks and MLP parts."""
        return adapter_for(self.model_type)

    @property
    def config(self):
        return self.model.config

    @property
    def input_device(self) -> torch.device:
        """Where token ids must go (the embedding's device, also under a device map)."""
        return self.model.get_input_embeddings().weight.device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def name(self) -> str:
        return embedded.MODEL_NAME if self.ref == EMBEDDED else self.ref

    def encode(self, text: str, add_bos: bool | None = None, max_tokens: int | None = None) -> torch.Tensor:
        """Token ids [1, T] on the input device. add_bos=None keeps the tokenizer's own rule.
        max_tokens: only the first ones (of a long text, without tokenizing all of it)."""
        if not isinstance(text, str):
            raise BadInput(f"The prompt must be text, not {type(text).__name__}: decode it first.")
        if not text.strip():
            raise BadInput("The prompt is empty: type some text to run the model on.")

        def tokenize(part: str) -> list[int]:
            return self.tokenizer(part, add_special_tokens=add_bos is not False)["input_ids"]

        ids = tokenize(text) if max_tokens is None else leading_ids(tokenize, text, max_tokens + 1)  # +1: a BOS dropped below
        bos = self.tokenizer.bos_token_id
        if add_bos and bos is not None and (not ids or ids[0] != bos):
            ids = [bos] + ids
        if add_bos is False and bos is not None and ids and ids[0] == bos:
            ids = ids[1:]
        if not ids:
            raise BadInput(f"The prompt {text[:40]!r} gives no tokens: type some words.")
        return torch.tensor([ids if max_tokens is None else ids[:max_tokens]], device=self.input_device)

    def info(self) -> dict:
        c = self.config
        return {
            "model": self.name,
            "source": self.source,
            "architecture": type(self.model).__name__,
            "model_type": self.model_type,
            "layers": self.num_layers,
            "hidden_size": getattr(c, "hidden_size", None) or getattr(c, "n_embd", None),
            "intermediate_size": self.layers[0].in_features,
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "device": str(self.input_device),
            "dtype": str(self.dtype).replace("torch.", ""),
            "load_seconds": round(self.load_seconds, 3),
            "from_cache": self.from_cache,
        }


def resolve_device(device: str = "auto") -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BadInput(f"Device '{device}' was asked for, but no CUDA GPU is visible; use 'cpu' or 'auto'.")
    if device not in ("cpu", "mps") and not device.startswith("cuda"):
        raise BadInput(f"Unknown device '{device}': use 'auto', 'cpu', 'cuda' or 'cuda:N'.")
    return device


def load(
    ref: str = EMBEDDED,
    device: str = "auto",
    dtype="auto",
    *,
    device_map: str | dict | None = None,
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
    quantization_config=None,
    memory_budget: int | None = None,
    progress=None,
) -> Loaded:
    """Load `ref` and return a `Loaded`. `device_map="auto"` spreads a large model over devices.

    Before any weights are read, a memory plan (`sw_core.memory_plan`) checks that the model fits
    the device: `dtype="auto"` on a CPU falls back to bfloat16, then to disk offload, and a model
    that fits nowhere is refused with the numbers (BadInput). memory_budget: the bytes the load may
    use instead of what the machine has available now. A GGUF, or a hub checkpoint cast to another
    dtype, is converted once and read from `$SW_CACHE` afterwards (`sw_core.conversion_cache`).
    progress(step, done, total): see `sw_core.progress` (steps "download", "convert", "load", "cache").
    """
    if not isinstance(ref, str) or not ref.strip():
        raise BadInput("No model given: use 'embedded', a local folder, a .gguf file or a hub id.")
    ref = ref.strip()
    start = time.perf_counter()
    dev = resolve_device(device) if device_map is None else None
    request = _Request(ref, dev or ("cuda" if torch.cuda.is_available() else "cpu"), dtype,
                       dict(trust_remote_code=trust_remote_code), device_map, quantization_config,
                       allow_pickle, memory_budget, progress)
    if ref == EMBEDDED:
        model, tokenizer, source, from_cache = _load_embedded(request)
    elif _looks_local(ref):
        model, tokenizer, source, from_cache = _load_local(Path(ref).expanduser(), request)
    else:
        model, tokenizer, source, from_cache = _load_hub(ref, request)

    if dev is not None and quantization_config is None and request.plan_offload is False:
        model.to(dev)
    model.eval()
    model.requires_grad_(False)
    if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
        tokenizer.pad_token = tokenizer.eos_token
    loaded = wrap(model, tokenizer, ref=ref, source=source, from_cache=from_cache, start=start)
    loaded.plan = request.plan
    return loaded


@dataclass
class _Request:
    """What the caller asked for, and the memory plan made for it once the model's size is known."""

    ref: str
    device: str
    dtype: object  # "auto", a name or a torch.dtype
    kwargs: dict
    device_map: object
    quantization_config: object
    allow_pickle: bool
    memory_budget: int | None
    progress: object
    plan: object = None

    @property
    def plan_offload(self) -> bool:
        return bool(self.plan is not None and self.plan.offload)

    @property
    def planned(self) -> bool:
        # An explicit device map or quantization is the caller's own plan.
        return self.device_map is None and self.quantization_config is None

    def decide(self, parameters: int, extra_bytes: int = 0, can_offload: bool = True) -> torch.dtype:
        """Make the memory plan (or refuse); returns the dtype to load in."""
        from .memory_plan import make_plan

        if not self.planned:
            return resolve_dtype(self.dtype, self.device)
        self.plan = make_plan(parameters, self.device, self.dtype, available=self.memory_budget,
                              extra_bytes=extra_bytes, allow_offload=can_offload)
        return self.plan.dtype

    def from_pretrained_kwargs(self, dtype: torch.dtype) -> dict:
        kw = dict(self.kwargs, dtype=dtype)
        if self.device_map is not None:
            kw["device_map"] = self.device_map
        if self.quantization_config is not None:
            kw["quantization_config"] = self.quantization_config
        if self.plan_offload:
            kw.update(device_map="auto", max_memory=self.plan.max_memory, offload_folder=_offload_folder())
        return kw

    @property
    def may_cache(self) -> bool:
        """A converted model is cached only when it is whole in memory, as a plain float model."""
        return self.planned and not self.plan_offload


def _offload_folder() -> str:
    """A fresh folder for accelerate's offloaded weights, removed when the process ends."""
    import atexit
    import shutil
    import tempfile

    root = embedded.cache_root()
    root.mkdir(parents=True, exist_ok=True)
    folder = tempfile.mkdtemp(prefix=".offload-", dir=root)
    atexit.register(shutil.rmtree, folder, True)
    return folder


def wrap(model: nn.Module, tokenizer, *, ref: str, source: str, from_cache: bool = False,
         start: float | None = None) -> Loaded:
    """A `Loaded` for a model already in eval mode, instrumented (hooks registered) and ready to
    share. `start`: the perf_counter value when loading began (for `load_seconds`)."""
    from .instrument import instrument

    loaded = Loaded(
        model=model,
        tokenizer=tokenizer,
        ref=ref,
        model_type=model_type_of(model),
        layers=adapter_for(model_type_of(model)).down_projections(model),
        from_cache=from_cache,
        load_seconds=0.0 if start is None else time.perf_counter() - start,
        source=source,
    )
    instrument(loaded)  # the one explicit step that registers hooks, before anyone shares it
    return loaded


def _looks_local(ref: str) -> bool:
    # A hub id is "name" or "org/name"; anything that exists, or looks like a path, is local.
    if os.path.exists(os.path.expanduser(ref)):
        return True
    if hub_revision(ref) is not None:  # "org/name@rev", ".../tree/rev", a hub URL: a hub id, not a path
        return False
    return (
        ref.startswith((".", "/", "~"))
        or ref.endswith(".gguf")
        or ref.count("/") > 1
        or "\\" in ref
    )


def _auto_classes():
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    return AutoConfig, AutoModelForCausalLM, AutoTokenizer


def _load_embedded(req: _Request):
    from . import memory_plan

    folder = embedded.cache_dir()
    if embedded.cache_is_valid(folder):
        dtype = req.decide(memory_plan.count_safetensors(folder))
        model, tokenizer = _from_folder(folder, req, dtype)
        return model, tokenizer, str(folder), True
    gguf = embedded.gguf_path()
    dtype = req.decide(memory_plan.count_gguf(gguf), extra_bytes=gguf.stat().st_size)
    model, tokenizer = _from_gguf(gguf, req, torch.float32)
    with _capturing(req, "cache") as report:
        embedded.write_cache(model, tokenizer, folder, progress=report)
    if dtype != torch.float32:
        model.to(dtype)
    return model, tokenizer, str(gguf), False


def _capturing(req: _Request, step: str):
    """The transformers progress bars of this step go to the caller's progress; yields a
    (done, total) callback for our own counts."""
    from contextlib import contextmanager

    from .progress import captured, steps

    @contextmanager
    def inner():
        with captured(req.progress, step):
            yield steps(req.progress, step)

    return inner()


def _from_folder(folder: Path, req: _Request, dtype: torch.dtype, tokenizer_from: Path | None = None):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with _capturing(req, "load"):
        model = AutoModelForCausalLM.from_pretrained(folder, use_safetensors=True, **req.from_pretrained_kwargs(dtype))
    return model, AutoTokenizer.from_pretrained(tokenizer_from or folder)


def _load_gguf(path: Path, req: _Request):
    """A GGUF file: from the conversion cache when it was converted before, else dequantized and cached."""
    from . import conversion_cache, memory_plan

    source = conversion_cache.file_source(path)
    parameters = memory_plan.count_gguf(path)
    # The dtype first (the cache is per dtype): planned as if the cached safetensors were read.
    dtype = req.decide(parameters)
    cached = conversion_cache.lookup(source, dtype) if req.planned else None
    if cached is not None:
        model, tokenizer = _from_folder(cached, req, dtype)
        return model, tokenizer, str(path), True
    if req.planned:  # converting reads the whole file and dequantizes in memory: no offload
        dtype = req.decide(parameters, extra_bytes=path.stat().st_size, can_offload=False)
    model, tokenizer = _from_gguf(path, req, dtype)
    if req.may_cache:
        with _capturing(req, "cache") as report:
            conversion_cache.write(model, tokenizer, conversion_cache.entry_dir(source, dtype),
                                   {"source": source, "dtype": str(dtype).replace("torch.", "")}, report)
    return model, tokenizer, str(path), False


def _from_gguf(path: Path, req: _Request, dtype: torch.dtype):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {k: v for k, v in req.from_pretrained_kwargs(dtype).items() if k != "trust_remote_code"}
    try:
        with gguf_reads.once():
            with _capturing(req, "convert"):
                model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, **kwargs)
            tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    except (ValueError, OSError, KeyError) as e:
        raise ModelLoadError(f"Could not read the GGUF file {path}: {e}") from e
    # Dequantized on load: it is a plain float model now, and save_pretrained refuses otherwise.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False
    return model, tokenizer


def _check_config(config, ref: str) -> None:
    from transformers import MODEL_FOR_CAUSAL_LM_MAPPING, MODEL_FOR_MASKED_LM_MAPPING

    # BERT-like encoders also register a "causal" head; their masked-LM head gives them away.
    encoder = type(config) in MODEL_FOR_MASKED_LM_MAPPING or getattr(config, "is_encoder_decoder", False)
    if type(config) not in MODEL_FOR_CAUSAL_LM_MAPPING or encoder:
        raise ModelLoadError(
            f"'{ref}' is a {type(config).__name__} ({config.model_type}), which is not a causal "
            "language model: super weights are defined for decoder-only LMs (Llama, Mistral, "
            "GPT-2, ...). Pick a causal LM."
        )
    adapter_for(config.model_type)  # raises UnsupportedArchitecture with the list


def _load_local(path: Path, req: _Request):
    if not path.exists():
        raise ModelLoadError(
            f"Local model path '{path}' does not exist. Give an existing folder (with config.json "
            "and *.safetensors) or .gguf file, a hub id, or 'embedded'."
        )
    if path.is_file():
        if path.suffix != ".gguf":
            raise ModelLoadError(
                f"'{path}' is a file but not a .gguf: give a GGUF file or a model folder."
            )
        return _load_gguf(path, req)
    AutoConfig, _, _ = _auto_classes()
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"'{path}' has no config.json: it is not a Hugging Face model folder.")
    _check_weights(path, req.allow_pickle, str(path))
    config = AutoConfig.from_pretrained(path, trust_remote_code=req.kwargs["trust_remote_code"])
    _check_config(config, str(path))
    model, tokenizer, _ = _from_checkpoint(path, config, req)
    return model, tokenizer, str(path), False


def _check_weights(path: Path, allow_pickle: bool, ref: str) -> None:
    if any(path.glob("*.safetensors")) or allow_pickle:
        return
    pickles = sorted(p.name for p in path.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt"))
    raise ModelLoadError(
        f"'{ref}' holds no .safetensors weights"
        + (f", only pickled ones ({', '.join(pickles[:3])})" if pickles else "")
        + ". Pickle files can run arbitrary code when loaded: convert them to safetensors, "
        "or pass allow_pickle=True (CLI: --allow-pickle) if you trust their source."
    )


def _from_checkpoint(path: Path, config, req: _Request, cache_source: dict | None = None):
    """A Hugging Face checkpoint folder, after its memory plan: (model, tokenizer, from_cache).
    cache_source (a hub checkpoint's identity): a load in another dtype than the stored one is
    converted once, then read from the cache."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from . import conversion_cache, memory_plan

    has_safetensors = any(path.glob("*.safetensors"))
    parameters = memory_plan.count_safetensors(path) if has_safetensors else memory_plan.count_config(config)
    dtype = req.decide(parameters)
    stored = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    convert = cache_source is not None and req.planned and stored is not None and _as_dtype(stored) != dtype
    if convert:
        cached = conversion_cache.lookup(cache_source, dtype)
        if cached is not None:
            model, tokenizer = _from_folder(cached, req, dtype)
            return model, tokenizer, True
    with _capturing(req, "load"):
        model = AutoModelForCausalLM.from_pretrained(path, use_safetensors=has_safetensors or not req.allow_pickle,
                                                     **req.from_pretrained_kwargs(dtype))
    tokenizer = AutoTokenizer.from_pretrained(path)
    if convert and req.may_cache:
        with _capturing(req, "cache") as report:
            conversion_cache.write(model, tokenizer, conversion_cache.entry_dir(cache_source, dtype),
                                   {"source": cache_source, "dtype": str(dtype).replace("torch.", "")}, report)
    return model, tokenizer, False


def _as_dtype(value) -> torch.dtype | None:
    if isinstance(value, torch.dtype):
        return value
    return getattr(torch, str(value).replace("torch.", ""), None)


_HUB_URL = ("https://huggingface.co/", "http://huggingface.co/", "huggingface.co/", "hf.co/")
_REVISION_PATHS = ("/tree/", "/blob/", "/resolve/", "/commit/")
PROBE_SECONDS = 1.5  # how long a missing network may delay the answer (the hub's own retries take ~25 s)
_probe_cache: dict = {}  # host -> (monotonic time, reachable)


def hub_revision(ref: str) -> str | None:
    """What in `ref` names a revision or a URL ("@rev", ":rev", "/tree/rev", "https://huggingface.co/..."), else None."""
    low = ref.lower()
    for prefix in _HUB_URL:
        if low.startswith(prefix):
            return ref
    for marker in _REVISION_PATHS:
        if marker in ref:
            return ref.split(marker, 1)[1]
    head = ref.split("/", 1)[-1]
    for sep in ("@", ":"):
        if sep in head and not ref.startswith(("/", ".", "~")) and "\\" not in ref:
            return head.split(sep, 1)[1]
    return None


def check_hub_id(ref: str) -> None:
    """BadInput if `ref` is a hub id with a revision or a hub URL (load takes a plain id: "org/name")."""
    rev = hub_revision(ref)
    if rev is None:
        return
    plain = _plain_id(ref)
    raise BadInput(
        f"'{ref}' names a revision or a web address, not a plain hub id: models load from their main "
        f"branch only, so give the id '{plain}'. For another revision, download it once "
        f"(`huggingface-cli download {plain} --revision REV --local-dir DIR`) and give that folder "
        "(a local run; a public server opens no local folders)."
    )


def _plain_id(ref: str) -> str:
    low = ref.lower()
    for prefix in _HUB_URL:
        if low.startswith(prefix):
            ref = ref[len(prefix):]
            break
    for marker in _REVISION_PATHS:
        ref = ref.split(marker, 1)[0]
    org, _, name = ref.partition("/")
    name = name.split("@", 1)[0].split(":", 1)[0] if name else ""
    org = org.split("@", 1)[0].split(":", 1)[0]
    return f"{org}/{name}" if name else org


def hub_offline_reason() -> str | None:
    """Why the hub cannot be reached now ("HF_HUB_OFFLINE is set", "no network"), or None if it can.

    A TCP connection with a short timeout, run in a thread so that a slow DNS lookup cannot hold
    the caller either; the answer is reused for 30 s.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set"
    from urllib.parse import urlparse

    endpoint = os.environ.get("HF_ENDPOINT", "").strip() or "https://huggingface.co"
    url = urlparse(endpoint)
    host, port = url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)
    now = time.monotonic()
    cached = _probe_cache.get((host, port))
    if cached and now - cached[0] < 30:
        return None if cached[1] else f"no network: {host} cannot be reached"
    ok = _reachable(host, port)
    _probe_cache[(host, port)] = (now, ok)
    return None if ok else f"no network: {host} cannot be reached"


def _reachable(host: str, port: int) -> bool:
    """Whether a TCP connection to host:port opens within PROBE_SECONDS (a hanging lookup counts as no)."""
    result = {"ok": False}

    def probe():
        import socket

        try:
            socket.create_connection((host, port), timeout=PROBE_SECONDS).close()
            result["ok"] = True
        except OSError:
            pass

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(PROBE_SECONDS)
    return result["ok"]


def _load_hub(ref: str, req: _Request):
    from . import conversion_cache, hub

    check_hub_id(ref)
    AutoConfig, _, _ = _auto_classes()
    offline = hub_offline_reason()
    # Offline: read the local cache only, so a missing model fails at once instead of after retries.
    local = {"local_files_only": True} if offline else {}
    try:
        config = AutoConfig.from_pretrained(ref, trust_remote_code=req.kwargs["trust_remote_code"], **local)
    except OSError as e:
        if isinstance(e, ModelLoadError):
            raise
        raise hub.load_error(ref, e, offline) from e
    _check_config(config, ref)
    from .memory_plan import count_config

    req.decide(count_config(config))  # before any weights are downloaded: refuse early
    folder = hub.download(ref, allow_pickle=req.allow_pickle, offline=bool(offline), progress=req.progress)
    _check_weights(folder, req.allow_pickle, ref)
    model, tokenizer, from_cache = _from_checkpoint(folder, config, req, conversion_cache.hub_source(ref, folder.name))
    return model, tokenizer, ref, from_cache
