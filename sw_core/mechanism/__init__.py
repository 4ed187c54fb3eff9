"""How a super weight works, on one prompt: data only (figures: `sw_core.figures.mechanism`).

`explain(loaded)` returns a `Mechanism` with four parts, each a plain dataclass:
- pathway: the super weight's input channel at the super-activation token, split into its MLP
  factors, and the residual channels (and the sublayers that wrote them) that drive those factors;
- persistence: the residual stream on the super activation's channel per layer and token,
  original vs the super weights removed;
- attention_sink: per layer and head, the attention on the super-activation token, both ways;
- vocabulary: the channel through the final norm and unembedding, and the measured next-token
  probability shift per token class on the built-in prompts with the main super weight removed.

Forward passes: three on the prompt (original with attention, original at the token, removed
with attention) plus two per built-in prompt for the vocabulary. Every pass reads through the
project's permanent hooks (see `tap`), keeping O(layers x (tokens + heads + hidden)) numbers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..builtin_prompts import PAPER_PROMPT
from ..detect import find_super_weights
from ..edits import Coord, off, validate
from ..errors import BadInput, UnsupportedArchitecture
from ..scan import token_strings
from .attention_sink import AttentionSink, attention_sink
from .pathway import Pathway, pathway
from .persistence import Persistence, persistence
from .recording import record_pass
from .vocabulary import Vocabulary, vocabulary

DEFAULT_PROMPT = PAPER_PROMPT

__all__ = ["Mechanism", "explain", "Pathway", "Persistence", "AttentionSink", "Vocabulary"]


@dataclass
class Mechanism:
    model: str
    prompt: str
    tokens: list[str]
    super_weights: list[str]
    pathway: list[Pathway]  # one per super weight
    persistence: Persistence
    attention_sink: AttentionSink
    vocabulary: Vocabulary | None

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["pathway"] = [dataclasses.asdict(p) for p in self.pathway]
        d["persistence"] = dataclasses.asdict(self.persistence)
        d["attention_sink"] = self.attention_sink.to_dict()
        d["vocabulary"] = None if self.vocabulary is None else dataclasses.asdict(self.vocabulary)
        return d


def _coords(loaded, coords) -> list[Coord]:
    if coords:
        return list(coords)
    found = find_super_weights(loaded).coords()
    if not found:
        raise BadInput("No super weight was detected in this model: there is no mechanism to explain. "
                       "Pass the weights to explain (layer:row:col) if you know them.")
    return found


def explain(loaded, prompt: str | None = None, coords: list[Coord] | None = None, *,
            vocabulary_prompts=None, vocabulary_sentences=None, with_vocabulary: bool = True) -> Mechanism:
    """The four mechanism views for `coords` (default: detected) on `prompt` (default: the paper's).

    All coords must share one layer and row (one super activation), as the detector reports them;
    the first is the main super weight, removed alone for the vocabulary shift.
    """
    prompt = DEFAULT_PROMPT if prompt is None else prompt
    coords = _coords(loaded, coords)
    layer, row = coords[0].layer, coords[0].row
    if any((c.layer, c.row) != (layer, row) for c in coords):
        raise BadInput("The weights to explain must share one layer and row (one super activation); "
                       f"got {', '.join(map(str, coords))}. Explain each group separately.")
    validate(loaded, off(*coords))  # a clear error for a coordinate out of range, before any pass
    experts = [str(c) for c in coords if c.expert is not None]
    if experts:  # the pathway splits one dense MLP's input; an expert's MLP runs on its routed tokens only
        raise UnsupportedArchitecture(
            f"The mechanism view explains dense MLP weights; {', '.join(experts)} is a Mixture-of-Experts "
            "expert's weight. Its activations and the effect of removing it: the Activations and "
            "Super weights views (sw_core.scan, sw_core.edits).")
    ids = loaded.encode(prompt)
    tokens = token_strings(loaded, ids[0].tolist())
    first = record_pass(loaded, ids, None, channel=row, sink_token=None, trace=(layer, row))
    token = int(first.trace.abs().argmax())  # the super-activation token on this prompt
    orig = record_pass(loaded, ids, None, channel=row, sink_token=token, token=token)
    removed = record_pass(loaded, ids, off(*coords), channel=row, sink_token=token)
    sign = 1 if orig.y[layer][row] >= 0 else -1
    return Mechanism(
        model=loaded.name, prompt=prompt, tokens=tokens, super_weights=[str(c) for c in coords],
        pathway=[pathway(loaded, orig, layer, row, c.col, tokens[token]) for c in coords],
        persistence=persistence(orig, removed, token, tokens, coords),
        attention_sink=attention_sink(orig, removed, token, len(tokens), coords),
        vocabulary=vocabulary(loaded, row, sign, coords[:1], prompts=vocabulary_prompts,
                                           sentences=vocabulary_sentences) if with_vocabulary else None,
    )
