"""Mixture-of-Experts layers: each expert's down projection, seen through the fused experts module.

transformers 5 stores all experts of a layer in one module (`MixtralExperts`, `Qwen2MoeExperts`,
`Qwen3MoeExperts`, `OlmoeExperts`): gate_up_proj [E, 2*inter, hidden] (gate rows first),
down_proj [E, hidden, inter], called as experts(hidden [N, hidden], top_k_index [N, k],
top_k_weights [N, k]) -> sum over the k chosen experts of weight * down_e(act(gate_e h) * up_e h).
Its forward may be an eager per-expert loop or a grouped matmul (`config._experts_implementation`),
so no per-expert module exists to hook. Instead the one forward hook on the experts module
(`sw_core.instrument`) recomputes, from the same arguments, what it needs for the experts that
were routed tokens: their inputs x_e at those tokens (for the scan) or the edited output rows.
Rows of hidden are token positions (one prompt per pass), so a routed token's index is its
position in the prompt.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch.nn import functional as F


# The sequence length of the batch entering this thread's current MoE block: the experts module
# sees tokens flattened to [batch x tokens, hidden], and a pin at token t needs the token axis.
_SEQ_LEN: contextvars.ContextVar[int] = contextvars.ContextVar("sw_moe_seq_len", default=0)


def note_sequence_length(module, args, kwargs) -> None:
    """Forward pre-hook on a MoE block (registered by `sw_core.instrument`)."""
    h = args[0] if args else kwargs.get("hidden_states")
    if h is not None and h.dim() >= 2:
        _SEQ_LEN.set(int(h.shape[-2]) if h.dim() >= 3 else int(h.shape[0]))


def as_sequences(y: torch.Tensor) -> torch.Tensor:
    """[batch x tokens, hidden] -> [batch, tokens, hidden] (a view) for the current MoE block."""
    t = _SEQ_LEN.get() or y.shape[0]
    return y.view(-1, t, y.shape[-1])


@dataclass
class Routed:
    """The tokens one expert was routed in one pass, and its down projection's input there."""

    expert: int
    tokens: torch.Tensor  # [n] positions in the prompt
    gates: torch.Tensor  # [n] the router's weight of this expert at each of them
    x: torch.Tensor  # [n, inter] = act(gate_e h) * up_e h: the input of the expert's down projection


def routed(module, hidden: torch.Tensor, top_k_index: torch.Tensor, top_k_weights: torch.Tensor) -> Iterator[Routed]:
    """Every expert that was routed at least one token, in expert order."""
    hidden = hidden.reshape(-1, hidden.shape[-1])
    index = top_k_index.reshape(hidden.shape[0], -1)
    weights = top_k_weights.reshape(hidden.shape[0], -1)
    for e in torch.unique(index).tolist():
        if not 0 <= e < module.down_proj.shape[0]:  # expert parallelism marks foreign experts
            continue
        tokens, slot = torch.where(index == e)
        gate, up = F.linear(hidden[tokens], module.gate_up_proj[e]).chunk(2, dim=-1)
        yield Routed(int(e), tokens, weights[tokens, slot], module.act_fn(gate) * up)


def expert_rows(module, expert: int, rows: list[int], factors) -> torch.Tensor:
    """Rows `rows` of expert `expert`'s down projection in float32, each (Coord, factor) in
    `factors` of this expert applied: [len(rows), inter]."""
    w = module.down_proj[expert][rows].to(torch.float32).clone()
    for c, f in factors:
        if c.expert == expert and c.row in rows:
            w[rows.index(c.row), c.col] *= f
    return w


def recompute_rows(module, args, y: torch.Tensor, factors) -> None:
    """Write into y (the experts module's output [N, hidden]) the rows touched by `factors`,
    recomputed in float32 from every routed expert with the edited weights (see `sw_core.edits`)."""
    rows = sorted({c.row for c, _ in factors})
    new = torch.zeros(y.shape[0], len(rows), dtype=torch.float32, device=y.device)
    for r in routed(module, *args[:3]):
        part = r.x.to(torch.float32) @ expert_rows(module, r.expert, rows, factors).t().to(r.x.device)
        new.index_add_(0, r.tokens, part * r.gates.to(torch.float32)[:, None])
    y[:, rows] = new.to(y.dtype)


def experts_stats(module, args, y: torch.Tensor, factors) -> dict:
    """What the scan keeps of one MoE layer beyond its output y [N, hidden] (already edited):
    the largest |x| over every routed expert's input (token, channel, expert), the expert that
    contributes most to the output spike y[t, c] (with the active edit's `factors`), its input at t
    scaled by its gate (so that W_e[c] . in_row is that expert's share of y[t, c]), and each
    expert's largest |gate * y_e| over its routed tokens (unedited weights; 0: no token routed)."""
    flat = y.reshape(-1, y.shape[-1])
    t, c = divmod(int(flat.abs().argmax()), flat.shape[-1])
    best = (0.0, 0, 0, 0)  # |x|, token, channel, expert
    spike = (-1.0, None, None)  # |contribution|, expert, gated input row
    per_expert = [0.0] * module.down_proj.shape[0]
    for r in routed(module, *args[:3]):
        xa = r.x.detach().abs()
        i = int(xa.argmax())
        if float(xa.reshape(-1)[i]) > best[0]:
            best = (float(xa.reshape(-1)[i]), int(r.tokens[i // xa.shape[1]]), i % xa.shape[1], r.expert)
        g = r.gates.to(torch.float32)[:, None]
        per_expert[r.expert] = float((g * (r.x.to(torch.float32) @ module.down_proj[r.expert].to(torch.float32).t())).abs().max())
        hit = (r.tokens == t).nonzero()
        if len(hit):
            row = (g * r.x.to(torch.float32))[int(hit[0])].detach()
            contrib = abs(float(expert_rows(module, r.expert, [c], factors)[0].to(row.device) @ row))
            if contrib > spike[0]:
                spike = (contrib, r.expert, row)
    return {"in_max": best[0], "in_pos": (best[1], best[2]), "in_expert": best[3],
            "expert": spike[1], "expert_row": spike[2], "expert_out_max": per_expert}
