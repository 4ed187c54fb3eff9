"""Which weights a quantizer touches, and which it must protect.

Which layers: every linear layer inside the decoder blocks (attention q/k/v/o, MLP
gate/up/down, or their fused equivalents), as the paper quantizes "all linear weights" of the
decoder. The embedding and the LM head stay in full precision: they are often tied, and the
paper's comparisons keep them too.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..arch import Projection, adapter_for, model_type_of
from ..coord import Coord
from ..errors import BadInput


LinearTarget = Projection  # one linear layer: layer, name, module, transposed; weight_view() reads
# the offloaded copy under a device map (never a meta tensor), dense_weight() dequantizes


def decoder_linears(model: nn.Module, layers=None) -> list[LinearTarget]:
    """Every floating linear layer inside the decoder blocks of `model` (`layers` is unused: the
    architecture's adapter knows where the blocks are; kept for callers that pass it)."""
    return adapter_for(model_type_of(model)).linears(model)


@dataclass
class ExpertTarget(Projection):
    """One expert's slice of a fused Mixture-of-Experts parameter (`gate_up_proj` or `down_proj`,
    [experts, out, in]), as an [out, in] matrix. name: "<experts module>.<param>[<expert>]"."""

    expert: int = 0
    param: str = "down_proj"

    @property
    def param_name(self) -> str:
        """The fused parameter's qualified name (what a private copy replaces)."""
        return self.name.rsplit("[", 1)[0]

    def fused(self) -> torch.Tensor:
        return getattr(self.module, self.param)

    def weight_view(self) -> torch.Tensor:
        return self.fused()[self.expert]

    dense_weight = stored_weight = weight_view


def expert_target_name(experts_name: str, param: str, expert: int) -> str:
    return f"{experts_name}.{param}[{expert}]"


def expert_targets(loaded) -> list[ExpertTarget]:
    """Every expert's gate_up_proj and down_proj of every Mixture-of-Experts layer (none if dense)."""
    return [ExpertTarget(p.layer, expert_target_name(p.name, param, e), p.module, False, e, param)
            for p in loaded.layers if p.num_experts
            for param in ("gate_up_proj", "down_proj") for e in range(p.num_experts)]


def decoder_weights(loaded) -> list[Projection]:
    """What RTN quantizes: the decoder linears and, in MoE models, every expert's matrices."""
    return decoder_linears(loaded.model) + expert_targets(loaded)


def super_coords(loaded, detection=None) -> list[Coord]:
    """The super weights as Coords: from a Detection, an iterable of Coords, or detected now."""
    if detection is None:
        from ..detect import find_super_weights  # detection is its own module; imported when needed

        detection = find_super_weights(loaded)
    items = getattr(detection, "super_weights", detection)
    coords = []
    for sw in items:
        c = getattr(sw, "coord", sw)
        if callable(c):
            c = c()
        if not isinstance(c, Coord):
            c = Coord(int(sw.layer), int(sw.row), int(sw.col), getattr(sw, "expert", None))
        if not 0 <= c.layer < loaded.num_layers:
            raise BadInput(f"Super weight {c} is not in this model (layers 0..{loaded.num_layers - 1}).")
        coords.append(c)
    return coords
