"""The layer contract, read from the source (every import, those inside functions too).

Bottom-up: the library (`sw_core`, in layers of its own), the app package (`explorer`), the
screens (`app_pages`, which reach the library only through `explorer`), and the tooling (`bench`),
which imports anything and is imported by nothing. Inside the library a module imports only its
own layer or lower ones, and no two modules import each other, directly or around a loop.
"""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("sw_core", "explorer", "app_pages", "bench")
APP_MODULES = ("streamlit", "explorer", "app_pages")

# The library's layers, bottom-up, by module (a package stands for everything in it). A module
# may import from its own layer and the ones below.
LIBRARY_LAYERS = [
    # what every part needs, with no model: errors, addresses, weight views, shipped texts
    {"sw_core", "sw_core.errors", "sw_core.coord", "sw_core.weights", "sw_core.texts",
     "sw_core.builtin_prompts", "sw_core.positions", "sw_core.kv_rows", "sw_core.moe", "sw_core.embedded",
     "sw_core.setting", "sw_core.leading_tokens",
     # ... and what a load needs before a model exists: progress, the conversion cache, the hub, the memory plan
     "sw_core.progress", "sw_core.conversion_cache", "sw_core.gguf_reads", "sw_core.hub", "sw_core.memory_plan"},
    # a model, its architecture record, its hooks: the edits and the scan
    {"sw_core.arch", "sw_core.hooks", "sw_core.edits", "sw_core.forward", "sw_core.scan", "sw_core.instrument",
     "sw_core.loading"},
    # what is measured on a model
    {"sw_core.metrics", "sw_core.restore", "sw_core.verify", "sw_core.detect", "sw_core.generate",
     "sw_core.catalog", "sw_core.screening", "sw_core.stability", "sw_core.quant", "sw_core.mechanism",
     "sw_core.grouping"},
    # data in, figure out
    {"sw_core.figures"},
    # every analysis gathered into one document
    {"sw_core.report"},
    # the command line, and the tests' tiny models (imported by no library module: see below)
    {"sw_core.cli", "sw_core.__main__", "sw_core.testing"},
]

# Known violations in modules this contract does not fix itself, each to be removed when its
# module is fixed. (importer, imported): a cycle's pair is listed once, either way round.
ALLOWED: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources() -> dict[str, Path]:
    found = {module_name(p): p for top in PACKAGES for p in sorted((ROOT / top).rglob("*.py"))}
    found["app"] = ROOT / "app.py"
    return found


def imported_names(name: str, path: Path) -> list[tuple[str, int]]:
    """(absolute name, line) of everything `path` imports, anywhere in it; `from a import b`
    yields both "a" and "a.b" (b may be a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    tree = ast.parse(path.read_text(), str(path))
    # `if TYPE_CHECKING:` imports never run: a type named in an annotation is no import edge.
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and _is_type_checking(node.test)
                   for stmt in node.body for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            out += [(module, node.lineno)] + [(f"{module}.{a.name}", node.lineno) for a in node.names]
    return out


def _is_type_checking(test) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {project module it imports: line}."""
    mods = sources()
    graph = {}
    for name, path in mods.items():
        deps = {}
        for target, line in imported_names(name, path):
            parts = target.split(".")
            known = next((".".join(parts[:k]) for k in range(len(parts), 0, -1) if ".".join(parts[:k]) in mods), None)
            if known and known != name and not name.startswith(known + "."):  # a package's own __init__ is no edge
                deps.setdefault(known, line)
        graph[name] = deps
    return graph


def layer_of(module: str) -> int | None:
    """The layer of the longest entry of LIBRARY_LAYERS that is `module` or a package holding it."""
    entries = [(m, i) for i, layer in enumerate(LIBRARY_LAYERS) for m in layer if m != "sw_core"]
    matches = [(len(m), i) for m, i in entries if module == m or module.startswith(m + ".")]
    return max(matches)[1] if matches else (0 if module == "sw_core" else None)


def allowed(a: str, b: str) -> bool:
    def hit(x, y):
        return any((x == p or x.startswith(p + ".")) and (y == q or y.startswith(q + ".")) for p, q in ALLOWED)

    return hit(a, b) or hit(b, a)


def violations(graph) -> list[str]:
    out = []
    for a, deps in sorted(graph.items()):
        top = a.split(".")[0]
        for b, line in sorted(deps.items()):
            where = f"{a} imports {b} (line {line})"
            b_top = b.split(".")[0]
            if b_top == "bench" and top != "bench":
                out.append(f"{where}: bench is tooling, imported by nothing")
            elif top == "sw_core" and b_top != "sw_core":
                out.append(f"{where}: the library imports no app or tooling")
            elif top == "explorer" and b_top in ("app_pages", "app"):
                out.append(f"{where}: the app package imports no screen")
            elif top == "app_pages" and b_top == "sw_core" and not allowed(a, b):
                out.append(f"{where}: a screen reaches the library through explorer")
            elif top == b_top == "sw_core":
                if b.startswith("sw_core.testing") and not a.startswith("sw_core.testing"):
                    out.append(f"{where}: the test models are for tests and bench only")
                elif layer_of(a) is None or layer_of(b) is None:
                    out.append(f"{where}: put {a if layer_of(a) is None else b} in a layer of LIBRARY_LAYERS")
                elif layer_of(b) > layer_of(a) and not allowed(a, b):
                    out.append(f"{where}: layer {layer_of(a)} imports layer {layer_of(b)}")
    return out


def cycles(graph) -> list[list[str]]:
    """Strongly connected groups of two or more modules (Tarjan), allowed edges left out."""
    edges = {a: [b for b in deps if b in graph and not allowed(a, b)] for a, deps in graph.items()}
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in edges:
        if v not in index:
            visit(v)
    return out


def test_every_import_follows_the_layers():
    found = violations(import_graph())
    assert not found, "\n".join(found)


def test_no_import_cycles_beyond_the_known_ones():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" <-> ".join(group) for group in found)


def test_every_allowed_violation_is_still_needed():
    """An entry the code no longer needs must leave the list, so the list only shrinks."""
    global ALLOWED
    graph, every = import_graph(), ALLOWED
    stale = []
    try:
        for pair in sorted(every):
            ALLOWED = every - {pair}
            if len(violations(graph)) + len(cycles(graph)) == 0:
                stale.append(pair)
    finally:
        ALLOWED = every
    assert stale == []


def test_the_contract_sees_function_level_and_relative_imports(tmp_path):
    """`from ..x import y` inside a function resolves to the absolute module, and is a violation."""
    fake = tmp_path / "pathway.py"
    fake.write_text("def f():\n    from ..cli.common import progress\n    from . import layout\n")
    names = {n for n, _ in imported_names("sw_core.mechanism.pathway", fake)}
    assert {"sw_core.cli.common", "sw_core.cli.common.progress", "sw_core.mechanism.layout"} <= names
    graph = {"sw_core.mechanism.pathway": {"sw_core.cli.common": 2}, "sw_core.cli.common": {}}
    cli = layer_of("sw_core.cli")
    assert violations(graph) == [f"sw_core.mechanism.pathway imports sw_core.cli.common (line 2): layer 2 imports layer {cli}"]
    loop = {"sw_core.texts": {"sw_core.errors": 1}, "sw_core.errors": {"sw_core.texts": 1}}
    assert cycles(loop) == [["sw_core.errors", "sw_core.texts"]]


def test_no_sw_core_source_names_the_app():
    offenders = []
    for path in sorted((ROOT / "sw_core").rglob("*.py")):
        names = [n for n, _ in imported_names(module_name(path), path)]
        offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in APP_MODULES]
    assert not offenders, offenders


def test_importing_all_of_sw_core_loads_no_app_module():
    """Every sw_core module imported in a fresh process."""
    code = (
        "import importlib, pkgutil, sys, sw_core\n"
        "for m in pkgutil.walk_packages(sw_core.__path__, 'sw_core.'):\n"
        "    if not m.name.endswith('__main__'): importlib.import_module(m.name)\n"
        f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {APP_MODULES!r})\n"
        "print(len(sys.modules)); assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert int(r.stdout.split()[-1]) > 100  # it really imported the library (torch, transformers, ...)
