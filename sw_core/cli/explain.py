"""`python -m sw_core explain --model REF [--prompt TEXT] [--json FILE]`: how the super weight works.

Prints the four mechanism views (pathway in, persistence, attention sink, vocabulary effect) for
the detected super weights (or --weights) on one prompt; --json writes the same data.
"""

from __future__ import annotations

from .common import add_model_args, fmt, load_from_args, progress, table, write_json
from .impact import parse_weights


def add_arguments(p) -> None:
    add_model_args(p)
    p.add_argument("--prompt", default=None, help="text to explain on (default: the paper's prompt)")
    p.add_argument("--weights", nargs="+", default=None, metavar="L:R:C",
                   help="super weights as layer:row:col (one layer and row), instead of detecting them")
    p.add_argument("--no-vocabulary", action="store_true", help="skip the vocabulary shift (two passes per built-in prompt)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write everything as JSON")


def run(args) -> int:
    from ..mechanism import explain

    chosen = parse_weights(args.weights) if args.weights else None
    loaded = load_from_args(args)
    progress("explaining ...")
    m = explain(loaded, args.prompt, chosen, with_vocabulary=not args.no_vocabulary)
    print(f"model: {m.model}; super weights: {', '.join(m.super_weights)}")
    print(f"prompt: {m.prompt!r} ({len(m.tokens)} tokens)\n")
    for line in summary_lines(m):
        print(line)
    if args.json:
        write_json(m.to_dict(), args.json)
    return 0


def summary_lines(m) -> list[str]:
    out = []
    for p in m.pathway:
        out.append(f"PATHWAY IN  layer {p.layer} [{p.row}, {p.col}] at token {p.token} {p.token_text!r}:")
        factors = " x ".join(f"{f.name} {fmt(f.value)}" for f in p.factors)
        out.append(f"  x[{p.col}] = {fmt(p.x)} (= {factors} = {fmt(p.x_recomputed)}); "
                   f"W = {fmt(p.weight)} contributes {fmt(p.contribution)} of y[{p.row}] = {fmt(p.activation)}")
        for f in p.factors:
            drivers = "; ".join(
                f"ch {d.channel} {d.term:+.3g} (" + ", ".join(f"{w.sublayer} {w.value:+.3g}" for w in d.writers) + ")"
                for d in f.drivers[:3])
            out.append(f"  {f.name} pre-activation {fmt(f.pre)}, top residual channels: {drivers}")
    s = m.persistence
    orig, rem = s.at_token("original"), s.at_token("removed")
    large = s.large_layers("original")
    out.append(f"\nPERSISTENCE  residual channel {s.channel} at token {s.token} after each layer "
               f"(removed: {', '.join(s.removed_weights)}):")
    out.append(table([{"layer": i, "original": o, "removed": r} for i, (o, r) in enumerate(zip(orig, rem))]))
    out.append(f"  >= 25% of the peak in layers {_ranges(large)} originally; "
               f"{_ranges(s.large_layers('removed')) or 'none'} with the weights removed")
    a = m.attention_sink
    out.append(f"\nATTENTION SINK  mean attention on token {a.token} over {a.queries} later tokens, "
               f"layers x heads: original {a.mean_original:.3f}, removed {a.mean_removed:.3f}")
    out.append("  per layer (original -> removed): " + ", ".join(
        f"{i}: {o:.2f}->{r:.2f}" for i, (o, r) in enumerate(zip(a.layer_means("original"), a.layer_means("removed")))))
    v = m.vocabulary
    if v is not None:
        out.append(f"\nVOCABULARY  channel {v.channel} through the final norm and unembedding:")
        out.append("  promotes: " + " ".join(repr(t.token) for t in v.promoted))
        out.append("  suppresses: " + " ".join(repr(t.token) for t in v.suppressed))
        out.append(f"  next-token probability by class, original vs {', '.join(v.removed_weights)} removed: "
                   f"{v.sentences} next-word sentences (last position) | {v.prompts} built-in prompts "
                   f"({v.positions} positions)")
        out.append(table([{"class": a.name, "sentences": a.original, "removed": a.removed, "ratio": a.ratio,
                           "| built-in": b.original, "removed ": b.removed, "ratio ": b.ratio}
                          for a, b in zip(v.classes, v.classes_builtin)]))
    return out


def _ranges(layers: list[int]) -> str:
    """[11, 12, 13, 20] -> '11-13, 20'."""
    parts, start = [], None
    for i, x in enumerate(layers):
        if start is None:
            start = x
        if i + 1 == len(layers) or layers[i + 1] != x + 1:
            parts.append(f"{start}-{x}" if x != start else str(x))
            start = None
    return ", ".join(parts)
