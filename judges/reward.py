"""Reward-model scorers: one scalar reward per conversation, in-process (transformers) or from vLLM's /pooling."""
from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx

from arena.backends.openai_compat import key_from_env
from arena.backends.retry import RetryPolicy, call_with_retries
from arena.errors import ArenaError, BackendError, DataError
from arena.redaction import redact, register_secret
from arena.redaction import shorten as _short  # redacts before it cuts: no half key survives

Conversation = list[dict[str, str]]
T = TypeVar("T")
RM_EXTRA_HINT = "install the reward-model extra: pip install -e '.[rm]'"


class RewardScorer(Protocol):
    """Scores conversations that end with the assistant answer to be judged."""

    name: str

    async def score(self, conversations: list[Conversation]) -> list[float]:
        """One scalar reward per conversation, in the same order."""
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


def render_plain(conv: Sequence[dict[str, str]]) -> str:
    """The fallback rendering for tokenizers without a chat template: 'User: ...\\nAssistant: ...'."""
    return "\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in conv)


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


class LocalRewardModel:
    """A transformers sequence-classification reward model (num_labels=1) run in-process."""

    def __init__(self, path: str | Path, *, name: str | None = None, device: str = "cpu", batch_size: int = 8,
                 max_length: int = 4096, dtype: str | None = None) -> None:
        self.path = Path(path).expanduser()
        self.name = name or self.path.name
        self.device = device
        self.batch_size = max(1, int(batch_size))
        self.max_length = int(max_length)
        self.dtype = dtype
        if not self.path.exists():
            raise ArenaError(f"reward model path {self.path} does not exist",
                             hint="point 'path' at a folder with config.json, the weights and the tokenizer")
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError as exc:
            raise ArenaError(f"the local reward model needs torch and transformers ({exc}); {RM_EXTRA_HINT}") from None
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = asyncio.Lock()

    def _load(self) -> None:
        """Load tokenizer and model once (called in the worker thread)."""
        if self._model is not None:
            return
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
            model = AutoModelForSequenceClassification.from_pretrained(self.path, **kwargs)
        except (OSError, ValueError, KeyError) as exc:
            raise ArenaError(f"cannot load the reward model from {self.path}: {exc}") from None
        if model.config.num_labels != 1:
            raise ArenaError(f"{self.path} is a classifier with {model.config.num_labels} labels; "
                             "a reward model has one (num_labels=1)")
        tok.truncation_side = "left"  # a long dialogue loses its oldest turns, never the answer
        tok.padding_side = "right"  # same positions as unbatched; the real last token is found from the mask
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        if tok.pad_token is None:
            raise ArenaError(f"reward model {self.path}: the tokenizer has neither a pad nor an eos token")
        model.config.pad_token_id = tok.pad_token_id
        self._tokenizer, self._model = tok, model.to(self.device).eval()

    def render(self, conv: Sequence[dict[str, str]]) -> str:
        """The text the model sees: the tokenizer's chat template if it has one, else 'User: ...' lines."""
        self._load()
        if getattr(self._tokenizer, "chat_template", None):
            return self._tokenizer.apply_chat_template(list(conv), tokenize=False)
        return render_plain(conv)

    def _forward(self, texts: list[str]) -> list[float]:
        """Rewards of one batch: the score head's output at each row's real last token."""
        import torch

        templated = bool(getattr(self._tokenizer, "chat_template", None))
        enc = self._tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                              add_special_tokens=not templated, return_tensors="pt").to(self.device)
        last = enc["attention_mask"].sum(dim=1) - 1
        rows = torch.arange(len(texts), device=last.device)
        with torch.no_grad():
            base = getattr(self._model, self._model.base_model_prefix, None)
            head = getattr(self._model, "score", None)
            if base is not None and isinstance(head, torch.nn.Module):
                # Decoder reward models (Llama, Qwen, Mistral, ...): hidden state of the real last token,
                # whatever the pad id is (it may equal a real final token such as eos).
                hidden = base(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
                logits = head(hidden[rows, last])
            else:  # other architectures pool themselves
                logits = self._model(**enc).logits
        if logits.shape[-1] != 1:
            raise ArenaError(f"reward model {self.name} has {logits.shape[-1]} labels; a reward model has one")
        return [float(v) for v in logits[:, 0].float().cpu()]

    def _score_batch(self, texts: list[str]) -> list[float]:
        """Load if needed, then score one batch (worker thread)."""
        self._load()
        return self._forward(texts)

    async def score(self, conversations: list[Conversation]) -> list[float]:
        """Rewards for `conversations`, batched, each batch's forward pass in a worker thread."""
        for i, conv in enumerate(conversations):
            check_conversation(conv, i)
        out: list[float] = []
        async with self._lock:
            await asyncio.to_thread(self._load)
            texts = [self.render(conv) for conv in conversations]
            for start in range(0, len(texts), self.batch_size):
                out.extend(await asyncio.to_thread(self._score_batch, texts[start:start + self.batch_size]))
        return out

    async def aclose(self) -> None:
        """Drop the model so its memory can be freed."""
        self._model = self._tokenizer = None


class VLLMRewardEndpoint:
    """A reward model served by vLLM: one POST {root}/pooling per conversation with chat `messages`."""

    def __init__(self, *, base_url: str, model: str, name: str | None = None, api_key_env: str | None = None,
                 concurrency: int = 8, timeout_s: float = 60.0, retry: RetryPolicy | None = None,
                 extra_body: dict[str, Any] | None = None, seed: int = 0) -> None:
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
        self._http = httpx.AsyncClient(headers=headers, limits=limits,
                                       timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)))
        self._sem = asyncio.Semaphore(self.concurrency)
        self._rng = random.Random(seed)

    def _on_retry(self, attempt: int, exc: BaseException, wait: float) -> None:
        self.retries += 1

    async def _once(self, conv: Conversation) -> float:
        """One /pooling request; raises httpx errors for the retry loop to judge."""
        body = {"model": self.model, "messages": conv, "use_activation": False, **self.extra_body}
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
                msg = f"{self.name}: {self.url} answered HTTP {exc.response.status_code}: {_short(exc.response.text)}"
                code = exc.response.status_code
                raise BackendError(redact(msg, self._key), endpoint_down=code >= 500 or code == 429) from None
            except httpx.TransportError as exc:
                msg = f"{self.name}: cannot reach {self.url} ({type(exc).__name__}: {_short(str(exc))})"
                raise BackendError(redact(msg, self._key), hint="is the vLLM server up? check base_url",
                                   endpoint_down=True) from None
            return reward

    async def score(self, conversations: list[Conversation]) -> list[float]:
        """Rewards for `conversations` in order (vLLM's chat-style /pooling takes one conversation a request)."""
        for i, conv in enumerate(conversations):
            check_conversation(conv, i)
        return await gather_or_cancel([self._score_one(conv) for conv in conversations])

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()


def _flatten(value: Any) -> list[Any]:
    """Nested lists to one flat list; a scalar becomes [scalar]."""
    if isinstance(value, list):
        return [v for item in value for v in _flatten(item)]
    return [value]
