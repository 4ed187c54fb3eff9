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

from ..arch import spec_for
from ..edits import Coord
from ..errors import BadInput


@dataclass
class LinearTarget:
    """One linear layer: its qualified name, the module, and whether its weight is stored [in, out]."""

    name: str
    module: nn.Module
    transposed: bool
    layer: int

    def weight_view(self) -> torch.Tensor:
        w = self.module.weight
        return w.t() if self.transposed else w

    @property
    def in_features(self) -> int:
        return self.weight_view().shape[1]


def _is_linear(m: nn.Module) -> bool:
    return isinstance(m, nn.Linear) or type(m).__name__ == "Conv1D"


def decoder_linears(model: nn.Module, layers) -> list[LinearTarget]:
    """Every linear layer inside the decoder blocks of `model` (`layers`: its DownProj list)."""
    suffix = "." + spec_for(getattr(model.config, "model_type", "")).down_proj
    out = []
    for p in layers:
        block_name = p.name[: -len(suffix)]
        block = model.get_submodule(block_name)
        for sub, m in block.named_modules():
            if sub and _is_linear(m) and m.weight.dtype.is_floating_point:
                out.append(LinearTarget(f"{block_name}.{sub}", m, type(m).__name__ == "Conv1D", p.layer))
    return out


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
            c = Coord(int(sw.layer), int(sw.row), int(sw.col))
        if not 0 <= c.layer < loaded.num_layers:
            raise BadInput(f"Super weight {c} is not in this model (layers 0..{loaded.num_layers - 1}).")
        coords.append(c)
    return coords
