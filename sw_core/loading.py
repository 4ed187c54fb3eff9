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

from . import embedded
from .arch import ArchAdapter, DownProj, adapter_for, model_type_of
from .errors import BadInput, ModelLoadError

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

    def encode(self, text: str, add_bos: bool | None = None) -> torch.Tensor:
        """Token ids [1, T] on the input device. add_bos=None keeps the tokenizer's own rule."""
        if not isinstance(text, str):
            raise BadInput(f"The prompt must be text, not {type(text).__name__}: decode it first.")
        if not text.strip():
            raise BadInput("The prompt is empty: type some text to run the model on.")
        ids = self.tokenizer(text, add_special_tokens=add_bos is not False)["input_ids"]
        bos = self.tokenizer.bos_token_id
        if add_bos and bos is not None and (not ids or ids[0] != bos):
            ids = [bos] + ids
        if add_bos is False and bos is not None and ids and ids[0] == bos:
            ids = ids[1:]
        if not ids:
            raise BadInput(f"The prompt {text[:40]!r} gives no tokens: type some words.")
        return torch.tensor([ids], device=self.input_device)

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


def load(
    ref: str = EMBEDDED,
    device: str = "auto",
    dtype="auto",
    *,
    device_map: str | dict | None = None,
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
    quantization_config=None,
) -> Loaded:
    """Load `ref` and return a `Loaded`. `device_map="auto"` spreads a large model over devices."""
    if not isinstance(ref, str) or not ref.strip():
        raise BadInput("No model given: use 'embedded', a local folder, a .gguf file or a hub id.")
    ref = ref.strip()
    start = time.perf_counter()
    dev = resolve_device(device) if device_map is None else None
    torch_dtype = resolve_dtype(dtype, dev or ("cuda" if torch.cuda.is_available() else "cpu"))
    kwargs = dict(dtype=torch_dtype, trust_remote_code=trust_remote_code)
    if device_map is not None:
        kwargs["device_map"] = device_map
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config

    from_cache = False
    if ref == EMBEDDED:
        model, tokenizer, source, from_cache = _load_embedded(kwargs)
    elif _looks_local(ref):
        model, tokenizer, source = _load_local(Path(ref).expanduser(), kwargs, allow_pickle)
    else:
        model, tokenizer, source = _load_hub(ref, kwargs, allow_pickle)

    if dev is not None and quantization_config is None:
        model.to(dev)
    model.eval()
    model.requires_grad_(False)
    if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return wrap(model, tokenizer, ref=ref, source=source, from_cache=from_cache, start=start)


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


def _load_embedded(kwargs):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = embedded.cache_dir()
    if embedded.cache_is_valid(folder):
        model = AutoModelForCausalLM.from_pretrained(folder, use_safetensors=True, **kwargs)
        return model, AutoTokenizer.from_pretrained(folder), str(folder), True
    gguf = embedded.gguf_path()
    model, tokenizer = _from_gguf(gguf, {**kwargs, "dtype": torch.float32})
    embedded.write_cache(model, tokenizer, folder)
    if kwargs["dtype"] != torch.float32:
        model.to(kwargs["dtype"])
    return model, tokenizer, str(gguf), False


def _from_gguf(path: Path, kwargs):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {k: v for k, v in kwargs.items() if k != "trust_remote_code"}
    try:
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


def _load_local(path: Path, kwargs, allow_pickle: bool):
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
        model, tokenizer = _from_gguf(path, kwargs)
        return model, tokenizer, str(path)
    AutoConfig, AutoModelForCausalLM, AutoTokenizer = _auto_classes()
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"'{path}' has no config.json: it is not a Hugging Face model folder.")
    has_safetensors = any(path.glob("*.safetensors"))
    if not has_safetensors and not allow_pickle:
        pickles = sorted(p.name for p in path.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt"))
        raise ModelLoadError(
            f"'{path}' holds no .safetensors weights"
            + (f", only pickled ones ({', '.join(pickles[:3])})" if pickles else "")
            + ". Pickle files can run arbitrary code when loaded: convert them to safetensors, "
            "or pass allow_pickle=True (CLI: --allow-pickle) if you trust their source."
        )
    config = AutoConfig.from_pretrained(path, trust_remote_code=kwargs["trust_remote_code"])
    _check_config(config, str(path))
    model = AutoModelForCausalLM.from_pretrained(path, use_safetensors=not allow_pickle or has_safetensors, **kwargs)
    return model, AutoTokenizer.from_pretrained(path), str(path)


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


def _load_hub(ref: str, kwargs, allow_pickle: bool):
    check_hub_id(ref)
    AutoConfig, AutoModelForCausalLM, AutoTokenizer = _auto_classes()
    offline = hub_offline_reason()
    # Offline: read the local cache only, so a missing model fails at once instead of after retries.
    local = {"local_files_only": True} if offline else {}
    try:
        config = AutoConfig.from_pretrained(ref, trust_remote_code=kwargs["trust_remote_code"], **local)
        _check_config(config, ref)
        model = AutoModelForCausalLM.from_pretrained(ref, use_safetensors=not allow_pickle or None, **kwargs, **local)
        tokenizer = AutoTokenizer.from_pretrained(ref, **local)
    except OSError as e:
        if isinstance(e, ModelLoadError):
            raise
        hf_home = os.environ.get("HF_HOME", "~/.cache/huggingface")
        if offline:
            raise ModelLoadError(
                f"Offline ({offline}): the hub model '{ref}' is not in the local cache ({hf_home}), and "
                "the Hugging Face hub cannot be reached to download it. Use 'embedded', which works "
                "offline, or connect once to download the model."
            ) from e
        raise ModelLoadError(
            f"Could not load the hub model '{ref}': it is not in the local cache ({hf_home}) and "
            f"the Hugging Face hub did not provide it, or the id does not exist. Check the id, or use "
            f"'embedded', which works offline. Detail: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        ) from e
    return model, tokenizer, ref
