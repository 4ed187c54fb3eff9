"""The library's figures: plotly only, a result in, a Figure out.

The rule: every figure drawn from a library result lives here, one module per result family
(`activations`: a Scan; `bars`: probabilities original vs edited; `mechanism`: a Mechanism's parts;
`screening`: a Screening; `quantization`: perplexities under quantization settings). The app's screens and the HTML report lay these figures out; they
compute nothing and draw no chart of their own from library results. Nothing here runs a model
or imports the app.
"""

from .activations import (MAX_TOKEN_COLUMNS, activation_heatmap, max_per_layer, token_aggregation, token_bins,
                          token_heatmap)
from .bars import next_word_rows, probability_bars
from .mechanism import (attention_sink_figure, attention_sink_heatmap, pathway_figure, persistence_figure,
                        persistence_heatmap, vocabulary_class_figure, vocabulary_lens_figure)
from .quantization import perplexity_ratio_bars
from .screening import screening_figure
from .style import EDITED, HEAT_SCALE, MIN_LABEL_PX, ORIGINAL

__all__ = [
    "activation_heatmap", "token_heatmap", "token_bins", "token_aggregation", "MAX_TOKEN_COLUMNS", "max_per_layer",
    "probability_bars", "next_word_rows", "pathway_figure",
    "persistence_figure", "persistence_heatmap", "attention_sink_figure", "attention_sink_heatmap",
    "vocabulary_lens_figure", "vocabulary_class_figure", "screening_figure", "perplexity_ratio_bars",
    "ORIGINAL", "EDITED", "HEAT_SCALE", "MIN_LABEL_PX",
]
