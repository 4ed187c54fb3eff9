"""`python -m sw_core cache list|clear`: the converted models kept in `$SW_CACHE`."""

from __future__ import annotations

from ..conversion_cache import cache_root, clear, entries
from .common import table


def add_arguments(p) -> None:
    p.add_argument("action", choices=["list", "clear"], help="list the entries, or remove the whole cache")


def run(args) -> int:
    if args.action == "clear":
        freed = clear()
        print(f"cleared {cache_root()}: {freed / 1e9:.2f} GB freed")
        return 0
    found = entries()
    print(f"{cache_root()}: {len(found)} entr{'y' if len(found) == 1 else 'ies'}, "
          f"{sum(e['bytes'] for e in found) / 1e9:.2f} GB")
    if found:
        print(table([{"name": e["name"], "GB": round(e["bytes"] / 1e9, 3), "dtype": e["dtype"] or "-",
                      "valid": "yes" if e["valid"] else "NO (rebuilt on next load)",
                      "source": _source(e["source"])} for e in found]))
    return 0


def _source(source) -> str:
    if isinstance(source, dict):
        return source.get("path") or f"{source.get('repo')}@{str(source.get('commit'))[:12]}"
    return str(source or "-")
