"""The project's prompts: the paper's two, and a built-in set for cross-prompt stability.

`PAPER_PROMPT` is the paper's detection prompt; `NEXT_TOKEN_PROMPT` its stop-word cue (Fig. 3:
with the super weight removed, stop words gain probability after it).

The built-in set: varied lengths, topics, languages, with and without BOS.

The paper reports that a super weight's super activation appears at the same channel for any
input; these prompts test that on the loaded model. They are short on purpose (a validation of
two dozen prompts stays a few seconds on a CPU) but span one word to a paragraph, prose, dialogue,
code, numbers, lists and seven languages, and a third of them are run with a BOS token prepended.
"""

from __future__ import annotations

from dataclasses import dataclass


PAPER_PROMPT = "Apple Inc. is a worldwide tech company."
NEXT_TOKEN_PROMPT = "Summer is hot. Winter is"


@dataclass(frozen=True)
class Prompt:
    text: str
    label: str  # what the prompt varies: topic, language, length...
    add_bos: bool | None = None  # None: the tokenizer's own rule; True: force a BOS; False: none


_TEXTS = [
    (PAPER_PROMPT, "paper's prompt", None),
    ("Hello", "one word", None),
    (NEXT_TOKEN_PROMPT, "stop-word cue", None),
    ("The quick brown fox jumps over the lazy dog.", "pangram", True),
    ("Paris is the capital of France, and Berlin is the capital of", "geography", None),
    ("def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
     "Python code", None),
    ("SELECT name, COUNT(*) FROM users GROUP BY name ORDER BY 2 DESC;", "SQL", True),
    ("3.14159 + 2.71828 = 5.85987; 12 * 12 = 144; 2 ** 10 = 1024.", "numbers", None),
    ("Le chat dort sur le canapé pendant que la pluie tombe sur Paris.", "French", None),
    ("Der schnelle braune Fuchs springt über den faulen Hund.", "German", True),
    ("El conocimiento es poder, y la paciencia es la madre de la ciencia.", "Spanish", None),
    ("Москва — столица России, крупнейший город страны.", "Russian", None),
    ("今天天气很好，我们去公园散步吧。", "Chinese", True),
    ("東京は日本の首都です。", "Japanese", None),
    ("- milk\n- eggs\n- flour\n- sugar\n", "list", None),
    ("Q: What is the boiling point of water at sea level?\nA:", "question answering", True),
    ("User: Can you recommend a good book?\nAssistant: Sure! I suggest", "dialogue", None),
    ("To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer "
     "the slings and arrows of outrageous fortune, or to take arms against a sea of troubles.",
     "Shakespeare", None),
    ("Photosynthesis converts light energy into chemical energy. Chlorophyll absorbs mostly blue "
     "and red light, which is why leaves look green. The process releases oxygen as a by-product "
     "and stores energy in glucose, which plants use to grow.", "science paragraph", True),
    ("In 1969, Apollo 11 landed on the Moon. Neil Armstrong and Buzz Aldrin walked on the surface "
     "while Michael Collins orbited above in the command module. The mission returned safely to "
     "Earth on July 24, fulfilling a national goal set eight years earlier. Millions watched the "
     "landing live on television, and the words 'one small step for man' became famous around "
     "the world. Later missions brought back rocks that scientists still study today.",
     "history paragraph", None),
    ("!!! ??? ... ;;; ---", "punctuation only", None),
    ("the the the the the the the the", "repetition", True),
    ("<html><body><h1>Welcome</h1><p>This is a page.</p></body></html>", "HTML", None),
    ("Once upon a time, in a small village by the sea, there lived an old fisherman", "story", True),
]

BUILTIN_PROMPTS: list[Prompt] = [Prompt(t, label, bos) for t, label, bos in _TEXTS]


def builtin_prompts() -> list[Prompt]:
    return list(BUILTIN_PROMPTS)
