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

DEFAULT_TEXTS = ("shakespeare", "britannica")  # the shipped texts
DEFAULT_MAX_TOKENS = 256  # tokens of each text Table 1 (and the sweep) score
DEFAULT_WINDOW = 256  # one window per text: a forward pass per text and condition
DEFAULT_QUESTIONS = 40  # zero-shot trivia questions for Table 1 (chance 25%)
DEFAULT_SWEEP_QUESTIONS = 40  # ... and for each scale-sweep point
DEFAULT_STOP_PROMPTS = 32  # next-word prompts for the stop-word ratio
DEFAULT_SCALES = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)  # the paper scans 0..3
DEFAULT_WEIGHT_SWEEP_SCALES = (0.0, 0.5, 1.0, 2.0, 3.0)  # each super weight alone: fewer points ...
DEFAULT_WEIGHT_SWEEP_TOKENS = 128  # ... fewer tokens per text ...
DEFAULT_WEIGHT_SWEEP_QUESTIONS = 12  # ... and fewer questions, to stay within the CPU goal
DEFAULT_WEIGHT_SWEEP_MAX = 4  # sweep at most this many super weights alone (the largest |W|)
DEFAULT_BLOCKS = (64, 128, 256, 512, "row", "tensor")  # RTN block sizes, the paper's quantization figure
DEFAULT_BLOCK_TEXT = "britannica"
DEFAULT_BLOCK_TOKENS = 256
DEFAULT_CLIP_Z = 3.0  # "with clipping": clip each block at mean +- 3 std (a fixed z keeps it one pass)
DEFAULT_CONTROL_K = 100  # Table 1's control: the 100 largest other weights of each super weight's matrix


@dataclass(frozen=True)
class ReportSettings:
    prompt: str = DEFAULT_PROMPT
    texts: tuple[str, ...] = DEFAULT_TEXTS
    max_tokens: int = DEFAULT_MAX_TOKENS
    window: int = DEFAULT_WINDOW
    questions: int = DEFAULT_QUESTIONS
    sweep_questions: int = DEFAULT_SWEEP_QUESTIONS
    stop_prompts: int = DEFAULT_STOP_PROMPTS
    scales: tuple[float, ...] = DEFAULT_SCALES
    weight_sweep_scales: tuple[float, ...] = DEFAULT_WEIGHT_SWEEP_SCALES
    weight_sweep_tokens: int = DEFAULT_WEIGHT_SWEEP_TOKENS
    weight_sweep_questions: int = DEFAULT_WEIGHT_SWEEP_QUESTIONS
    weight_sweep_max: int = DEFAULT_WEIGHT_SWEEP_MAX
    blocks: tuple = DEFAULT_BLOCKS
    block_text: str = DEFAULT_BLOCK_TEXT
    block_tokens: int = DEFAULT_BLOCK_TOKENS
    clip_z: float = DEFAULT_CLIP_Z
    control_k: int = DEFAULT_CONTROL_K
    validate_prompts: bool = True  # cross-prompt stability on the built-in prompts
    vocabulary: bool = True  # the mechanism's word shift (two passes per built-in prompt)

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
        if not self.texts:
            raise BadInput("texts: give at least one shipped text name (shakespeare, britannica) or .txt path.")
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
