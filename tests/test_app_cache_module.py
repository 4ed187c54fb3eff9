"""The app keeps its caches in one module (explorer/cached.py), and every cache there is bounded."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE_MODULE = ROOT / "explorer" / "cached.py"
# Caches outside the cache module, each to leave this list when it moves there.
ELSEWHERE_ALLOWED: set[str] = set()  # files that may cache outside explorer/cached.py (none)
CACHE_NAMES = {"cache_resource", "cache_data", "lru_cache", "cache", "OrderedDict"}


def _cache_uses(path: Path) -> list[str]:
    """Names of caching primitives `path` uses (st.cache_resource, functools.lru_cache, OrderedDict ...)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
        if name in CACHE_NAMES:
            found.append(f"{name} (line {node.lineno})")
    return found


def test_the_app_caches_only_in_its_cache_module():
    offenders = {}
    for path in sorted([ROOT / "app.py", *(ROOT / "explorer").rglob("*.py"), *(ROOT / "app_pages").rglob("*.py")]):
        rel = str(path.relative_to(ROOT))
        if path != CACHE_MODULE and rel not in ELSEWHERE_ALLOWED and _cache_uses(path):
            offenders[rel] = _cache_uses(path)
    assert not offenders, f"caches outside explorer/cached.py: {offenders}"
    for rel in ELSEWHERE_ALLOWED:  # the list only shrinks
        assert _cache_uses(ROOT / rel), f"{rel} no longer caches: remove it from ELSEWHERE_ALLOWED"


def test_every_cache_in_the_cache_module_is_bounded():
    """Each st.cache_resource holds at most max_entries results (or goes through `_shared(n)`)."""
    tree = ast.parse(CACHE_MODULE.read_text())
    unbounded, cached_functions = [], 0
    for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
        for d in fn.decorator_list:
            call = d if isinstance(d, ast.Call) else None
            target = ast.unparse(call.func if call else d)
            if target not in ("_shared", "st.cache_resource", "st.cache_data"):
                continue
            cached_functions += 1
            bounded = call is not None and (target == "_shared" and call.args
                                            or any(k.arg == "max_entries" for k in call.keywords))
            if not bounded:
                unbounded.append(fn.name)
    assert cached_functions >= 10  # the test really read the cache module's decorators
    assert not unbounded, f"caches without max_entries: {unbounded}"


def test_the_contract_sees_a_cache_outside_the_cache_module(tmp_path):
    page = tmp_path / "page.py"
    page.write_text("import streamlit as st\n\n@st.cache_data\ndef f():\n    return 1\n")
    assert _cache_uses(page) == ["cache_data (line 3)"]
