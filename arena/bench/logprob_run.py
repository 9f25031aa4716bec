"""Running log-likelihood tasks (choice with `method: loglikelihood`, `kind: perplexity`) for every candidate.

Each candidate becomes a log-likelihood backend: `openai` -> /v1/completions with echo+logprobs, `vllm` ->
the same against the server Arena launches, `transformers` -> the in-process model, `demo` -> seeded
placeholders (marked demo). Results have the shape of bench/<model>.json, task by task."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from pathlib import Path
from typing import Any

from arena.backends.completions_logprobs import CompletionsLogprobs
from arena.backends.demo_logprobs import DemoLogprobs
from arena.backends.logprobs import ContinuationLL, LogprobModel, NoPromptLogprobs, WindowInfo
from arena.backends.openai_compat import resolve_api_key
from arena.backends.retry import RetryPolicy
from arena.bench.loglik import item_result, option_pairs, summarize
from arena.bench.logprob_cache import LogprobCache, identity
from arena.bench.perplexity import aggregate, document_windows, score_document
from arena.bench.results import now
from arena.bench.tasks import LoadedTask
from arena.config import (
    AnswersCandidate,
    DemoCandidate,
    GenerationConfig,
    OpenAICandidate,
    RunConfig,
    TransformersCandidate,
    VLLMCandidate,
)
from arena.errors import ArenaError, ConfigError
from arena.interrupts import run_async
from arena.records import content_hash
from arena.store import RunDir


def needs_logprobs(task: LoadedTask) -> bool:
    """Whether a task is scored from log-probabilities rather than from generated text."""
    return task.kind == "perplexity" or task.task.method == "loglikelihood"


def make_model(cand: Any, gen: GenerationConfig, base_url: str | None = None) -> LogprobModel:
    """The log-likelihood backend of a candidate (a vLLM candidate needs the URL of its launched server)."""
    if isinstance(cand, DemoCandidate):
        return DemoLogprobs(name=cand.name, seed=cand.seed)
    if isinstance(cand, TransformersCandidate):
        from arena.backends.local_lm import LocalLM

        return LocalLM(name=cand.name, path=cand.path, device=cand.device, max_length=cand.max_length)
    if isinstance(cand, (OpenAICandidate, VLLMCandidate)):
        url = base_url or getattr(cand, "base_url", None) or "https://api.openai.com/v1"
        key = resolve_api_key(url, getattr(cand, "api_key_env", None), f"candidate '{cand.name}'")
        model = cand.name if isinstance(cand, VLLMCandidate) else cand.model
        return CompletionsLogprobs(name=cand.name, model=model, base_url=url, api_key=key,
                                   concurrency=cand.concurrency or gen.concurrency,
                                   timeout_s=cand.timeout_s or gen.timeout_s,
                                   retry=RetryPolicy(max_retries=gen.max_retries),
                                   extra_body=getattr(cand, "extra_body", None))
    raise ConfigError(f"candidate '{cand.name}' (backend {cand.backend}) cannot score log-likelihood tasks")


def unsupported_message(task: LoadedTask, cand: str, reason: str) -> str:
    """The one error line for a backend without prompt log-probabilities: the task, the cause, the way out."""
    fix = ("set 'method: generate' on the task to score generated letters instead, or use a /v1/completions "
           "server (vLLM) or backend: transformers" if task.kind != "perplexity" else
           "perplexity needs a /v1/completions server with /tokenize (vLLM) or backend: transformers")
    what = "perplexity" if task.kind == "perplexity" else f"{task.kind}, method: loglikelihood"
    return (f"bench task '{task.task.name}' ({what}): candidate '{cand}' cannot return "
            f"prompt log-probabilities ({reason.splitlines()[0]}); {fix}")


class Limited:
    """A backend seen through a request limit: at most `concurrency` requests at once; none once it is known
    that the backend cannot return prompt log-probabilities."""

    def __init__(self, model: LogprobModel, unsupported: list[NoPromptLogprobs],
                 cache: LogprobCache | None = None) -> None:
        self.model, self.unsupported, self.cache = model, unsupported, cache
        self.name, self.endpoint, self.demo = model.name, model.endpoint, model.demo
        self.concurrency = max(1, model.concurrency)
        self._sem = asyncio.Semaphore(self.concurrency)

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        async with self._sem:
            if self.unsupported:
                raise self.unsupported[0]
            try:
                return await fn(*args)
            except NoPromptLogprobs as exc:  # known at once: the requests still waiting are not sent
                self.unsupported.append(exc)
                raise

    def continuation_logprob(self, context: str, continuation: str) -> Coroutine[Any, Any, ContinuationLL]:
        """The backend's continuation_logprob, within the limit (or from the cache). A plain method returning
        the coroutine to await: without a cache that is `_call`'s own (one coroutine less per request)."""
        if self.cache is None:
            return self._call(self.model.continuation_logprob, context, continuation)
        return self._cached_continuation(self.cache, context, continuation)

    async def _cached_continuation(self, cache: LogprobCache, context: str, continuation: str) -> ContinuationLL:
        key = cache.key("continuation", context, continuation)
        if (hit := cache.get(key)) is not None:
            return ContinuationLL(**hit)
        res = await self._call(self.model.continuation_logprob, context, continuation)
        cache.put(key, asdict(res))
        return res

    async def tokenize(self, text: str) -> list[int]:
        """The backend's tokenize, within the limit. Stored in the cache as it arrives; read from it only when
        the candidate is scored offline (every request cached: no server was launched)."""
        if self.cache is None:
            return await self._call(self.model.tokenize, text)
        key = self.cache.key("tokenize", text)
        if self.cache.offline and (hit := self.cache.known.get(key)) is not None:  # not counted as reused
            return list(hit)
        res = await self._call(self.model.tokenize, text)
        self.cache.put(key, res, counted=False, replace=True)
        return res

    async def window_info(self) -> WindowInfo:
        """The backend's window_info, within the limit: from the live server whenever there is one (it may have
        been restarted with another --max-model-len), from the cache only offline."""
        if self.cache is None:
            return await self._call(self.model.window_info)
        key = self.cache.key("window_info")
        if self.cache.offline and (hit := self.cache.known.get(key)) is not None:
            return WindowInfo(**hit)
        res = await self._call(self.model.window_info)
        self.cache.put(key, asdict(res), counted=False, replace=True)
        return res

    async def token_logprobs(self, tokens: list[int], n_scored: int) -> list[float]:
        """The backend's token_logprobs, within the limit (or from the cache)."""
        key = self.cache.key("window", tokens, n_scored) if self.cache else ""
        if self.cache and (hit := self.cache.get(key)) is not None:
            return list(hit)
        res = await self._call(self.model.token_logprobs, tokens, n_scored)
        if self.cache:
            self.cache.put(key, res)
        return res

    async def aclose(self) -> None:
        """Close the backend."""
        await self.model.aclose()


async def score_items(model: LogprobModel, task: LoadedTask,
                      cache: LogprobCache | None) -> tuple[list[Any], list[str]]:
    """Score every item of one task (at most `model.concurrency` requests at once); (scores in item order,
    errors). Choice options are requests of their own (one task each, not one per item and one per option)."""
    errors: list[str] = []
    unsupported: list[NoPromptLogprobs] = []
    limited = Limited(model, unsupported, cache)
    if task.kind != "perplexity":
        return await _score_choices(limited, task, errors), errors

    async def one(item: Any) -> Any:
        try:
            return await score_document(limited, item.question, task.task.max_length)
        except NoPromptLogprobs as exc:
            unsupported.append(exc)
        except ArenaError as exc:
            errors.append(f"{task.task.name}/{item.id}: {exc}")
        return None

    results = await asyncio.gather(*(one(item) for item in task.data.items))
    if unsupported:
        raise unsupported[0]
    return list(results), errors


async def _score_choices(limited: Limited, task: LoadedTask, errors: list[str]) -> list[dict[str, Any] | None]:
    """Every option of every item scored at once (within the limit), then each item from its options; an item
    with a failed option is None and its error (the first failed option's) goes to `errors`."""
    items = task.data.items
    pairs = [option_pairs(item) for item in items]
    scored = await asyncio.gather(*(limited.continuation_logprob(ctx, cont) for ps in pairs for ctx, cont in ps),
                                  return_exceptions=True)
    if limited.unsupported:
        raise limited.unsupported[0]
    out: list[dict[str, Any] | None] = []
    pos = 0
    for item, ps in zip(items, pairs):
        mine, pos = scored[pos:pos + len(ps)], pos + len(ps)
        failed = next((r for r in mine if isinstance(r, BaseException)), None)
        if failed is None:
            out.append(item_result(item, mine))  # type: ignore[arg-type]
        elif isinstance(failed, ArenaError):
            errors.append(f"{task.task.name}/{item.id}: {failed}")
            out.append(None)
        else:
            raise failed
    return out


def task_result(task: LoadedTask, scored: list[Any], run_id: str, demo: bool) -> dict[str, Any]:
    """One task's entries for bench/<model>.json (scores, n, stderr, metrics, details, sources)."""
    name, ok = task.task.name, [s for s in scored if s is not None]
    source: dict[str, Any] = {"source": "arena", "run_id": run_id, "kind": task.kind, "format": task.format,
                              "path": str(task.task.path), "method": "loglikelihood",
                              "missing": len(scored) - len(ok), **task.read_info,
                              "prompt_hash": content_hash(task.kind + "|" + task.task.method)}
    if demo:
        source["demo"] = "placeholder log-probabilities from the offline demo backend, not a model"
    out: dict[str, Any] = {"scores": {}, "n": {name: len(ok)}, "stderr": {}, "metrics": {}, "details": {},
                           "sources": {name: source}}
    if task.kind == "perplexity":
        metrics = aggregate(ok)
        source.update(metric="word_perplexity", higher_is_better=False)
        out["details"][name] = [{"id": item.id, "loglikelihood": round(d.logprob, 6), "tokens": d.tokens,
                                 "words": d.words, "bytes": d.bytes, "windows": d.windows}
                                for item, d in zip(task.data.items, scored) if d is not None]
        if metrics:
            out["scores"][name] = metrics["word_perplexity"]
            out["metrics"][name] = metrics
        return out
    source.update(metric="acc", higher_is_better=True)
    out["details"][name] = ok
    if ok:
        metrics = summarize(ok)
        out["scores"][name] = metrics["acc"]
        out["stderr"][name] = metrics["acc_stderr"]
        out["metrics"][name] = metrics
    return out


def unscored_result(task: LoadedTask, run_id: str, demo: bool, reason: str) -> dict[str, Any]:
    """The entries of a task a candidate could not score at all (no prompt log-probabilities, no backend):
    n 0, every item missing, its metric, and `unscored` with the reason's first line (the table shows it)."""
    out = task_result(task, [None] * len(task.data.items), run_id, demo)
    out["sources"][task.task.name]["unscored"] = reason.splitlines()[0] if reason else "not scored"
    return out


def merge_into(result: dict[str, Any], part: dict[str, Any]) -> None:
    """Add one task's entries to a model's result dict."""
    for key, value in part.items():
        if isinstance(value, dict):
            result.setdefault(key, {}).update(value)


async def _score_candidate(model: LogprobModel, tasks: list[LoadedTask], run: RunDir,
                           log: Callable[[str], None], cache: LogprobCache | None) -> dict[str, Any]:
    result: dict[str, Any] = {"model": model.name}
    try:
        for task in tasks:
            try:
                scored, errors = await score_items(model, task, cache)
            except NoPromptLogprobs as exc:
                msg = unsupported_message(task, model.name, str(exc))
                log(f"error: {msg}")
                run.error(msg, stage="bench", task=task.task.name, model=model.name)
                merge_into(result, unscored_result(task, run.run_id, model.demo, msg))
                continue
            for e in errors[:20]:
                run.error(e, stage="bench", task=task.task.name, model=model.name)
            merge_into(result, task_result(task, scored, run.run_id, model.demo))
    finally:
        await model.aclose()
        if cache:
            cache.close()
            result["cache"] = {"reused": cache.hits, "scored": cache.added}
    result["updated"] = now()
    return result


async def _with_vllm(cand: VLLMCandidate, gen: GenerationConfig, tasks: list[LoadedTask], run: RunDir,
                     log: Callable[[str], None], cache: LogprobCache | None) -> dict[str, Any]:
    from arena.backends.vllm_server import VLLMServer

    if logprobs_all_cached(tasks, cache):  # all from the cache: no server, launcher or key needed
        keyless = cand.model_copy(update={"api_key_env": None})  # nothing is sent: no key to look up
        assert cache is not None
        cache.offline = True  # tokenizations and the window size come from the cache too
        return await _score_candidate(make_model(keyless, gen, "http://127.0.0.1:9/v1"), tasks, run, log, cache)
    server = VLLMServer.for_candidate(cand, run.logs_dir, suffix="-ll")  # launcher checked before the run
    url = await asyncio.to_thread(server.start)
    try:
        return await _score_candidate(make_model(cand, gen, url), tasks, run, log, cache)
    finally:
        with contextlib.suppress(Exception):
            server.stop()


def logprobs_all_cached(tasks: list[LoadedTask], cache: LogprobCache | None) -> bool:
    """Whether every request of `tasks` is in the cache (as Limited keys them). A perplexity window is keyed by
    token ids: the server's tokenization of each document and its window size are cached beside them."""
    if cache is None:
        return False
    for task in tasks:
        if task.kind == "perplexity":
            info = cache.known.get(cache.key("window_info"))
            if info is None:
                return False
            for item in task.data.items:
                tokens = cache.known.get(cache.key("tokenize", item.question))
                if tokens is None or any(cache.key("window", ctx + cont, len(cont)) not in cache.known
                                         for ctx, cont in document_windows(WindowInfo(**info), tokens,
                                                                           task.task.max_length)):
                    return False
            continue
        for item in task.data.items:
            keys = [cache.key("continuation", ctx, cont) for ctx, cont in option_pairs(item)]
            if any(key not in cache.known for key in keys):
                return False
    return True


def _problem(result: dict[str, Any], cand: str, task: LoadedTask) -> str | None:
    """What went wrong for one candidate on one task (None when every item was scored)."""
    name = task.task.name
    if name not in result.get("n", {}) or result["sources"][name].get("unscored"):
        return f"candidate {cand}: bench task {name} not scored"
    missing = result["sources"][name]["missing"]
    return f"candidate {cand}: bench task {name}: {missing} of {len(task.data.items)} items failed" if missing else None


def logprob_cache(cfg: RunConfig, cand: Any) -> LogprobCache | None:
    """The candidate's log-probability cache in the workspace (None when it has no identity)."""
    ident = identity(cand)
    return LogprobCache(Path(cfg.workspace), cand.name, ident) if ident is not None else None


async def _run_all(cfg: RunConfig, tasks: list[LoadedTask], run: RunDir,
                   log: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    cands = [c for c in cfg.candidates if not isinstance(c, AnswersCandidate)]
    direct = [c for c in cands if not isinstance(c, VLLMCandidate)]
    out: dict[str, dict[str, Any]] = {}
    for cand in direct:  # one at a time: an in-process model holds its memory while it scores
        try:
            model = make_model(cand, cfg.generation)
        except ArenaError as exc:
            run.error(f"{cand.name}: {exc}", stage="bench")
            log(f"error: {cand.name}: {exc}")
            out[cand.name] = {"model": cand.name, "updated": now()}
            for task in tasks:
                merge_into(out[cand.name], unscored_result(task, run.run_id, False, f"{cand.name}: {exc}"))
            continue
        out[cand.name] = await _score_candidate(model, tasks, run, log, logprob_cache(cfg, cand))
    for cand in (c for c in cands if isinstance(c, VLLMCandidate)):
        out[cand.name] = await _with_vllm(cand, cfg.generation, tasks, run, log, logprob_cache(cfg, cand))
    problems = [p for c in cands for t in tasks if (p := _problem(out.get(c.name) or {}, c.name, t))]
    models = {m: {"n": r.get("n", {}), "cache": r.pop("cache", None)} for m, r in out.items()}
    run.stage("loglikelihood", {"tasks": [t.task.name for t in tasks], "problems": problems, "models": models})
    return out


def run_logprob_tasks(cfg: RunConfig, tasks: list[LoadedTask], run: RunDir,
                      log: Callable[[str], None] = print) -> dict[str, dict[str, Any]]:
    """Score the log-likelihood tasks with every candidate that can; {model: partial bench result}."""
    if not tasks:
        return {}
    return run_async(_run_all(cfg, tasks, run, log))
