"""The app's own figures: a long prompt's token heatmap keeps the super activation (binned by max)."""

import math

from explorer import figures
from sw_core import figures as plots


def test_token_bins_cover_every_token_once():
    for n in (1, 47, 48, 49, 1000, 4097):
        bins = plots.token_bins(n)
        assert len(bins) <= plots.MAX_TOKEN_COLUMNS
        assert [i for b in bins for i in b] == list(range(n))


def test_a_long_prompt_heatmap_still_shows_the_token_0_super_activation(embedded):
    from sw_core.scan import scan

    prompt = "Summer is hot. Winter is cold. " * 160  # 4,960 characters, ~1,600 tokens
    result = scan(embedded, prompt, track_channel=507)
    n = len(result.tokens)
    assert n > 10 * plots.MAX_TOKEN_COLUMNS
    fig, how = figures.token_heatmap(result)
    z = fig.data[0].z
    assert len(z[0]) <= plots.MAX_TOKEN_COLUMNS and how and f"{n:,} tokens" in how and "largest" in how
    # an independent reduction: the largest |output| of each bin of consecutive tokens, per layer
    width = math.ceil(n / plots.MAX_TOKEN_COLUMNS)
    for layer, row in enumerate(result.channel_trace):
        expected = [max(abs(float(v)) for v in row[i:i + width]) for i in range(0, n, width)]
        assert list(fig.data[0].customdata[layer]) == expected
    spike = max(range(len(z)), key=lambda layer: result.channel_trace[layer][0])
    assert fig.data[0].customdata[spike][0] > 10_000  # the super activation (about 22,500) is still drawn
    assert fig.data[0].customdata[spike][0] == max(max(r) for r in fig.data[0].customdata)
    short, none = figures.token_heatmap(scan(embedded, "Summer is hot.", track_channel=507))
    assert none is None and len(short.data[0].x) == len(scan(embedded, "Summer is hot.").tokens)
