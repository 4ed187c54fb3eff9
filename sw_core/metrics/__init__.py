"""Metrics of what an edit does to a model: perplexity, stop-word probability, zero-shot accuracy."""

from .perplexity import perplexity, token_nll

__all__ = ["perplexity", "token_nll"]
