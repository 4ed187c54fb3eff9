"""How much the report measures: one frozen `ReportSettings`, its defaults sized for a CPU.

Table 1 and the scale sweep score the same texts with the same windows, so the sweep's points at
0 and 1 are Table 1's "super weights off" and "original" rows (the impact command gives the same
numbers with `--max-tokens`, `--window` and `--texts` set alike). The sweep's other points and the
block sweep use fewer zero-shot questions and tokens per point: they compare points with each
other, and a sweep of a dozen points at Table 1's size would take most of the report's time. The
per-weight sweep (each super weight alone) is smaller again: it runs once per super weight.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..detect import DEFAULT_PROMPT
from ..errors import BadInput
from ..quant.settings import QuantSetting, parse_block
from ..setting import setting


@dataclass(frozen=True)
class ReportSettings:
    prompt: str = setting(DEFAULT_PROMPT, "detection prompt")
    texts: tuple[str, ...] = setting(("shakespeare", "britannica"),
                                     "shipped text names or .txt paths for Table 1 and the scale sweep")
    max_tokens: int = setting(256, "tokens of each text that Table 1 and the scale sweep score")
    window: int = setting(256, "perplexity window; at max-tokens, one forward pass per text and condition")
    questions: int = setting(40, "zero-shot trivia questions for Table 1, chance 25%; 0: skip")
    sweep_questions: int = setting(40, "zero-shot questions per scale-sweep point; 0: skip")
    stop_prompts: int = setting(32, "next-word prompts for the stop-word ratio")
    scales: tuple[float, ...] = setting((0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0),
                                        "scale factors for the sweep, the paper's 0..3; 0 and 1 are always in")
    # each super weight alone: fewer points, tokens and questions, to stay within the CPU goal
    weight_sweep_scales: tuple[float, ...] = setting((0.0, 0.5, 1.0, 2.0, 3.0),
                                                     "scale factors when each super weight is scaled alone; "
                                                     "0 and 1 are always in")
    weight_sweep_tokens: int = setting(128, "tokens per text for each super weight's own sweep")
    weight_sweep_questions: int = setting(12, "zero-shot questions per point of each super weight's own sweep; "
                                              "0: skip")
    weight_sweep_max: int = setting(4, "sweep at most this many super weights alone, the largest |W| first; 0: none")
    blocks: tuple = setting((64, 128, 256, 512, "row", "tensor"),
                            "RTN block sizes of the paper's quantization figure: numbers, 'row', 'tensor'",
                            metavar="B", parse=parse_block)
    block_text: str = setting("britannica", "shipped text name or .txt path for the block sweep")
    block_tokens: int = setting(256, "tokens per block-sweep point")
    clip_z: float = setting(3.0, "'with clipping': each block clipped at mean +- this x std; a fixed z keeps it one pass")
    control_k: int = setting(100, "Table 1's control: this many of the largest other weights of each super "
                                  "weight's matrix")
    validate_prompts: bool = setting(True, "cross-prompt stability on the built-in prompts", option="--no-validate")
    vocabulary: bool = setting(True, "the mechanism's word shift, two passes per built-in prompt")

    def check(self) -> "ReportSettings":
        if min(self.max_tokens, self.window, self.block_tokens, self.weight_sweep_tokens) < 8:
            raise BadInput("max_tokens, window, block_tokens and weight_sweep_tokens must each be at least 8 tokens.")
        if min(self.questions, self.sweep_questions, self.stop_prompts, self.weight_sweep_questions) < 0:
            raise BadInput("questions, sweep_questions, weight_sweep_questions and stop_prompts count prompts: "
                           "give 0 or more.")
        for name in ("scales", "weight_sweep_scales"):
            factors = getattr(self, name)
            if not factors or any(not 0 <= s <= 10 for s in factors):
                raise BadInput(f"{name} {factors}: give factors between 0 and 10, e.g. 0 0.5 1 1.5 2 2.5 3.")
        if self.weight_sweep_max < 0:
            raise BadInput(f"weight_sweep_max={self.weight_sweep_max}: give 0 (no per-weight sweep) or more.")
        if not self.prompt.strip():
            raise BadInput("prompt: give a non-empty detection prompt (the default is the paper's).")
        if not self.texts:
            raise BadInput("texts: give at least one shipped text name (shakespeare, britannica) or .txt path.")
        if self.control_k < 1:
            raise BadInput(f"control_k={self.control_k}: give 1 or more (the control turns off that many weights).")
        for block in self.blocks:  # the quantizer's own check, before a model loads
            QuantSetting("rtn", block=block, clip_z=self.clip_z)
        return self

    @property
    def sweep_scales(self) -> tuple[float, ...]:
        """The sweep always has 0 and 1: they anchor it to Table 1."""
        return tuple(sorted(set(self.scales) | {0.0, 1.0}))


def quick_settings() -> ReportSettings:
    """Every section at a fraction of the cost (about a CPU-minute on the embedded model): fewer tokens,
    questions, scales and blocks, no cross-prompt stability or word shift. For a public server and tests."""
    return ReportSettings(max_tokens=64, window=64, questions=8, sweep_questions=8, stop_prompts=8,
                          scales=(0.0, 1.0, 2.0, 3.0), weight_sweep_scales=(0.0, 1.0, 3.0), weight_sweep_tokens=64,
                          weight_sweep_questions=4, blocks=(64, "row", "tensor"), block_tokens=64,
                          validate_prompts=False, vocabulary=False)
