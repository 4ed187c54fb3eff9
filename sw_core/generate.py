"""Streamed text generation for one (model, edit) setting, and several settings side by side.

Tokens come from transformers' own `model.generate` with a streamer. The edit is a `ContextVar`
(sw_core.edits), so `generate` runs in a worker thread that enters `with applied(loaded, edit)`
itself: every forward pass of that generation, and no other, sees the edit. The caller's thread
only reads token ids from a queue, so a stream paused between tokens (a browser session) or two
streams interleaved in one thread (side by side) never put an edit on the caller's own work, and
closing a stream mid-way stops its worker at the next token with nothing to undo.

Sampling uses our own seeded generator (a logits processor picks the token), not torch's global
one, which concurrent workers would share: the same seed gives the same text even side by side.

Only model-level arguments are checked here (a prompt, at least one new token, a context window
that fits them); caps on request size belong to whoever serves requests (the app, the CLI).
A quantized model (`sw_core.quant.quantized`) is just another `Loaded`: pass it as `loaded`.
"""

from __future__ import annotations

import contextvars
import numbers
import queue
import threading
from typing import Iterator

import torch

from .edits import Edit, applied, validate
from .errors import BadInput
from .loading import Loaded

DEFAULT_NEW_TOKENS = 48
_END = object()


def _check_sampling(temperature, top_p) -> None:
    if not isinstance(temperature, (int, float)) or not 0 <= temperature <= 10:
        raise BadInput(f"temperature={temperature!r} is out of range: use 0 (greedy) up to 10 (1 = the model's own distribution).")
    if not isinstance(top_p, (int, float)) or not 0 < top_p <= 1:
        raise BadInput(f"top_p={top_p!r} is out of range: use a number in (0, 1]; 1 keeps every token.")


def _check_prompt(prompt) -> None:
    if not isinstance(prompt, str):
        raise BadInput(f"The prompt must be text, not {type(prompt).__name__}.")
    if not prompt.strip():
        raise BadInput("The prompt is empty: type some text to run the model on.")


def context_window(loaded: Loaded) -> int | None:
    """The most positions the model attends to (prompt + generated), when its config says."""
    config = loaded.model.config
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    for name in ("max_position_embeddings", "n_positions"):
        n = getattr(text, name, None)
        if isinstance(n, int) and n > 0:
            return n
    return None


def _check_new_tokens(loaded: Loaded, n, prompt_len: int) -> int:
    """`n` as an int if at least 1 and the prompt plus n tokens fit the context window, else BadInput."""
    window = context_window(loaded)
    room = None if window is None else window - prompt_len
    allowed = "1 or more" if room is None else f"1 to {room:,}"
    why = "" if room is None else f" (the prompt's {prompt_len:,} tokens + the new ones must fit {loaded.name}'s context of {window:,})"
    if isinstance(n, bool) or not isinstance(n, numbers.Real) or (isinstance(n, float) and not n.is_integer()):
        raise BadInput(f"The number of new tokens must be a whole number ({allowed}), not {n!r}.")
    n = int(n)
    if room is not None and room < 1:
        raise BadInput(f"The prompt is {prompt_len:,} tokens long: {loaded.name}'s context of {window:,} has no room left. Shorten it.")
    if n < 1 or (room is not None and n > room):
        raise BadInput(f"{n:,} new tokens asked for; allowed: {allowed}{why}.")
    return n


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

    edit=None generates with the unedited model, whatever edit the caller has applied.
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
    _check_prompt(prompt)
    _check_sampling(temperature, top_p)
    if edit is not None:
        validate(loaded, edit)
    ids = prompt_ids(loaded, prompt, chat)
    max_new_tokens = _check_new_tokens(loaded, max_new_tokens, ids.shape[1])
    return _token_stream(loaded, ids, edit, _config(loaded, max_new_tokens, stop_at_eos),
                         _Sampler(temperature, top_p, seed) if temperature > 0 else None)


def _config(loaded: Loaded, max_new_tokens: int, stop_at_eos: bool):
    """Plain greedy decoding of exactly what we ask: values left unset would be filled from the
    model's own generation config (a repetition penalty, sampling...), so each one is set here."""
    from transformers import GenerationConfig

    eos = loaded.tokenizer.eos_token_id
    return GenerationConfig(
        max_new_tokens=max_new_tokens, min_new_tokens=0, do_sample=False, num_beams=1, repetition_penalty=1.0,
        no_repeat_ngram_size=0, use_cache=True, eos_token_id=eos if (stop_at_eos and eos is not None) else [],
        pad_token_id=loaded.tokenizer.pad_token_id if loaded.tokenizer.pad_token_id is not None else eos,
    )


class _Sampler:
    """A logits processor that samples the next token with its own seeded generator and leaves
    only that token possible, so greedy decoding then picks it."""

    def __init__(self, temperature: float, top_p: float, seed: int | None):
        self.temperature, self.top_p = temperature, top_p
        self.gen = torch.Generator().manual_seed(seed) if seed is not None else None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(scores[0].float().cpu() / self.temperature, dim=-1)
        if self.top_p < 1:
            sorted_p, order = probs.sort(descending=True)
            keep = sorted_p.cumsum(0) - sorted_p < self.top_p  # the smallest prefix reaching top_p
            probs = torch.zeros_like(probs).scatter_(0, order[keep], sorted_p[keep])
        token = int(torch.multinomial(probs, 1, generator=self.gen))
        only = torch.full_like(scores, float("-inf"))
        only[:, token] = 0.0
        return only


class _TokenQueue:
    """A transformers streamer (BaseStreamer's put/end) that queues new token ids for the reader;
    its first `put` is the prompt, which is skipped."""

    def __init__(self):
        self.items: queue.Queue = queue.Queue()
        self._prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        for token in value.reshape(-1).tolist():
            self.items.put(token)

    def end(self) -> None:
        self.items.put(_END)


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


def _generate_in_worker(loaded, ids, edit, config, sampler, streamer, stop: threading.Event, threads: int) -> None:
    from transformers import LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

    class Stopped(StoppingCriteria):  # the reader closed the stream: stop at the next token
        def __call__(self, input_ids, scores, **_):
            return torch.full((input_ids.shape[0],), stop.is_set(), dtype=torch.bool, device=input_ids.device)

    try:
        # A new thread's OpenMP pool does not follow torch.set_num_threads of the caller: set it here.
        torch.set_num_threads(threads)
        with torch.no_grad(), applied(loaded, edit):
            loaded.model.generate(
                input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=config, streamer=streamer,
                logits_processor=LogitsProcessorList([sampler] if sampler else []),
                stopping_criteria=StoppingCriteriaList([Stopped()]),
            )
    except BaseException as e:  # noqa: BLE001 - handed to the reader, which raises it
        streamer.items.put(_Failed(e))
    finally:
        streamer.end()


def _token_stream(loaded, ids, edit, config, sampler) -> Iterator[int]:
    """Run `generate` in a worker thread (in a copy of this context, then under `edit`) and yield
    its tokens as they come; closing the iterator stops the worker and waits for it."""
    streamer, stop = _TokenQueue(), threading.Event()
    context = contextvars.copy_context()  # the worker's `applied(loaded, edit)` then sets its own edit (None: unedited)
    worker = threading.Thread(target=context.run, daemon=True, name="sw-generate",
                              args=(_generate_in_worker, loaded, ids, edit, config, sampler, streamer, stop,
                                    torch.get_num_threads()))
    worker.start()
    try:
        while (item := streamer.items.get()) is not _END:
            if isinstance(item, _Failed):
                raise item.error
            if item == config.eos_token_id:  # generate stops after it (never, when it is [])
                return
            yield item
    finally:
        stop.set()
        worker.join()


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
