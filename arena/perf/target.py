"""What a load test is aimed at: a candidate of a run config (an `openai` endpoint, a `vllm` candidate that
Arena launches and stops, a `demo` candidate), a bare --url/--model, or the offline demo server."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arena.errors import ArenaError, ConfigError
from arena.perf.demo_server import DEMO_NOTE
from arena.redaction import redact

DEMO_MODEL = "demo-perf"


@dataclass
class Target:
    """One endpoint to load: its name in results, model, URL, key (never written) and kind."""

    name: str
    model: str
    kind: str  # "openai", "vllm", "demo" or "url"
    base_url: str | None = None
    api_key: str | None = None
    extra_body: dict[str, Any] = field(default_factory=dict)
    candidate: Any = None  # the config entry (vllm: launched on open; demo: served on open)

    @property
    def label(self) -> str:
        """How the terminal and the files describe the target."""
        if self.kind == "demo":
            return f"{self.name} ({DEMO_NOTE})"
        launched = ", launched by Arena" if self.kind == "vllm" else ""
        return f"{self.name} ({self.kind}: model {self.model!r} at {self.shown_url}{launched})"

    @property
    def shown_url(self) -> str | None:
        """The base URL as printed and written: credentials in it (`user:password@`, `?api_key=`) masked."""
        return redact(self.base_url) if self.base_url else self.base_url

    def describe(self) -> dict[str, Any]:
        """The target as written to the results (no key, no credentials in the URL)."""
        return {"name": self.name, "model": self.model, "kind": self.kind, "base_url": self.shown_url,
                "demo": self.kind == "demo", "label": self.label}


def key_from_env(var: str | None) -> str | None:
    """The API key from the environment variable named by --api-key-env (None when no name is given)."""
    from arena.backends.openai_compat import key_from_env as checked_key

    return checked_key(var, f"--api-key-env {var}") if var else None


def url_target(url: str, model: str | None, api_key_env: str | None) -> Target:
    """A bare endpoint given with --url and --model."""
    if not model:
        raise ArenaError("--url needs --model: the model name the server serves (see its /v1/models)")
    if not url.startswith(("http://", "https://")):
        raise ArenaError(f"--url {url!r}: give an http(s) URL, e.g. http://127.0.0.1:8000/v1")
    return Target(name=model, model=model, kind="url", base_url=url, api_key=key_from_env(api_key_env))


def demo_target() -> Target:
    """The offline demo server (labelled: no model runs)."""
    return Target(name=DEMO_MODEL, model=DEMO_MODEL, kind="demo", candidate=None)


def config_targets(cfg: Any, names: list[str]) -> list[Target]:
    """The named candidates of a run config (all of them is refused: a load test can cost money)."""
    from arena.backends.openai_compat import resolve_api_key
    from arena.config import OPENAI_URL

    by_name = {c.name: c for c in cfg.candidates}
    testable = [c.name for c in cfg.candidates if c.backend in ("openai", "vllm", "demo")]
    if not names:
        if len(testable) != 1:
            raise ConfigError(f"name the candidate to load-test with --candidate (this config has: "
                              f"{', '.join(testable) or 'none that serve requests'})")
        names = testable
    out = []
    for name in names:
        cand = by_name.get(name)
        if cand is None:
            raise ConfigError(f"--candidate {name!r}: no such candidate in the config; it has: {', '.join(by_name)}")
        if cand.backend == "answers":
            raise ConfigError(f"--candidate {name!r} replays an answer file: there is no server to load-test")
        if cand.backend == "openai":
            key = resolve_api_key(cand.base_url, cand.api_key_env, f"candidate '{name}'")
            out.append(Target(name=name, model=cand.model, kind="openai", base_url=cand.base_url or OPENAI_URL,
                              api_key=None if key == "EMPTY" else key, extra_body=dict(cand.extra_body)))
        else:
            model = cand.name if cand.backend == "vllm" else name
            out.append(Target(name=name, model=model, kind=cand.backend, candidate=cand))
    return out


@contextmanager
def opened(target: Target, logs_dir: Path) -> Iterator[Target]:
    """The target, up: a vllm candidate is launched (and always stopped), a demo one served in-process."""
    if target.kind == "vllm":
        from arena.backends.vllm_server import VLLMServer

        server = VLLMServer.for_candidate(target.candidate, logs_dir)
        with server:
            target.base_url, target.api_key = server.base_url, server.api_key  # a key-protected server's key
            yield target
        return
    if target.kind == "demo":
        from arena.perf.demo_server import DemoServer

        c = target.candidate
        demo = {"seed": c.seed, "quality": c.quality, "verbosity": c.verbosity,
                "latency_s": c.latency_s} if c is not None else {}
        with DemoServer({target.model: demo}) as server:
            target.base_url = server.base_url
            yield target
        return
    yield target
