"""Errors that say what went wrong, with what input, and what to do instead.

Every error the library raises on bad input is a `SuperWeightError`, so the CLI and the app can
show its message without a traceback. Subclasses also derive from the builtin a caller would
expect (`ValueError`, `LookupError`), so generic handlers keep working.
"""


class SuperWeightError(Exception):
    """Base class: the message is meant for the user, as is."""


class ModelLoadError(SuperWeightError, OSError):
    """A model reference could not be loaded (missing path, offline hub id, unsafe weights...)."""


class UnsupportedArchitecture(SuperWeightError, ValueError):
    """The model's architecture has no adapter in `sw_core.arch`."""


class BadInput(SuperWeightError, ValueError):
    """An argument is out of range or malformed (coordinate, scale, prompt, bits...)."""
