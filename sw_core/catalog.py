"""Published super weight coordinates, as data (assets/catalog.json), each with its source.

Convention: [row, col] = [output channel, input channel] of `layers[layer].mlp.down_proj.weight`
seen as [out, in]: the paper's Table 2 and its code use this order; the caption of its Fig. 3
swaps the words "row" and "column".

The paper says instruct versions keep their base model's coordinates, so an entry matches its
own model id and the id's variants: the same name once words such as "Instruct", "chat", "it"
and "hf" are dropped (meta-llama/Llama-2-7b-chat-hf matches meta-llama/Llama-2-7b-hf).
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from .edits import Coord

CATALOG_PATH = Path(__file__).resolve().parent.parent / "assets" / "catalog.json"
_VARIANT_WORDS = {"instruct", "chat", "it", "hf", "sft", "dpo"}


@dataclass(frozen=True)
class CatalogEntry:
    model: str  # hub id the coordinate was published for
    layer: int
    row: int
    col: int
    source: str
    note: str = ""

    @property
    def coord(self) -> Coord:
        return Coord(self.layer, self.row, self.col)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Verified:
    """One catalogued coordinate checked against a loaded model."""

    entry: CatalogEntry
    refound: bool  # the detector found exactly this [layer, row, col]
    match: str  # "exact" (same model id) or "variant" (instruct/chat/base of the catalogued id)

    # verify() returns these; unpacking as (entry, refound) keeps working.
    def __iter__(self):
        return iter((self.entry, self.refound))


@functools.lru_cache(maxsize=1)
def _load(path: str) -> tuple[CatalogEntry, ...]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return tuple(CatalogEntry(**e) for e in data["entries"])


def all_entries(path: Path = CATALOG_PATH) -> list[CatalogEntry]:
    return list(_load(str(path)))


def _name(model_id: str) -> str:
    return model_id.strip().rstrip("/").lower()


def family_key(model_id: str) -> str:
    """The id without variant words: 'org/Llama-2-7b-chat-hf' -> 'org/llama-2-7b'."""
    name = _name(model_id)
    org, _, repo = name.rpartition("/")
    kept = [w for w in repo.replace("_", "-").split("-") if w not in _VARIANT_WORDS]
    return (org + "/" if org else "") + "-".join(kept)


def match_kind(entry: CatalogEntry, model_id: str) -> str | None:
    """'exact', 'variant' or None. An id without an organisation is compared by name only."""
    query, own = _name(model_id), _name(entry.model)
    if "/" not in query:
        own = own.rpartition("/")[2]
    if query == own:
        return "exact"
    if family_key(query) == family_key(own):
        return "variant"
    return None


def entries_for(model_id: str, path: Path = CATALOG_PATH) -> list[CatalogEntry]:
    """Catalogued coordinates for `model_id` or its instruct / base variants (exact ones first)."""
    hits = [(match_kind(e, model_id), e) for e in all_entries(path)]
    return [e for kind, e in sorted((h for h in hits if h[0]), key=lambda h: h[0] != "exact")]


def model_ids(loaded) -> list[str]:
    """The ids a loaded model may be catalogued under: its name, and the config's own path or id."""
    ids = [loaded.name]
    own = getattr(loaded.config, "_name_or_path", "") or ""
    if own and own not in ids:
        ids.append(own)
    return ids


def entries_for_loaded(loaded, path: Path = CATALOG_PATH) -> list[tuple[CatalogEntry, str]]:
    for model_id in model_ids(loaded):
        found = entries_for(model_id, path)
        if found:
            return [(e, match_kind(e, model_id)) for e in found]
    return []


def verify(loaded, detection=None, path: Path = CATALOG_PATH) -> list[Verified]:
    """Which catalogued coordinates of this model the detector re-finds (runs it unless given)."""
    entries = entries_for_loaded(loaded, path)
    if not entries:
        return []
    if detection is None:
        from .detect import find_super_weights

        detection = find_super_weights(loaded)
    found = set(detection.coords())
    return [Verified(e, e.coord in found, kind) for e, kind in entries]
