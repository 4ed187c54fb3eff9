"""Per-architecture adapters: everything this project knows about where things are inside a model.

One adapter per Hugging Face `model_type`, in an explicit table, in the spirit of transformers'
one-model-one-file code: no generic attribute search that guesses wrong on a new model. An
adapter says where the decoder stack is (embeddings + decoder blocks + final norm, without the LM
head), where the blocks are in it, and what the MLP of a block is made of (first projection(s),
activation, down projection). Nothing else in the project slices module names.

Convention used everywhere in the project: a coordinate is `[row, col]` = `[output channel,
input channel]` of the projection's weight seen as `[out_features, in_features]`. That is the
storage layout of `nn.Linear`; GPT-2's `Conv1D` stores `[in, out]`, so its view is transposed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .errors import UnsupportedArchitecture
from .weights import dense_weight_of, stored_weight, weight_view_of


@dataclass(frozen=True)
class Mlp:
    """Attribute names of one block's MLP, relative to the block.

    Gated (Llama-like): down input = act(gate(h)) * up(h); `fused` (Phi-3): gate and up are the
    two halves of one `gate_up_proj` output, gate first. Not gated (GPT-2, NeoX, OPT): down input
    = act(up(h)), where `up` is the first projection (c_fc, dense_h_to_4h, fc1).
    """

    up: str  # the first projection (gate_up_proj when fused)
    act: str
    down: str
    gate: str | None = None
    fused: bool = False


@dataclass(frozen=True)
class ArchAdapter:
    """Where the decoder stack, its blocks and each block's MLP are, for one model_type."""

    stack_paths: tuple[str, ...]  # tried in order, from the CausalLM model: the stack without LM head
    mlp: Mlp
    layers: str = "layers"  # the block list inside the stack
    transposed: bool = False  # projection weights stored [in, out] (GPT-2 Conv1D)
    experts: str | None = None  # Mixture-of-Experts: the fused experts module inside a block

    @property
    def down_proj(self) -> str:
        """The down projection's path inside one block (e.g. "mlp.down_proj")."""
        return self.mlp.down

    def stack(self, model: nn.Module) -> tuple[str, nn.Module]:
        """(qualified name, module) of the decoder stack: called with input_ids, it runs every
        block and the final norm, and not the LM head (what a scan needs)."""
        for path in self.stack_paths:
            try:
                return path, _get(model, path)
            except AttributeError:
                continue
        raise UnsupportedArchitecture(
            f"{type(model).__name__} (model_type '{model_type_of(model)}') has none of the decoder "
            f"stacks {list(self.stack_paths)}; it may be a variant this project does not support. "
            f"Supported: {supported_list()}."
        )

    def blocks(self, model: nn.Module) -> list[tuple[str, nn.Module]]:
        """(qualified name, module) of every decoder block, in layer order."""
        prefix, stack = self.stack(model)
        return [(f"{prefix}.{self.layers}.{i}", b) for i, b in enumerate(_get(stack, self.layers))]

    def down_projections(self, model: nn.Module) -> list["DownProj"]:
        if self.experts is not None:
            return [self._down_proj(i, name, block) for i, (name, block) in enumerate(self.blocks(model))]
        return [
            DownProj(i, f"{name}.{self.mlp.down}", _get(block, self.mlp.down), self.transposed, name)
            for i, (name, block) in enumerate(self.blocks(model))
        ]

    def _down_proj(self, i: int, name: str, block: nn.Module) -> "DownProj":
        """A Mixture-of-Experts model's layer: its experts, or its dense MLP (DeepSeek-V3's first
        layers, Qwen-MoE's `mlp_only_layers`)."""
        experts = _find(block, self.experts)
        if experts is None:
            return DownProj(i, f"{name}.{self.mlp.down}", _get(block, self.mlp.down), self.transposed, name)
        return ExpertDownProj(i, f"{name}.{self.experts}", experts, False, name)

    def linears(self, model: nn.Module) -> list["Projection"]:
        """Every floating linear layer inside the decoder blocks (attention and MLP), in order."""
        out = []
        for i, (name, block) in enumerate(self.blocks(model)):
            for sub, m in block.named_modules():
                if sub and _is_linear(m) and m.weight.dtype.is_floating_point:
                    out.append(Projection(i, f"{name}.{sub}", m, self.transposed))
        return out

    def mlp_parts(self, block: nn.Module) -> "MlpParts":
        if self.experts is not None and _find(block, self.experts) is not None:
            raise UnsupportedArchitecture(
                "A Mixture-of-Experts layer has one MLP per expert: see sw_core.moe.routed.")
        m = self.mlp
        return MlpParts(
            up=_get(block, m.up), act=_get(block, m.act), down=_get(block, m.down),
            gate=None if m.gate is None else _get(block, m.gate), fused=m.fused,
        )


@dataclass
class MlpParts:
    """The modules of one block's MLP (see `Mlp`)."""

    up: nn.Module
    act: nn.Module
    down: nn.Module
    gate: nn.Module | None = None
    fused: bool = False

    @property
    def first(self) -> nn.Module:
        """The projection whose output channel c feeds the down projection's input channel c
        through the activation: the gate (gated), gate_up_proj (fused, rows [0, inter)), else up."""
        return self.gate if self.gate is not None else self.up

    def factors(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(act(gate(h)), up(h)) for gated MLPs, (act(up(h)), None) otherwise: the down
        projection's input is their product (or the first alone). h: the MLP's input."""
        if self.fused:
            gate, up = self.up(h).chunk(2, dim=-1)
            return self.act(gate), up
        if self.gate is not None:
            return self.act(self.gate(h)), self.up(h)
        return self.act(self.up(h)), None


_LLAMA_MLP = Mlp(up="mlp.up_proj", gate="mlp.gate_proj", act="mlp.act_fn", down="mlp.down_proj")
_LLAMA_LIKE = ArchAdapter(("model",), _LLAMA_MLP)

ARCHITECTURES: dict[str, ArchAdapter] = {
    "llama": _LLAMA_LIKE,
    "mistral": _LLAMA_LIKE,
    "qwen2": _LLAMA_LIKE,
    "qwen3": _LLAMA_LIKE,
    "phi3": ArchAdapter(("model",), Mlp(up="mlp.gate_up_proj", act="mlp.activation_fn", down="mlp.down_proj", fused=True)),
    "olmo": _LLAMA_LIKE,
    "olmo2": _LLAMA_LIKE,
    "gemma": _LLAMA_LIKE,
    "gemma2": _LLAMA_LIKE,
    "gemma3_text": _LLAMA_LIKE,
    "gemma3": ArchAdapter(("model.language_model", "language_model.model"), _LLAMA_MLP),
    "gpt2": ArchAdapter(("transformer",), Mlp(up="mlp.c_fc", act="mlp.act", down="mlp.c_proj"), "h", transposed=True),
    "gpt_neox": ArchAdapter(("gpt_neox",), Mlp(up="mlp.dense_h_to_4h", act="mlp.act", down="mlp.dense_4h_to_h")),
    "opt": ArchAdapter(("model.decoder",), Mlp(up="fc1", act="activation_fn", down="fc2")),
}


# Mixture-of-Experts (transformers 5): every expert of a layer lives in one `experts` module with
# 3-D parameters gate_up_proj [E, 2*inter, hidden] (gate first) and down_proj [E, hidden, inter];
# the router picks top-k experts per token. `mlp` describes the layers that have a dense MLP
# instead. Kept apart from ARCHITECTURES (the dense table).
_MOE = ArchAdapter(("model",), _LLAMA_MLP, experts="mlp.experts")
MOE_ARCHITECTURES: dict[str, ArchAdapter] = {
    "mixtral": _MOE,
    "qwen2_moe": _MOE,  # plus a dense shared expert (mlp.shared_expert: quantized, not scanned)
    "qwen3_moe": _MOE,
    "olmoe": _MOE,
    "deepseek_v3": _MOE,  # dense first layers; shared experts (mlp.shared_experts) as in Qwen2-MoE
}


def supported_list() -> str:
    return ", ".join(sorted({**ARCHITECTURES, **MOE_ARCHITECTURES}))


def adapter_for(model_type: str) -> ArchAdapter:
    try:
        return ARCHITECTURES.get(model_type) or MOE_ARCHITECTURES[model_type]
    except KeyError:
        raise UnsupportedArchitecture(
            f"Architecture '{model_type}' is not supported: no adapter says where its MLP down "
            f"projection is. Supported: {supported_list()}."
        ) from None


def _get(obj, path: str):
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _find(obj, path: str):
    """The attribute at `path`, or None where it is absent."""
    try:
        return _get(obj, path)
    except AttributeError:
        return None


def _is_linear(m: nn.Module) -> bool:
    return isinstance(m, nn.Linear) or type(m).__name__ == "Conv1D"


@dataclass
class Projection:
    """One linear layer of decoder block `layer`, with its weight seen as [out, in]."""

    layer: int
    name: str  # qualified module name inside the model, e.g. "model.layers.11.mlp.down_proj"
    module: nn.Module
    transposed: bool  # stored [in, out] (Conv1D)

    @property
    def out_features(self) -> int:
        return self.weight_view().shape[0]

    @property
    def in_features(self) -> int:
        return self.weight_view().shape[1]

    def weight_view(self) -> torch.Tensor:
        """The stored weight as a [out, in] view (no copy; the offloaded copy under a device map).
        Quantized layers: see `dense_weight`."""
        return weight_view_of(self.module, self.transposed)

    def dense_weight(self) -> torch.Tensor:
        """The weight as a floating [out, in] tensor, dequantizing bitsandbytes layers."""
        return dense_weight_of(self.module, self.transposed)

    def stored_weight(self) -> torch.Tensor:
        """The weight in its storage layout (never a meta tensor when an offloaded copy exists)."""
        return stored_weight(self.module)

    @property
    def bias(self) -> torch.Tensor | None:
        return getattr(self.module, "bias", None)


@dataclass
class DownProj(Projection):
    """One layer's MLP output projection."""

    block: str = ""  # qualified name of the decoder block holding it, e.g. "model.layers.11"
    num_experts: int = 0  # 0: a dense MLP

    def value_at(self, c) -> float:
        """The weight at Coord `c` (its expert's, in a Mixture-of-Experts layer), dequantized."""
        w = self.dense_weight() if c.expert is None else self.expert_weight(c.expert)
        return float(w[c.row, c.col])


@dataclass
class ExpertDownProj(DownProj):
    """One MoE layer's down projections: `module` is the experts module, whose `down_proj` is one
    [experts, out, in] parameter (already [out, in] per expert: no transpose)."""

    def __post_init__(self):
        if getattr(self.module, "is_transposed", False) or not getattr(self.module, "has_gate", True):
            raise UnsupportedArchitecture(
                f"{type(self.module).__name__} stores its experts transposed or without a gate: "
                "this project reads the [experts, out, in] layout with a fused gate_up_proj only.")
        self.num_experts = int(self.module.down_proj.shape[0])

    @property
    def out_features(self) -> int:
        return int(self.module.down_proj.shape[1])

    @property
    def in_features(self) -> int:
        return int(self.module.down_proj.shape[2])

    def stored_weight(self) -> torch.Tensor:
        return self.module.down_proj

    def weight_view(self) -> torch.Tensor:
        """All experts' down projections, [experts, out, in] (the parameter itself)."""
        return self.module.down_proj

    def dense_weight(self) -> torch.Tensor:
        return self.module.down_proj

    def expert_weight(self, expert: int) -> torch.Tensor:
        """Expert `expert`'s down projection as [out, in] (a view)."""
        return self.module.down_proj[expert]


def model_type_of(model: nn.Module) -> str:
    return getattr(model.config, "model_type", type(model).__name__)


def down_projections(model: nn.Module) -> list[DownProj]:
    """Every decoder layer's down projection, in layer order."""
    return adapter_for(model_type_of(model)).down_projections(model)
