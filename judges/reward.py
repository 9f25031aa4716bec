"""Reward-model scorers: one scalar reward per conversation, in-process (transformers) or from vLLM's /pooling."""
from __future__ import annotations

import asyncio
import math
import random
import re
import threading
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx

from arena.backends.openai_compat import env_proxy, key_from_env, tls_context
from arena.backends.retry import RetryPolicy, call_with_retries, is_retryable
from arena.errors import ArenaError, BackendError, ConfigError, DataError
from arena.redaction import redact, register_secret
from arena.redaction import shorten as _short  # redacts before it cuts: no half key survives
from judges.verdicts import control_tokens_in, defuse_control_tokens

Conversation = list[dict[str, str]]
T = TypeVar("T")
RM_EXTRA_HINT = "install the reward-model extra: pip install -e '.[rm]'"


class RewardScorer(Protocol):
    """Scores conversations that end with the assistant answer to be judged."""

    name: str

    async def score(self, conversations: list[Conversation]) -> list[float]:
        """One scalar reward per conversation, in the same order."""
        ...

    async def score_full(self, conversations: list[Conversation]) -> list["Scored"]:
        """The rewards with whether each input was cut to fit the model."""
        ...

    async def aclose(self) -> None:
        """Release the model or the connections."""
        ...


def preference_probability(r_a: float, r_b: float, scale: float = 1.0) -> float:
    """P(A preferred over B) = sigmoid((r_a - r_b) / scale), computed without overflow."""
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    x = (r_a - r_b) / scale
    if math.isnan(x):
        raise ValueError(f"rewards must be numbers, got {r_a} and {r_b}")
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def reward_verdict(p_a: float, tie_band: float) -> str:
    """'model_a' above 0.5 + tie_band, 'model_b' below 0.5 - tie_band, otherwise 'tie'."""
    if p_a > 0.5 + tie_band:
        return "model_a"
    if p_a < 0.5 - tie_band:
        return "model_b"
    return "tie"


def check_conversation(conv: Sequence[dict[str, str]], index: int) -> None:
    """A conversation must be non-empty chat messages ending with the assistant's answer."""
    if not conv or not all(isinstance(m, dict) and "role" in m and "content" in m for m in conv):
        raise DataError(f"conversation {index}: expected a non-empty list of {{'role', 'content'}} messages")
    if conv[-1]["role"] != "assistant":
        raise DataError(f"conversation {index}: the last message must be the assistant answer to score, "
                        f"got role {conv[-1]['role']!r}")


ROLE_WORDS = ("system", "user", "assistant", "human", "tool", "developer")
_LINE_BREAK = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"  # where str.splitlines starts a new line


def render_plain_spans(conv: Sequence[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    """The fallback rendering for tokenizers without a chat template ('User: ...\\nAssistant: ...') and where each
    message's content sits in it. A role marker is the capitalised role and ':' at the start of a line; a content
    line that begins like one (any role of the conversation or a common one, any letter case) is indented by one
    space, so a message can never forge a turn."""
    roles = sorted({*ROLE_WORDS, *(str(m["role"]).lower() for m in conv)} - {""}, key=len, reverse=True)
    forged = re.compile(f"(?<=[{_LINE_BREAK}])(?=(?:{'|'.join(map(re.escape, roles))})[ \t]*:)", re.IGNORECASE)
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    for i, m in enumerate(conv):
        head = ("\n" if i else "") + f"{str(m['role']).capitalize()}: "
        content = forged.sub(" ", m["content"])
        pos += len(head)
        spans.append((pos, pos + len(content)))
        pos += len(content)
        parts += [head, content]
    return "".join(parts), spans


def render_plain(conv: Sequence[dict[str, str]]) -> str:
    """The fallback rendering for tokenizers without a chat template: 'User: ...\\nAssistant: ...'."""
    return render_plain_spans(conv)[0]


MARKER_WORDS, MARKER_CHARS = 3, 32  # a turn marker is short: a template's sentences (a default system prompt) are not
SHORT_MARKER = 3  # markers this short (`A:`) count only at the start of a line: "Option A: ..." is ordinary text


def template_markers(texts: Sequence[str], special: Sequence[str]) -> list[str]:
    """The plain-text turn markers of a chat template: each short line of its own text (special-token strings
    taken out; at most MARKER_WORDS words and MARKER_CHARS characters) that holds a character other than
    letters, digits and spaces, e.g. `[INST]`, `[/INST]`, `<<SYS>>`, `### Response:`, `USER:`. Bare role words
    after a special token (ChatML's `user`) are not markers: an answer cannot write the special token before
    them; a default system prompt ("You are a helpful assistant.") is a sentence, not a marker."""
    found: set[str] = set()
    for text in texts:
        for tok in special:
            text = text.replace(tok, "\n")
        for line in text.splitlines():
            line = line.strip()
            if (2 <= len(line) <= MARKER_CHARS and len(line.split()) <= MARKER_WORDS
                    and any(not (ch.isalnum() or ch.isspace()) for ch in line)):
                found.add(line)
    return sorted(found, key=len, reverse=True)


def defuse_markers(content: str, markers: Sequence[str]) -> str:
    """`content` with every copy of a template marker broken by a space after its first character (`[INST]` ->
    `[ INST]`), so a message cannot forge a turn of a template whose markers are plain text; a marker of at
    most SHORT_MARKER characters only where a line starts with it, one that starts with a letter not inside a
    word (`DB_USER:` stays). Other text is left as it is."""
    if not markers or not any(m in content for m in markers):
        return content
    # a marker that starts with a letter is one only where a word does not go on into it (`DB_USER:` is a name)
    parts = [f"(?:(?<=^)|(?<=[{_LINE_BREAK}]))[ \t]*{re.escape(m)}" if len(m) <= SHORT_MARKER
             else ("(?<!\\w)" if m[0].isalnum() or m[0] == "_" else "") + re.escape(m) for m in markers]
    pattern = re.compile("|".join(parts))

    def split(match: re.Match[str]) -> str:
        text = match.group(0)
        lead = len(text) - len(text.lstrip(" \t"))
        return text[: lead + 1] + " " + text[lead + 1:]

    return pattern.sub(split, content)


def _splice(pieces: list[str], contents: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """Template pieces [text, index, text, index, ..., text] with the contents put in: the text and the spans."""
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    for k, piece in enumerate(pieces):
        text = contents[int(piece)] if k % 2 else piece
        if k % 2:
            spans.append((pos, pos + len(text)))
        out.append(text)
        pos += len(text)
    return "".join(out), spans


def check_model_folder(path: str | Path, what: str = "reward model") -> Path:
    """Cheap checks before any weights are read (also in dry runs): the folder exists and has a config.json."""
    folder = Path(path).expanduser()
    hint = "point 'path' at a folder with config.json, the weights and the tokenizer (relative paths are read " \
           "against the current folder, then the config file's folder)"
    if not folder.exists():
        raise ConfigError(f"{what} path {folder} does not exist", hint=hint)
    if not folder.is_dir() or not (folder / "config.json").is_file():
        raise ConfigError(f"{what} path {folder} is not a model folder (no config.json in it)", hint=hint)
    return folder


def check_local_reward_model(path: str | Path, device: str = "cpu", what: str = "reward model") -> Path:
    """What a local reward judge needs before it loads anything: the model folder, torch and transformers, and
    the device. Cheap (no weights read, torch imported only for a device other than cpu): dry runs call it too."""
    import importlib.util

    folder = Path(path).expanduser()
    if not folder.exists():
        check_model_folder(folder, what)
    try:
        found = all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers"))
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ConfigError(f"the local {what} needs torch and transformers", hint=RM_EXTRA_HINT)
    check_model_folder(folder, what)
    if device != "cpu":
        from arena.backends.local_lm import check_device

        check_device(device, what)
    return folder


async def gather_or_cancel(aws: Sequence[Awaitable[T]]) -> list[T]:
    """Await all in order; on the first failure cancel the rest and re-raise it."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


DEFAULT_MAX_LENGTH = 4096  # tokens read per conversation unless `max_length` says otherwise (capped at the model's)
# Architectures whose position ids start at pad_token_id + 1 (fairseq's numbering), should their position table
# not be found by name: max_position_embeddings 514 leaves 512 tokens.
OFFSET_POSITION_TYPES = frozenset({"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "longformer",
                                   "roberta-prelayernorm", "data2vec-text", "ibert", "mpnet", "xmod"})


def usable_positions(model: Any) -> int | None:
    """The most tokens one input to `model` may have: its position table's size, less the ids below the first
    position for RoBERTa-style models (their position table has a padding row, padding_idx, and numbering starts
    after it). None when the config names no limit. (A model that has a padding row but numbers from 0 loses one
    token: safe.)"""
    import torch

    cfg = model.config
    limit = getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)
    if not isinstance(limit, int) or limit <= 0:
        return None
    tables = [m for name, m in model.named_modules()
              if (name == "position_embeddings" or name.endswith(".position_embeddings"))
              and isinstance(m, torch.nn.Embedding)]
    padded = [t for t in tables if t.padding_idx is not None]
    if padded:
        return max(1, min(limit, padded[0].num_embeddings) - padded[0].padding_idx - 1)
    if tables:
        return limit
    pad = getattr(cfg, "pad_token_id", None)
    if getattr(cfg, "model_type", None) in OFFSET_POSITION_TYPES and isinstance(pad, int) and pad >= 0:
        return max(1, limit - pad - 1)
    return limit


@dataclass(frozen=True)
class Scored:
    """One conversation's reward; `truncated`: its oldest tokens were cut to fit `max_length`."""

    reward: float
    truncated: bool = False
    tokens: int | None = None  # tokens the model read (local models only)


class LocalRewardModel:
    """A transformers sequence-classification reward model (num_labels=1) run in-process.

    Each distinct tokenised conversation is scored once per instance: concurrent `score` calls are pooled into
    batches of `batch_size`, and a conversation seen before gets its remembered reward (so the same text always
    gets the same reward, whatever batch it would have shared)."""

    def __init__(self, path: str | Path, *, name: str | None = None, device: str = "cpu", batch_size: int = 8,
                 max_length: int | None = None, dtype: str | None = None) -> None:
        self.path = Path(path).expanduser()
        self.name = name or self.path.name
        self.device = device
        self.batch_size = max(1, int(batch_size))
        self.requested_max_length = int(max_length) if max_length else None
        self.max_length = self.requested_max_length or DEFAULT_MAX_LENGTH  # capped at the model's limit on load
        self.dtype = dtype
        if not self.path.exists():
            check_model_folder(self.path)
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError as exc:
            raise ArenaError(f"the local reward model needs torch and transformers ({exc}); {RM_EXTRA_HINT}") from None
        check_local_reward_model(self.path, device, f"reward model {self.name}")
        self._model: Any = None
        self._tokenizer: Any = None
        self._special: set[int] = set()
        self._special_strings: list[str] = []  # the special tokens' texts, longest first
        self._dummy: list[str] | None = None  # the template's text around two exchanges (_dummy_pieces)
        self._load_lock = threading.Lock()
        self._load_error: Exception | None = None  # the first load's failure, given to every later caller
        self._loading: asyncio.Task[None] | None = None  # the one load the event loop's callers wait for
        self._memo: dict[tuple[int, ...], float] = {}  # token ids (after truncation) -> reward
        self._waiting: dict[tuple[int, ...], asyncio.Future[float]] = {}
        self._queue: list[tuple[int, ...]] = []
        self._drainer: asyncio.Task[None] | None = None
        self.forward_calls = 0  # batches run through the model (for the judge's statistics and tests)

    def _load(self) -> None:
        """Load tokenizer and model once (called in the worker thread); refuse a checkpoint without a trained head.
        A failed load is not tried again: a refused checkpoint would be read in full once per waiting caller."""
        with self._load_lock:
            if self._load_error is not None:
                raise self._load_error.with_traceback(None)
            if self._model is None:
                try:
                    self._load_locked()
                except Exception as exc:
                    self._load_error = exc
                    raise

    async def _ensure_loaded(self) -> None:
        """The first caller starts the load in a worker thread; the others wait for that same load (or its
        error) on the event loop instead of each queueing a load of its own in the thread pool."""
        loop = asyncio.get_running_loop()
        task = self._loading
        if task is None or task.get_loop() is not loop or (task.done() and self._model is None
                                                           and self._load_error is None):
            task = self._loading = loop.create_task(asyncio.to_thread(self._load))
        await asyncio.shield(task)  # a cancelled caller leaves the load to the others

    def _load_locked(self) -> None:
        import torch
        import transformers
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        kwargs: dict[str, Any] = {}
        if self.dtype:
            torch_dtype = getattr(torch, self.dtype, None) if isinstance(self.dtype, str) else self.dtype
            if not isinstance(torch_dtype, torch.dtype):
                raise ArenaError(f"reward model {self.name}: unknown dtype {self.dtype!r} (e.g. bfloat16, float32)")
            major_minor = tuple(int(p) for p in transformers.__version__.split(".")[:2])
            kwargs["dtype" if major_minor >= (4, 56) else "torch_dtype"] = torch_dtype
        try:
            tok = AutoTokenizer.from_pretrained(self.path)
            model, info = AutoModelForSequenceClassification.from_pretrained(self.path, output_loading_info=True,
                                                                             **kwargs)
        except (OSError, ValueError, KeyError) as exc:
            raise ArenaError(f"cannot load the reward model from {self.path}: {exc}") from None
        missing = sorted(info.get("missing_keys") or []) + sorted(str(k) for k in info.get("mismatched_keys") or [])
        prefix = f"{model.base_model_prefix}."
        if missing and all(not k.startswith(prefix) for k in missing):
            raise ArenaError(f"{self.path} has no single-output reward head: the checkpoint has no weights for "
                             f"{', '.join(missing[:4])}, so the score would come from a random head",
                             hint="use a reward model saved as a sequence classifier with num_labels=1 (a causal "
                                  "LM or a base model is not one)")
        if missing:
            raise ArenaError(f"{self.path}: the checkpoint has no weights for {len(missing)} parameters of the reward "
                             f"model (e.g. {', '.join(missing[:4])}); they would be random",
                             hint="check that config.json matches the weight files")
        if model.config.num_labels != 1:
            raise ArenaError(f"{self.path} has a {model.config.num_labels}-label classification head, not a "
                             "single-output reward head (num_labels=1)")
        if not getattr(tok, "is_fast", False):
            raise ArenaError(f"reward model {self.path}: no fast tokenizer (tokenizer.json)",
                             hint="token offsets come from a fast tokenizer; save one with save_pretrained")
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        if tok.pad_token is None:
            raise ArenaError(f"reward model {self.path}: the tokenizer has neither a pad nor an eos token")
        limit = usable_positions(model)
        if limit is not None:
            self.max_length = min(self.max_length, limit)
        model.config.pad_token_id = tok.pad_token_id
        self._special = set(tok.all_special_ids) | {i for i, t in tok.added_tokens_decoder.items() if t.special}
        self._special_strings = sorted({*tok.all_special_tokens, *(t.content for t in tok.added_tokens_decoder.values()
                                                                     if t.special)} - {""}, key=len, reverse=True)
        self._tokenizer, self._model = tok, model.to(self.device).eval()

    @property
    def templated(self) -> bool:
        """Whether the tokenizer has a chat template (else the 'User: ...' fallback is used)."""
        return bool(getattr(self._tokenizer, "chat_template", None))

    def render_spans(self, conv: Sequence[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
        """The text the model sees and the character spans of the message contents in it.

        With a chat template the template is rendered once with placeholders for the contents (its skeleton) and
        the contents are put in their places; that is the template's own output whenever the template copies
        contents as they are (or stripped, as Llama 3's does); a template that edits contents otherwise gets them
        unedited."""
        self._load()
        if not self.templated:
            return render_plain_spans(conv)
        contents = [m["content"] for m in conv]
        mark = "\ue000"
        while any(mark in c for c in contents):
            mark += "\ue001"
        holders = [{**m, "content": f"{mark}{i}{mark}"} for i, m in enumerate(conv)]
        skeleton = self._tokenizer.apply_chat_template(holders, tokenize=False)
        pieces = re.split(f"{re.escape(mark)}(\\d+){re.escape(mark)}", skeleton)
        real = self._tokenizer.apply_chat_template(list(conv), tokenize=False)
        stripped = [c.strip() for c in contents]
        chosen = stripped if _splice(pieces, contents)[0] != real and _splice(pieces, stripped)[0] == real else contents
        markers = template_markers([*pieces[0::2], *self._dummy_pieces(mark)], self._special_strings)
        return _splice(pieces, [defuse_markers(c, markers) for c in chosen])

    def _dummy_pieces(self, mark: str) -> list[str]:
        """The template's own text around two exchanges (user, assistant, user, assistant): markers that a short
        conversation shows only next to other text (Vicuna's first `USER:` follows its system prompt on one
        line) stand on their own there. Computed once; [] if the template refuses that conversation."""
        if self._dummy is None:
            holders = [{"role": r, "content": f"{mark}{i}{mark}"} for i, r in enumerate(["user", "assistant"] * 2)]
            try:
                skeleton = self._tokenizer.apply_chat_template(holders, tokenize=False)
                self._dummy = re.split(f"{re.escape(mark)}\\d+{re.escape(mark)}", skeleton)
            except Exception:  # noqa: BLE001 - a template with its own rules (e.g. a system turn first)
                self._dummy = []
        return self._dummy

    def render(self, conv: Sequence[dict[str, str]]) -> str:
        """The text the model sees: the tokenizer's chat template if it has one, else 'User: ...' lines."""
        return self.render_spans(conv)[0]

    def encode(self, conv: Sequence[dict[str, str]]) -> list[int]:
        """Token ids of the rendered conversation (before truncation). Special tokens come only from the template
        (or the tokenizer's own BOS/EOS): a special-token string inside a message is tokenised as plain text."""
        text, spans = self.render_spans(conv)
        tok = self._tokenizer
        enc = tok(text, add_special_tokens=not self.templated, return_offsets_mapping=True)
        ids, offsets = list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]

        def in_content(s: int, e: int) -> bool:
            return e > s and any(s < ce and cs < e for cs, ce in spans)

        if not any(i in self._special and in_content(s, e) for i, (s, e) in zip(ids, offsets)):
            return ids  # the usual case: exactly the tokenizer's own tokenisation
        out: list[int] = []
        start = 0
        for k, (i, (s, e)) in enumerate(zip(ids, offsets)):
            if i not in self._special or in_content(s, e):
                continue
            if s == e == 0 and k > 0:  # appended by the tokenizer's post-processor (an EOS): after the text
                s = e = len(text)
            if s > start:
                out += tok(text[start:s], add_special_tokens=False, split_special_tokens=True)["input_ids"]
            out.append(i)
            start = max(start, e)
        if start < len(text):
            out += tok(text[start:], add_special_tokens=False, split_special_tokens=True)["input_ids"]
        return out

    def _fit(self, ids: list[int]) -> tuple[tuple[int, ...], bool]:
        """Cut a too long input on the left (the oldest turns go, never the answer), keeping a leading BOS."""
        if len(ids) <= self.max_length:
            return tuple(ids), False
        bos = self._tokenizer.bos_token_id
        keep = ids[:1] if bos is not None and ids and ids[0] == bos else []
        return tuple(keep + ids[len(ids) - (self.max_length - len(keep)):]), True

    def _forward(self, batch: list[list[int]]) -> list[float]:
        """Rewards of one batch of token-id rows: the score head's output at each row's real last token."""
        import torch

        self.forward_calls += 1
        width = max(len(r) for r in batch)
        pad = self._tokenizer.pad_token_id
        input_ids = torch.tensor([r + [pad] * (width - len(r)) for r in batch], device=self.device)
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in batch], device=self.device)
        last = mask.sum(dim=1) - 1
        rows = torch.arange(len(batch), device=self.device)
        with torch.no_grad():
            base = getattr(self._model, self._model.base_model_prefix, None)
            head = getattr(self._model, "score", None)
            if base is not None and isinstance(head, torch.nn.Module):
                # Decoder reward models (Llama, Qwen, Mistral, ...): hidden state of the real last token,
                # whatever the pad id is (it may equal a real final token such as eos).
                hidden = base(input_ids=input_ids, attention_mask=mask).last_hidden_state
                logits = head(hidden[rows, last])
            else:  # other architectures pool themselves
                logits = self._model(input_ids=input_ids, attention_mask=mask).logits
        if logits.shape[-1] != 1:
            raise ArenaError(f"reward model {self.name} has {logits.shape[-1]} labels; a reward model has one")
        return [float(v) for v in logits[:, 0].float().cpu()]

    async def _drain(self) -> None:
        """Score the queued conversations in batches of `batch_size`; before each batch let the other waiting
        callers add theirs, so concurrent judgments share forward passes."""
        try:
            while self._queue:
                quiet = 0
                for _ in range(200):
                    if len(self._queue) >= self.batch_size or quiet >= 3:
                        break
                    before = len(self._queue)
                    await asyncio.sleep(0)
                    quiet = quiet + 1 if len(self._queue) == before else 0
                batch, self._queue = self._queue[:self.batch_size], self._queue[self.batch_size:]
                try:
                    rewards = await asyncio.to_thread(self._forward, [list(k) for k in batch])
                except asyncio.CancelledError:  # aclose: every waiting caller is cancelled too
                    self._fail_waiting([*batch, *self._queue], None)
                    self._queue = []
                    raise
                except Exception as exc:  # this batch's callers get the error (none waits for ever), as an
                    self._fail_waiting(batch, self._forward_error(exc))  # exception they await, not the task's
                    continue  # the queued conversations still get their own batches
                for key, reward in zip(batch, rewards):
                    self._memo[key] = reward
                    fut = self._waiting.pop(key, None)
                    if fut is not None and not fut.done():
                        fut.set_result(reward)
        finally:
            self._drainer = None

    def _fail_waiting(self, keys: list[tuple[int, ...]], error: Exception | None) -> None:
        """Give `error` (None: cancel) to the callers waiting for `keys`."""
        for key in keys:
            fut = self._waiting.pop(key, None)
            if fut is not None and not fut.done():
                if error is None:
                    fut.cancel()
                else:
                    fut.set_exception(error)

    def _forward_error(self, exc: Exception) -> Exception:
        """A forward pass's failure as the callers see it: Arena's own errors as they are (a wrong head is a
        configuration problem), anything else as this batch's judgments' error."""
        if isinstance(exc, ArenaError):
            return exc
        error = BackendError(f"reward model {self.name}: the forward pass failed ({type(exc).__name__}: "
                             f"{_short(str(exc))})",
                             hint="check that the tokenizer and config.json belong to these weights")
        error.__cause__ = exc
        return error

    async def score_full(self, conversations: list[Conversation]) -> list[Scored]:
        """Rewards and truncation of `conversations`, in order; each distinct one is scored once per instance."""
        for i, conv in enumerate(conversations):
            check_conversation(conv, i)
        if self._model is None:
            await self._ensure_loaded()
        fitted = [self._fit(self.encode(conv)) for conv in conversations]
        loop = asyncio.get_running_loop()
        pending: list[asyncio.Future[float]] = []
        for key, _ in fitted:
            if key in self._memo:
                continue
            fut = self._waiting.get(key)
            if fut is None or fut.get_loop() is not loop:
                fut = self._waiting[key] = loop.create_future()
                self._queue.append(key)
            pending.append(fut)
        if self._queue and (self._drainer is None or self._drainer.done() or self._drainer.get_loop() is not loop):
            self._drainer = loop.create_task(self._drain())
        if pending:  # shielded: a caller cancelled (e.g. its timeout) must not cancel a future others share
            await asyncio.gather(*(asyncio.shield(f) for f in pending))
        return [Scored(self._memo[key], cut, len(key)) for key, cut in fitted]

    async def score(self, conversations: list[Conversation]) -> list[float]:
        """Rewards for `conversations`, in order (see `score_full`)."""
        return [s.reward for s in await self.score_full(conversations)]

    async def aclose(self) -> None:
        """Stop a pending batch and drop the model so its memory can be freed."""
        if self._drainer is not None and not self._drainer.done():
            self._drainer.cancel()
        self._drainer = None
        self._loading = None
        self._model = self._tokenizer = None
        self._memo.clear()


class VLLMRewardEndpoint:
    """A reward model served by vLLM: one POST {root}/pooling per conversation with chat `messages`."""

    def __init__(self, *, base_url: str, model: str, name: str | None = None, api_key_env: str | None = None,
                 concurrency: int = 8, timeout_s: float = 60.0, retry: RetryPolicy | None = None,
                 extra_body: dict[str, Any] | None = None, seed: int = 0, read_template: bool = True) -> None:
        root = base_url.rstrip("/")
        root = root.removesuffix("/v1")
        self.url = f"{root}/pooling"
        self.model = model
        self.name = name or model
        self.concurrency = max(1, int(concurrency))
        self.retry = retry or RetryPolicy()
        self.extra_body = dict(extra_body or {})
        self.calls = 0
        self.retries = 0
        self._key = ""
        if api_key_env:
            self._key = key_from_env(api_key_env, f"reward endpoint {self.name}")
        register_secret(self._key)
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        limits = httpx.Limits(max_connections=self.concurrency * 2, max_keepalive_connections=self.concurrency)
        # trust_env off, as for the chat endpoints: the proxy is the project's choice (env_proxy: a loopback
        # server is never proxied) and no other setting comes from the environment
        self._http = httpx.AsyncClient(headers=headers, limits=limits, trust_env=False, verify=tls_context(),
                                       proxy=env_proxy(self.url),
                                       timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)))
        self._sem = asyncio.Semaphore(self.concurrency)
        self._rng = random.Random(seed)
        self.root = root
        self.markers: list[str] | None = None  # the server's plain-text turn markers, read once (read_markers)
        self.template_note = ""  # why they could not be read, if so
        if not read_template:
            self.markers = []
            self.template_note = ("reward.read_template is false: the server's chat template was not read; control "
                                  "tokens are broken up, plain-text turn markers are not")
        self._markers_lock = asyncio.Lock()

    def _on_retry(self, attempt: int, exc: BaseException, wait: float) -> None:
        self.retries += 1

    async def read_markers(self) -> list[str]:
        """The plain-text turn markers of the server's chat template (`USER:`, `### Response:`), as
        `template_markers` finds them for an in-process model: the template rendered around placeholder exchanges
        (two, or one if the template refuses two) by the server's /tokenize, turned back into text by
        /detokenize. Read once. A transient failure (5xx, 429, timeouts, connection errors) raises, so the
        request that needed the markers is retried and, failing for good, is an error asked again next run; a
        server without those routes, or whose text does not come back as sent, gives [] and a note."""
        async with self._markers_lock:
            if self.markers is None:
                self.markers, self.template_note = await self._read_markers()
        return self.markers

    async def _render(self, holders: list[dict[str, str]]) -> str:
        """The server's chat template around `holders`, as text (raises httpx errors)."""
        tok = await self._http.post(f"{self.root}/tokenize", json={"model": self.model, "messages": holders,
                                                                    "add_generation_prompt": False})
        tok.raise_for_status()
        back = await self._http.post(f"{self.root}/detokenize",
                                     json={"model": self.model, "tokens": tok.json()["tokens"]})
        back.raise_for_status()
        text = back.json()["prompt"]
        if not isinstance(text, str):
            raise TypeError("/detokenize returned no text")
        return text

    async def _read_markers(self) -> tuple[list[str], str]:
        mark = "QZXQ"
        unread = "control tokens are broken up, plain-text turn markers are not"
        pieces: list[str] = []
        for exchanges in (2, 1):  # a template may refuse more than one exchange
            holders = [{"role": r, "content": f"{mark}{i}{mark}"}
                       for i, r in enumerate(["user", "assistant"] * exchanges)]
            try:
                text = await self._render(holders)
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                if is_retryable(exc):
                    raise
                if exchanges == 2 and isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code in (400, 422):
                    continue
                why = (f"HTTP {exc.response.status_code}" if isinstance(exc, httpx.HTTPStatusError)
                       else type(exc).__name__)
                return [], (f"the server's chat template could not be read ({why} from /tokenize or /detokenize): "
                            f"{unread}")
            pieces = re.split(f"{mark}\\d+{mark}", text)
            if len(pieces) != len(holders) + 1:
                return [], f"the server's chat template did not render placeholders as sent: {unread}"
            break
        markers = template_markers(pieces, control_tokens_in("".join(pieces)))
        if any(re.search(r"\s[^\w\s]", m) for m in markers):  # "USER :": a decoder that re-spaces punctuation
            return [], f"the server's tokenizer does not give its template's text back as written ({markers}): {unread}"
        return markers, ""

    async def _once(self, conv: Conversation) -> float:
        """One /pooling request; raises httpx errors for the retry loop to judge."""
        # the server renders the chat template and tokenises the text: control tokens written in a message
        # would be read as real ones (an answer closing its own turn), and a line that repeats a plain-text
        # turn marker of the template would start a turn, so both are broken up first
        markers = await self.read_markers()
        messages = [{**m, "content": defuse_control_tokens(defuse_markers(m["content"], markers))} for m in conv]
        body = {"model": self.model, "messages": messages, "use_activation": False, **self.extra_body}
        self.calls += 1
        resp = await self._http.post(self.url, json=body)
        resp.raise_for_status()
        return self._parse(resp)

    def _parse(self, resp: httpx.Response) -> float:
        """The single scalar in data[0].data (a number, [x] or [[x]])."""
        try:
            data = resp.json()["data"]
            value: Any = data[0]["data"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise BackendError(f"{self.name}: {self.url} returned no pooling data: {_short(resp.text)}") from None
        if len(data) != 1:
            raise BackendError(f"{self.name}: {self.url} returned {len(data)} results for one conversation")
        flat = _flatten(value)
        if len(flat) != 1 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat):
            raise BackendError(f"{self.name}: expected one scalar reward from {self.url}, got {_short(str(value))}",
                               hint="serve a sequence-classification reward model (num_labels=1); for a "
                                    "per-token reward model pass extra_body={'task': 'classify'} or pool it")
        reward = float(flat[0])
        if not math.isfinite(reward):
            raise BackendError(f"{self.name}: {self.url} returned a non-finite reward ({reward})")
        return reward

    async def _score_one(self, conv: Conversation) -> float:
        """One conversation under the concurrency limit, with retries; BackendError when it fails for good."""
        async with self._sem:
            try:
                reward, _ = await call_with_retries(lambda: self._once(conv), self.retry, self._rng, self._on_retry)
            except httpx.HTTPStatusError as exc:
                url, code = exc.request.url, exc.response.status_code
                msg = f"{self.name}: {url} answered HTTP {code}: {_short(exc.response.text)}"
                raise BackendError(redact(msg, self._key), endpoint_down=code >= 500 or code == 429) from None
            except httpx.TransportError as exc:
                msg = f"{self.name}: cannot reach {self.root} ({type(exc).__name__}: {_short(str(exc))})"
                raise BackendError(redact(msg, self._key), hint="is the vLLM server up? check base_url",
                                   endpoint_down=True) from None
            return reward

    async def score(self, conversations: list[Conversation]) -> list[float]:
        """Rewards for `conversations` in order (vLLM's chat-style /pooling takes one conversation a request)."""
        for i, conv in enumerate(conversations):
            check_conversation(conv, i)
        return await gather_or_cancel([self._score_one(conv) for conv in conversations])

    async def score_full(self, conversations: list[Conversation]) -> list[Scored]:
        """Rewards of `conversations` in order (the server reports no truncation)."""
        return [Scored(r) for r in await self.score(conversations)]

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()


def _flatten(value: Any) -> list[Any]:
    """Nested lists to one flat list; a scalar becomes [scalar]."""
    if isinstance(value, list):
        return [v for item in value for v in _flatten(item)]
    return [value]
