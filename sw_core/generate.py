"""Streamed text generation for one (model, edit) setting, and several settings side by side.

Our own token loop with a KV cache, rather than `model.generate` + a streamer thread, because an
edit is a `ContextVar` (sw_core.edits): it must be in effect in the thread that runs each forward
pass and in no other. Each step enters `with applied(loaded, edit)` around its one forward pass
and leaves it before yielding, so two streams interleaved in one thread (side by side) never see
each other's edit, and closing a stream mid-way leaves nothing to undo.

A quantized model (`sw_core.quant.quantized`) is just another `Loaded`: pass it as `loaded`.
"""

from __future__ import annotations

from typing import Iterator

import torch

from .edits import Edit, applied, validate
from .errors import BadInput
from .loading import Loaded

DEFAULT_NEW_TOKENS = 48


def _check(loaded: Loaded, prompt, max_new_tokens, temperature, top_p, edit) -> int:
    """Raise BadInput for a bad argument; return max_new_tokens as an int within the cap in force."""
    if not isinstance(max_new_tokens, int) or isinstance(max_new_tokens, bool) or max_new_tokens < 1:
        raise BadInput(f"max_new_tokens={max_new_tokens!r}: ask for a whole number of tokens, at least 1.")
    if not isinstance(temperature, (int, float)) or not 0 <= temperature <= 10:
        raise BadInput(f"temperature={temperature!r} is out of range: use 0 (greedy) up to 10 (1 = the model's own distribution).")
    if not isinstance(top_p, (int, float)) or not 0 < top_p <= 1:
        raise BadInput(f"top_p={top_p!r} is out of range: use a number in (0, 1]; 1 keeps every token.")
    if edit is not None:
        validate(loaded, edit)
    return max_new_tokens


def prompt_ids(loaded: Loaded, prompt: str, chat: bool = False) -> torch.Tensor:
    """Token ids [1, T] of the prompt; chat=True wraps it in the model's chat template."""
    if not chat:
        return loaded.encode(prompt)
    template = getattr(loaded.tokenizer, "chat_template", None)
    if not template:
        raise BadInput(f"{loaded.name} has no chat template: turn chat mode off to continue the prompt as plain text.")
    text = loaded.tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                add_generation_prompt=True)
    return loaded.encode(text, add_bos=False)


def stream(loaded: Loaded, prompt: str, *, edit: Edit | None = None, max_new_tokens: int = DEFAULT_NEW_TOKENS,
           temperature: float = 0.0, top_p: float = 1.0, seed: int | None = 0, chat: bool = False,
           stop_at_eos: bool = True) -> Iterator[str]:
    """Pieces of generated text, one per new token (a piece may be "" while a character is incomplete).

    temperature 0 = greedy; otherwise sampling from softmax(logits / temperature) cut to the
    smallest set of tokens whose probability reaches top_p, with a generator seeded by `seed`.
    Arguments are checked now (BadInput), not at the first `next()`.
    """
    return _tokens_to_text(loaded, stream_tokens(loaded, prompt, edit=edit, max_new_tokens=max_new_tokens,
                                                 temperature=temperature, top_p=top_p, seed=seed, chat=chat,
                                                 stop_at_eos=stop_at_eos))


def stream_tokens(loaded: Loaded, prompt: str, *, edit: Edit | None = None, max_new_tokens: int = DEFAULT_NEW_TOKENS,
                  temperature: float = 0.0, top_p: float = 1.0, seed: int | None = 0, chat: bool = False,
                  stop_at_eos: bool = True) -> Iterator[int]:
    """The generated token ids, one at a time (same arguments as `stream`)."""
    max_new_tokens = _check(loaded, prompt, max_new_tokens, temperature, top_p, edit)
    ids = prompt_ids(loaded, prompt, chat)
    return _token_loop(loaded, ids, edit, max_new_tokens, temperature, top_p, seed, stop_at_eos)


@torch.no_grad()
def _token_loop(loaded, ids, edit, max_new_tokens, temperature, top_p, seed, stop_at_eos) -> Iterator[int]:
    gen = torch.Generator().manual_seed(seed) if (temperature > 0 and seed is not None) else None
    eos = loaded.tokenizer.eos_token_id
    cache_kw, extra = _forward_keywords(loaded.model)
    past = None
    step_input = ids
    for _ in range(max_new_tokens):
        with applied(loaded, edit):  # only around the forward pass: never yield in here
            out = loaded.model(input_ids=step_input, use_cache=True, **extra, **{cache_kw: past})
        past = getattr(out, "cache", None) or out.past_key_values
        token = _next_token(out.logits[0, -1].float().cpu(), temperature, top_p, gen)
        if stop_at_eos and token == eos:
            return
        yield token
        step_input = torch.tensor([[token]], device=ids.device)


def _forward_keywords(model) -> tuple[str, dict]:
    """The KV cache argument's name (`cache` in recent transformers, else `past_key_values`),
    and logits_to_keep=1 where supported (only the last position's logits are needed)."""
    import inspect

    params = inspect.signature(model.forward).parameters
    extra = {"logits_to_keep": 1} if "logits_to_keep" in params else {}
    return ("cache" if "cache" in params else "past_key_values"), extra


def _next_token(logits: torch.Tensor, temperature: float, top_p: float, gen) -> int:
    if temperature == 0:
        return int(logits.argmax())
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p < 1:
        sorted_p, order = probs.sort(descending=True)
        keep = sorted_p.cumsum(0) - sorted_p < top_p  # the smallest prefix reaching top_p
        probs = torch.zeros_like(probs).scatter_(0, order[keep], sorted_p[keep])
    return int(torch.multinomial(probs, 1, generator=gen))


def _tokens_to_text(loaded, tokens: Iterator[int]) -> Iterator[str]:
    """Decode incrementally: each piece is the new text since the last piece (UTF-8 safe)."""
    done: list[int] = []
    shown = ""
    try:
        for t in tokens:
            done.append(t)
            text = loaded.tokenizer.decode(done, skip_special_tokens=True)
            if text.endswith("\ufffd"):  # a multi-byte character is not complete yet
                yield ""
                continue
            piece, shown = text[len(shown):], text
            yield piece
    finally:
        close = getattr(tokens, "close", None)
        if close:
            close()


def generate(loaded: Loaded, prompt: str, **kwargs) -> str:
    """The whole generated text (see `stream` for the arguments)."""
    return "".join(stream(loaded, prompt, **kwargs))


def compare(settings: dict[str, tuple[Loaded, Edit | None]], prompt: str, **kwargs) -> dict[str, str]:
    """label -> generated text, for each (loaded, edit) setting, on the same prompt."""
    out = {label: "" for label in settings}
    for label, piece in stream_side_by_side(settings, prompt, **kwargs):
        out[label] += piece
    return out


def stream_side_by_side(settings: dict[str, tuple[Loaded, Edit | None]], prompt: str,
                        **kwargs) -> Iterator[tuple[str, str]]:
    """(label, piece) pairs, one token of each setting in turn, until every stream ends."""
    if not settings:
        raise BadInput("No settings to compare: give at least one label -> (model, edit).")
    streams = {label: stream(loaded, prompt, edit=edit, **kwargs) for label, (loaded, edit) in settings.items()}
    return _round_robin(streams)


def _round_robin(streams: dict[str, Iterator[str]]) -> Iterator[tuple[str, str]]:
    live = dict(streams)
    try:
        while live:
            for label in list(live):
                try:
                    piece = next(live[label])
                except StopIteration:
                    del live[label]
                    continue
                yield label, piece
    finally:
        for s in streams.values():
            s.close()
