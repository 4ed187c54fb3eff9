"""Super Weight Explorer: find, show and test the super weights of causal language models.

Yu et al., "The Super Weight in Large Language Models" (arXiv 2411.07191).
"""

__version__ = "0.1.0"

from .coord import Coord  # noqa: E402  (a weight's address; light: no torch import)

__all__ = ["Coord", "__version__"]
