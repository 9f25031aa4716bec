"""Secret redaction: the one function every message, log line and written run file passes through.

What is removed: the values of the environment variables that hold keys (the well-known ones, any variable
named like a key or token, and every variable a config names in `api_key_env`), secrets handed over by the
code that holds them (a backend's API key, a vLLM server's `env` values), credentials in URLs
(`scheme://user:secret@host`, `?api_key=...`), and `Authorization:` / `Bearer` tokens.
Redact first, shorten after: a cut never leaves half a key behind (see `shorten`).
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

MASK = "***"
MIN_SECRET_LEN = 6  # shorter values (a port, "0", "true") are not treated as secrets: they would mask everything

WELL_KNOWN_SECRET_VARS = (
    "OPENAI_API_KEY", "DASHSCOPE_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_HUB_TOKEN",
    "ANTHROPIC_API_KEY", "VLLM_API_KEY", "AZURE_OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY",
    "MISTRAL_API_KEY", "TOGETHER_API_KEY", "GROQ_API_KEY", "DEEPSEEK_API_KEY", "OPENROUTER_API_KEY",
    "WANDB_API_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "GITHUB_TOKEN",
)
_SECRET_NAME = re.compile(r"(^|_)(API_?KEY|KEY|TOKEN|SECRET|SECRET_KEY|PASSWORD|PASSWD|CREDENTIALS?)$",
                          re.IGNORECASE)

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # scheme://user:password@host and scheme://token@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@?#'\"<>]+@"), rf"\1{MASK}@"),
    # Authorization: Bearer x / "authorization": "Basic x"
    (re.compile(r"(?i)(\bauthorization['\"]?\s*[:=]\s*['\"]?(?:(?:bearer|basic|token)\s+)?)[^\s'\",;}]+"),
     rf"\1{MASK}"),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9\-._~+/=]{6,}"), rf"\1{MASK}"),
    # credentials in query strings: ?api_key=..., &token=...
    (re.compile(r"(?i)([?&](?:api[_-]?key|key|access[_-]?token|token|secret|password)=)[^&\s#'\"]+"), rf"\1{MASK}"),
    # key-shaped strings even when their variable is unknown: OpenAI/DashScope sk-..., Hugging Face hf_...
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"), MASK),
    (re.compile(r"\bhf_[A-Za-z0-9]{20,}"), MASK),
]

_secret_vars: set[str] = set()
_secret_values: set[str] = set()


def register_secret_env(name: str | None) -> None:
    """Treat the value of environment variable `name` as a secret from now on (a config's `api_key_env`)."""
    if name:
        _secret_vars.add(name)


def register_secret(value: str | None) -> None:
    """Treat `value` as a secret from now on (an API key a backend holds, a vLLM `env` value)."""
    if value and len(value) >= MIN_SECRET_LEN and value != "EMPTY":
        _secret_values.add(value)


def is_secret_name(name: str) -> bool:
    """True for an environment variable name that holds a secret (OPENAI_API_KEY, HF_TOKEN, ...)."""
    return name in WELL_KNOWN_SECRET_VARS or name in _secret_vars or bool(_SECRET_NAME.search(name))


def known_secrets(extra: Iterable[str | None] = ()) -> list[str]:
    """All secret values known now, longest first (so a key containing another is masked whole)."""
    found = {v for k, v in os.environ.items() if is_secret_name(k)} | _secret_values | {e for e in extra if e}
    return sorted((v for v in found if len(v) >= MIN_SECRET_LEN and v != "EMPTY"), key=len, reverse=True)


def redact(text: str, *secrets: str | None) -> str:
    """`text` with every known secret (plus `secrets`), URL credential and bearer token replaced by '***'."""
    return _redact_with(str(text), known_secrets(secrets))


def _redact_with(text: str, values: list[str]) -> str:
    for value in values:
        text = text.replace(value, MASK)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def mask_secrets(text: str) -> str:
    """`text` with the known secret values (API keys in the environment, keys backends hold) replaced by '***',
    and nothing else changed: for model output that is stored and passed on (an endpoint that echoes its request
    must not put its key into answer or judgment files, nor into the prompt sent to another host). Unlike
    `redact`, no pattern is applied: an answer about `Authorization: Bearer ...` headers keeps its text."""
    if not text:
        return text
    for value in known_secrets():
        if value in text:
            text = text.replace(value, MASK)
    return text


def shorten(text: str, n: int = 300, *secrets: str | None) -> str:
    """Redact, then fold whitespace and cut to `n` characters (in this order: no half key survives a cut)."""
    folded = " ".join(redact(text, *secrets).split())
    return folded if len(folded) <= n else folded[: n - 3] + "..."


def redact_data(obj: Any, *secrets: str | None) -> Any:
    """A copy of a JSON-like structure with every string (keys too) passed through `redact`."""
    return _redact_tree(obj, known_secrets(secrets))


def _redact_tree(obj: Any, values: list[str]) -> Any:
    if isinstance(obj, str):
        return _redact_with(obj, values)
    if isinstance(obj, dict):
        return {_redact_tree(k, values): _redact_tree(v, values) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_redact_tree(v, values) for v in obj]
    return obj
