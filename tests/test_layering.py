"""The library knows only models: nothing in sw_core imports Streamlit or the app package."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_MODULES = ("streamlit", "explorer", "app_pages")


def test_no_sw_core_source_names_the_app():
    offenders = []
    for path in sorted((ROOT / "sw_core").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
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
