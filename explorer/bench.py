"""`python -m explorer.bench`: the library's bench (`python -m sw_core bench`) plus the app's cases.

Same arguments as the library's. The app cases live here because they drive Streamlit, which the
library never imports.
"""

from __future__ import annotations

import argparse
import sys

from sw_core.cli import bench as library_bench
from sw_core.errors import SuperWeightError

from .bench_app import app_cases

APP_GROUPS = (("app", app_cases),)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m explorer.bench", description=__doc__.splitlines()[0])
    library_bench.add_arguments(p, extra=tuple(name for name, _ in APP_GROUPS))
    args = p.parse_args(argv)
    try:
        return library_bench.run(args, extra_groups=APP_GROUPS)
    except SuperWeightError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
