"""Per-architecture adapters: everything this project knows about where things are inside a model.

One record per Hugging Face `model_type`, in an explicit table, in the spirit of transformers'
one-model-one-file code: no generic attribute search that guesses wrong on a new model. A record
says where the decoder stack is (embeddings + decoder blocks + final norm, without the LM head),
where the blocks are in it, what the MLP of a block is made of (first projection(s), activation,
down projection; the experts and router of a Mixture-of-Experts layer), where its attention and
norms are, and how to build a tiny random model of it for the tests (`sw_core.testing`).
Which attribute holds what is written here only: other modules get modules from the adapter's
methods (`blocks`, `mlp_parts`, `attention_of`, `norm_of`, `moe_block`, `router_of`, ...), or the
qualified names it builds, never a name they cut up to find a neighbour.

Supporting a new architecture is one record in `ARCHITECTURES` (dense) or `MOE_ARCHITECTURES`.

Convention used everywhere in the project: a coordinate is `[row, col]` = `[output channel,
input channel]` of the projection's weight seen as `[out_features, in_features]`. That is the
storage layout of `nn.Linear`; GPT-2's `Conv1D` stores `[in, out]`, so its view is transposed.
"""

from __future__ import annotations

from collections.abc import Callable
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
class Sublayers:
    """Attribute names of one block's attention and norms, relative to the block (None: no such norm)."""

    attention: str  # the attention module
    attn_norm: str | None  # the norm whose output feeds attention (None: the raw residual)
    mlp_norm: str | None  # the norm whose output feeds the MLP
    mlp_out_norm: str | None = None  # a norm on the MLP output before it is added (Gemma 2/3, OLMo 2)


@dataclass(frozen=True)
class ArchAdapter:
    """Everything about one model_type: stack, blocks, MLP, attention, norms and its tiny test config."""

    stack_paths: tuple[str, ...]  # tried in order, from the CausalLM model: the stack without LM head
    mlp: Mlp
    sublayers: Sublayers
    final_norm: str  # inside the stack: the norm before the unembedding
    tiny_config: Callable[[int], object]  # layers -> a transformers config of a tiny random model
    layers: str = "layers"  # the block list inside the stack
    transposed: bool = False  # projection weights stored [in, out] (GPT-2 Conv1D)
    experts: str | None = None  # Mixture-of-Experts: the fused experts module inside a block
    router: str | None = None  # Mixture-of-Experts: the router (its weight [experts, hidden]) inside a block

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

    def final_norm_of(self, model: nn.Module) -> nn.Module:
        """The norm between the last block and the unembedding."""
        return _get(self.stack(model)[1], self.final_norm)

    def attention_of(self, block: nn.Module) -> nn.Module:
        return _get(block, self.sublayers.attention)

    def norm_of(self, block: nn.Module, which: str) -> nn.Module | None:
        """Norm `which` ("attn_norm", "mlp_norm" or "mlp_out_norm") of `block`, None where it has none."""
        path = getattr(self.sublayers, which)
        return None if path is None else _get(block, path)

    def moe_block(self, block: nn.Module) -> nn.Module | None:
        """The module that holds a Mixture-of-Experts layer's router and experts (its forward
        routes the tokens), or None for a dense layer."""
        if self.experts is None or _find(block, self.experts) is None:
            return None
        return _get(block, self.experts.rpartition(".")[0]) if "." in self.experts else block

    def router_of(self, block: nn.Module) -> nn.Module:
        """A Mixture-of-Experts layer's router: its weight [experts, hidden] scores each expert."""
        if self.router is None or self.moe_block(block) is None:
            raise UnsupportedArchitecture("This layer has no router: it is not a Mixture-of-Experts layer.")
        return _get(block, self.router)

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
        if self.moe_block(block) is not None:
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


# Tiny test models (`sw_core.testing.tiny_model`): a few layers of 64 channels, 4 heads, a
# 300-token byte vocabulary; Mixture-of-Experts layers have 4 experts of 64 channels, 2 per token.
TINY_HIDDEN, TINY_INTER, TINY_HEADS, TINY_VOCAB, TINY_POSITIONS = 64, 256, 4, 300, 256
TINY_EXPERTS, TINY_MOE_INTER = 4, 64
_TINY_IDS = dict(vocab_size=TINY_VOCAB, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=0)


def _config(class_name: str, **kwargs):
    """transformers' config class `class_name` built with `kwargs` (transformers imported on use)."""
    import transformers

    return getattr(transformers, class_name)(**kwargs)


def _llama_shape(layers: int, **extra) -> dict:
    return {**dict(hidden_size=TINY_HIDDEN, intermediate_size=TINY_INTER, num_hidden_layers=layers,
                   num_attention_heads=TINY_HEADS, num_key_value_heads=TINY_HEADS,
                   max_position_embeddings=TINY_POSITIONS, **_TINY_IDS), **extra}


def _tiny(class_name: str, **extra) -> Callable[[int], object]:
    """The tiny config of a Llama-shaped architecture (`extra`: its own required settings)."""
    return lambda layers: _config(class_name, **_llama_shape(layers, **extra))


def _tiny_moe(class_name: str, **extra) -> Callable[[int], object]:
    return _tiny(class_name, intermediate_size=TINY_MOE_INTER, num_experts_per_tok=2, **extra)


_HEAD_DIM = dict(head_dim=TINY_HIDDEN // TINY_HEADS)
_LLAMA_MLP = Mlp(up="mlp.up_proj", gate="mlp.gate_proj", act="mlp.act_fn", down="mlp.down_proj")
_LLAMA_SUBLAYERS = Sublayers("self_attn", "input_layernorm", "post_attention_layernorm")
_GEMMA2_SUBLAYERS = Sublayers("self_attn", "input_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm")


def _llama_like(tiny_config, sublayers: Sublayers = _LLAMA_SUBLAYERS, stack=("model",)) -> ArchAdapter:
    return ArchAdapter(stack, _LLAMA_MLP, sublayers, "norm", tiny_config)


ARCHITECTURES: dict[str, ArchAdapter] = {
    "llama": _llama_like(_tiny("LlamaConfig")),
    "mistral": _llama_like(_tiny("MistralConfig")),
    "qwen2": _llama_like(_tiny("Qwen2Config")),
    "qwen3": _llama_like(_tiny("Qwen3Config", **_HEAD_DIM)),
    "stablelm": _llama_like(_tiny("StableLmConfig")),
    "phi3": ArchAdapter(("model",), Mlp(up="mlp.gate_up_proj", act="mlp.activation_fn", down="mlp.down_proj", fused=True),
                        _LLAMA_SUBLAYERS, "norm", _tiny("Phi3Config")),
    "olmo": _llama_like(_tiny("OlmoConfig")),
    # OLMo 2 normalizes each sublayer's output instead of its input.
    "olmo2": _llama_like(_tiny("Olmo2Config"), Sublayers("self_attn", None, None, "post_feedforward_layernorm")),
    "gemma": _llama_like(_tiny("GemmaConfig", **_HEAD_DIM)),
    "gemma2": _llama_like(_tiny("Gemma2Config", **_HEAD_DIM), _GEMMA2_SUBLAYERS),
    "gemma3_text": _llama_like(_tiny("Gemma3TextConfig", **_HEAD_DIM), _GEMMA2_SUBLAYERS),
    # The multimodal Gemma-3: its text stack under model.language_model; a tiny vision tower.
    "gemma3": _llama_like(
        lambda layers: _config(
            "Gemma3Config", text_config=_llama_shape(layers, **_HEAD_DIM), mm_tokens_per_image=4, **_TINY_IDS,
            vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                               num_attention_heads=2, image_size=28, patch_size=14)),
        _GEMMA2_SUBLAYERS, stack=("model.language_model", "language_model.model")),
    "gpt2": ArchAdapter(
        ("transformer",), Mlp(up="mlp.c_fc", act="mlp.act", down="mlp.c_proj"), Sublayers("attn", "ln_1", "ln_2"),
        "ln_f", lambda layers: _config("GPT2Config", n_embd=TINY_HIDDEN, n_inner=TINY_INTER, n_layer=layers,
                                       n_head=TINY_HEADS, n_positions=TINY_POSITIONS, **_TINY_IDS),
        layers="h", transposed=True),
    "gpt_neox": ArchAdapter(
        ("gpt_neox",), Mlp(up="mlp.dense_h_to_4h", act="mlp.act", down="mlp.dense_4h_to_h"),
        Sublayers("attention", "input_layernorm", "post_attention_layernorm"), "final_layer_norm",
        lambda layers: _config("GPTNeoXConfig", hidden_size=TINY_HIDDEN, intermediate_size=TINY_INTER,
                               num_hidden_layers=layers, num_attention_heads=TINY_HEADS,
                               max_position_embeddings=TINY_POSITIONS, **_TINY_IDS)),
    "opt": ArchAdapter(
        ("model.decoder",), Mlp(up="fc1", act="activation_fn", down="fc2"),
        Sublayers("self_attn", "self_attn_layer_norm", "final_layer_norm"), "final_layer_norm",
        lambda layers: _config("OPTConfig", hidden_size=TINY_HIDDEN, ffn_dim=TINY_INTER, num_hidden_layers=layers,
                               num_attention_heads=TINY_HEADS, word_embed_proj_dim=TINY_HIDDEN,
                               max_position_embeddings=TINY_POSITIONS, **_TINY_IDS)),
}


# Mixture-of-Experts (transformers 5): every expert of a layer lives in one `experts` module with
# 3-D parameters gate_up_proj [E, 2*inter, hidden] (gate first) and down_proj [E, hidden, inter];
# the router picks top-k experts per token. `mlp` describes the layers that have a dense MLP
# instead. Kept apart from ARCHITECTURES (the dense table).
def _moe(tiny_config) -> ArchAdapter:
    return ArchAdapter(("model",), _LLAMA_MLP, _LLAMA_SUBLAYERS, "norm", tiny_config,
                       experts="mlp.experts", router="mlp.gate")


_MOE_SIZES = dict(moe_intermediate_size=TINY_MOE_INTER)
MOE_ARCHITECTURES: dict[str, ArchAdapter] = {
    "mixtral": _moe(_tiny_moe("MixtralConfig", num_local_experts=TINY_EXPERTS)),
    # plus a dense shared expert (mlp.shared_expert: quantized, not scanned)
    "qwen2_moe": _moe(_tiny_moe("Qwen2MoeConfig", num_experts=TINY_EXPERTS, **_MOE_SIZES,
                                shared_expert_intermediate_size=TINY_MOE_INTER)),
    "qwen3_moe": _moe(_tiny_moe("Qwen3MoeConfig", num_experts=TINY_EXPERTS, **_MOE_SIZES, **_HEAD_DIM)),
    "olmoe": _moe(_tiny_moe("OlmoeConfig", num_experts=TINY_EXPERTS)),
    # Multi-head latent attention, routed + shared experts (mlp.shared_experts), layer 0 dense
    # (first_k_dense_replace).
    "deepseek_v3": _moe(_tiny(
        "DeepseekV3Config", **_MOE_SIZES, n_routed_experts=TINY_EXPERTS, n_shared_experts=1,
        num_experts_per_tok=2, n_group=2, topk_group=1, first_k_dense_replace=1, kv_lora_rank=16,
        q_lora_rank=32, qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=16)),
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
