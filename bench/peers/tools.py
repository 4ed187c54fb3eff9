"""The tools measured side by side, each doing the same two jobs on the embedded model:

- maxima(prompt, ids): max |output| of every layer's down projection, one float per layer;
- ablated(ids): the logits with the one weight W[507, 1229] of layer 11's down projection zeroed.

Ours goes through the public API (`scan`, `applied(loaded, off(...))`). Each peer gets its own
copy of the same cached weights: the TransformerLens bridge replaces submodules of the model it
wraps and forces eager attention, which must not change the model ours runs on.
"""

from __future__ import annotations

import torch

LAYER, ROW, COL = 11, 507, 1229  # the embedded model's first super weight (Yu et al. 2024)


def load_ours():
    from sw_core.loading import load

    return load("embedded", device="cpu")  # builds the fp32 cache on a fresh clone


def plain_model():
    """A second copy of the embedded model's weights, from the cache `load_ours` made."""
    from transformers import AutoModelForCausalLM

    from sw_core import embedded

    model = AutoModelForCausalLM.from_pretrained(embedded.cache_dir(), dtype=torch.float32, use_safetensors=True)
    model.eval()
    model.requires_grad_(False)
    return model


class Forward:
    """The baseline: a plain forward, no hooks (keep=1 asks for the last position's logits only)."""

    def __init__(self, model, keep: int = 0):
        self.model, self.keep = model, keep

    def maxima(self, prompt, ids):
        with torch.no_grad():
            self.model(input_ids=ids, use_cache=False, logits_to_keep=self.keep)
        return None

    ablated = None


class Ours:
    def __init__(self, loaded):
        from sw_core.edits import Coord, off

        self.loaded, self.edit = loaded, off(Coord(LAYER, ROW, COL))

    def maxima(self, prompt, ids):
        from sw_core.scan import scan

        return scan(self.loaded, prompt).out_maxima()

    def ablated(self, ids):
        from sw_core.edits import applied

        with torch.no_grad(), applied(self.loaded, self.edit):
            return self.loaded.model(input_ids=ids, use_cache=False).logits


def _weight(model) -> float:
    return float(model.model.layers[LAYER].mlp.down_proj.weight[ROW, COL])


class TransformerLens:
    """TransformerLens 4's bridge around the HF model; hooks keep one scalar per layer (no cache)."""

    def __init__(self, model, tokenizer):
        from transformer_lens.model_bridge import TransformerBridge

        from sw_core import embedded

        self.w = _weight(model)
        self.bridge = TransformerBridge.boot_transformers(
            str(embedded.cache_dir()), hf_model=model, tokenizer=tokenizer, device="cpu")
        self.n = model.config.num_hidden_layers

    def maxima(self, prompt, ids):
        out = [0.0] * self.n

        def keep_max(i):
            def hook(t, hook):
                out[i] = float(t.detach().abs().amax())
                return t
            return hook

        hooks = [(f"blocks.{i}.mlp.out.hook_out", keep_max(i)) for i in range(self.n)]
        with torch.no_grad():
            self.bridge.run_with_hooks(ids, fwd_hooks=hooks, return_type=None)
        return out

    def ablated(self, ids):
        # Zeroing W[r, c] is y[..., r] -= W[r, c] * x[..., c] at the down projection.
        seen = {}

        def read_x(t, hook):
            seen["x"] = t[..., COL].clone()
            return t

        def subtract(t, hook):
            t = t.clone()
            t[..., ROW] -= self.w * seen["x"]
            return t

        hooks = [(f"blocks.{LAYER}.mlp.out.hook_in", read_x), (f"blocks.{LAYER}.mlp.out.hook_out", subtract)]
        with torch.no_grad():
            return self.bridge.run_with_hooks(ids, fwd_hooks=hooks)


class NNsight:
    """nnsight's LanguageModel around the HF model; the trace saves one scalar per layer."""

    def __init__(self, model, tokenizer):
        import warnings

        from nnsight import LanguageModel

        self.w = _weight(model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 0.8 calls LanguageModel deprecated; it still is the documented wrapper
            self.lm = LanguageModel(model, tokenizer=tokenizer)
        self.n = model.config.num_hidden_layers

    def maxima(self, prompt, ids):
        saved = []  # filled inside the trace: names bound in a traced block stay in the trace
        with torch.no_grad(), self.lm.trace(ids):
            for i in range(self.n):
                saved.append(self.lm.model.layers[i].mlp.down_proj.output.abs().amax().save())
        return [float(s) for s in saved]

    def ablated(self, ids):
        saved = []
        with torch.no_grad(), self.lm.trace(ids):
            proj = self.lm.model.layers[LAYER].mlp.down_proj
            x = proj.input[..., COL]
            proj.output[..., ROW] -= self.w * x
            saved.append(self.lm.output.logits.save())
        return saved[0]


def plain_tokenizer():
    from transformers import AutoTokenizer

    from sw_core import embedded

    return AutoTokenizer.from_pretrained(embedded.cache_dir())


def make(name: str, loaded=None):
    """The tool called `name`, ready to run. Ours reuses `loaded` when given; the others read the
    cache `load_ours` wrote (the caller makes sure it exists) and never import our loader."""
    if name == "ours":
        return Ours(loaded or load_ours())
    if name == "forward":
        return Forward(plain_model())
    if name == "forward_keep1":
        return Forward(plain_model(), keep=1)
    tokenizer = loaded.tokenizer if loaded is not None else plain_tokenizer()
    if name == "transformer_lens":
        return TransformerLens(plain_model(), tokenizer)
    if name == "nnsight":
        return NNsight(plain_model(), tokenizer)
    raise ValueError(f"Unknown tool {name!r}: use one of forward, forward_keep1, ours, transformer_lens, nnsight.")
