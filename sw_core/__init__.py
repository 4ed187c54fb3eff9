"""Super Weight Explorer: find, show and test the super weights of causal language models.

Yu et al., "The Super Weight in Large Language Models" (arXiv 2411.07191).
"""

__version__ = "0.1.0"
