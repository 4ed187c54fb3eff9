"""Pathway in: what makes the super weight's input channel fire at the super-activation token.

The super activation is y[row] = sum_j W[row, j] x[j] at token t of layer L's down projection,
and the super weight W[row, col] multiplies x[col]. For a gated MLP x[col] = act(g) * u with
g = gate[col] . n and u = up[col] . n; for a GPT-2-style MLP x[col] = act(fc1[col] . n); n is the
residual stream after the MLP's norm. Each factor is a sum over residual channels j of
weight[j] * n[j]: the channels with the largest terms are its drivers. The residual stream at t,
channel j, is the sum of what the embedding and every earlier sublayer wrote there: the writes
come from hidden-state differences (layer output - layer input = attention write + MLP write,
the MLP write being the down projection's output through the layer's post-MLP norm, if any).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .layout import apply_vec, channel_factors, mlp_out_norm
from .recording import PassRecord


@dataclass
class Writer:
    sublayer: str  # "embedding", "attention 3", "MLP 2"
    value: float  # what it wrote on the channel (pre-norm residual units)
    share: float  # value / residual value on the channel


@dataclass
class Driver:
    channel: int  # residual channel
    term: float  # weight[channel] * n[channel]: its part of the factor's pre-activation
    normed: float  # n[channel], after the norm
    residual: float  # the residual stream there, before the norm
    writers: list[Writer] = field(default_factory=list)  # the largest writes, by |value|


@dataclass
class Factor:
    name: str  # "gate", "up" or "fc1"
    pre: float  # the projection's output (before the activation)
    value: float  # act(pre) for gate / fc1; pre for up
    drivers: list[Driver] = field(default_factory=list)


@dataclass
class Pathway:
    layer: int
    row: int
    col: int
    token: int
    token_text: str
    x: float  # the down projection's input at col, measured in the forward pass
    x_recomputed: float  # the product of the factors below (checks the split)
    weight: float  # W[row, col]
    contribution: float  # W[row, col] * x
    activation: float  # y[row] at the token (the super activation)
    factors: list[Factor]


def sublayer_writes(loaded, rec: PassRecord, layer: int) -> list[tuple[str, torch.Tensor]]:
    """(sublayer, write [hidden]) at the recorded token: the embedding, then attention and MLP of
    every layer up to `layer` (its own attention included, its own MLP not)."""
    out = [("embedding", rec.h_in[0])]
    for i in range(layer + 1):
        mlp = apply_vec(mlp_out_norm(loaded, i), rec.y[i])
        attn = rec.h_out[i] - rec.h_in[i] - mlp
        out.append((f"attention {i}", attn))
        if i < layer:
            out.append((f"MLP {i}", mlp))
    return out


def pathway(loaded, rec: PassRecord, layer: int, row: int, col: int, token_text: str, *,
            drivers: int = 6, writers: int = 3) -> Pathway:
    """The split of x[col] at the recorded token of `rec` (a pass with token=t) into factors and drivers."""
    parts = channel_factors(loaded, layer, col)
    writes = sublayer_writes(loaded, rec, layer)
    if parts.parallel:  # the MLP reads the layer's input: its own attention is not upstream
        writes = writes[:-1]
    resid = rec.h_in[layer] + (0 if parts.parallel else writes[-1][1])
    normed = apply_vec(parts.mlp_norm, resid)
    factors = []
    for name, w, b in _factor_rows(parts):
        terms = w * normed
        pre = float(terms.sum()) + b
        value = pre if name == "up" else float(apply_vec(parts.act, torch.tensor([pre]))[0])
        top = terms.abs().topk(min(drivers, terms.numel())).indices.tolist()
        factors.append(Factor(name, pre, value, [_driver(j, terms, normed, resid, writes, writers) for j in top]))
    x_re = factors[0].value * (factors[1].value if parts.gated else 1.0)
    weight = float(loaded.layers[layer].dense_weight()[row, col])
    x = float(rec.x[layer][col])
    return Pathway(layer, row, col, rec.token, token_text, x, x_re, weight, weight * x,
                   float(rec.y[layer][row]), factors)


def _factor_rows(parts):
    if parts.gated:
        return [("gate", parts.gate_row, parts.gate_bias), ("up", parts.up_row, parts.up_bias)]
    return [("fc1", parts.gate_row, parts.gate_bias)]


def _driver(j, terms, normed, resid, writes, k) -> Driver:
    total = float(resid[j])
    ranked = sorted(writes, key=lambda sw: -abs(float(sw[1][j])))[:k]
    return Driver(j, float(terms[j]), float(normed[j]), total,
                  [Writer(s, float(w[j]), float(w[j]) / total if total else float("nan")) for s, w in ranked])
