"""A field of a settings dataclass that carries its own help text.

Each setting is written once, with its default and what it means; the command line derives its
options from the fields (`sw_core.cli.common.add_settings_args`), so a new setting is one line.
"""

from __future__ import annotations

from dataclasses import field


def setting(default, help: str, **cli):
    """A frozen dataclass field: `default`, `help`, and optional command-line hints in `cli`:
    option="--name" (another option name), metavar="X" (what one value is called), parse=f (reads one
    value given as text; raises ValueError)."""
    return field(default=default, metadata={"help": help, **cli})
