"""The answer stage: every candidate answers every question, cached by content, appended as it arrives."""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from arena.answers import AnswerStore, answer_key, make_record, read_answer_file
from arena.backends.base import GenParams, ModelAPI
from arena.backends.demo import DemoBackend
from arena.backends.openai_compat import OpenAICompatible, endpoint_key, key_from_env, resolve_api_key
from arena.backends.retry import CircuitBreaker, RetryPolicy
from arena.config import (
    AnswersCandidate,
    DemoCandidate,
    GenerationConfig,
    OpenAICandidate,
    RunConfig,
    TransformersCandidate,
    VLLMCandidate,
)
from arena.errors import ArenaError, BackendError, ConfigError, DataError
from arena.questions import Question
from arena.reasoning import reply_answer
from arena.records import JsonlAppender, content_hash
from arena.store import RunDir

CandidateCfg = OpenAICandidate | VLLMCandidate | AnswersCandidate | DemoCandidate
ABORT_AFTER_FAILURES = 3  # transport failures in a row (each after its retries): the endpoint is down


@dataclass
class ModelSummary:
    """Counts, tokens and timings of one candidate in this run."""

    questions: int = 0
    cached: int = 0
    generated: int = 0
    failed: int = 0
    truncated: int = 0  # answers kept with a turn cut at max_tokens (finish_reason "length")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON form for run.json."""
        mean = (lambda xs: round(sum(xs) / len(xs), 4) if xs else None)
        return {"questions": self.questions, "cached": self.cached, "generated": self.generated,
                "failed": self.failed, "truncated": self.truncated, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "seconds": round(self.seconds, 3),
                "mean_latency_s": mean(self.latencies), "mean_ttft_s": mean(self.ttfts)}


def model_identity(cand: CandidateCfg) -> dict[str, Any]:
    """What makes a candidate's answers differ; its endpoint URL does not (a moved server is the same model)."""
    if isinstance(cand, DemoCandidate):
        ident: dict[str, Any] = {"backend": "demo", "name": cand.name, "quality": cand.quality,
                                 "verbosity": cand.verbosity, "seed": cand.seed}
    elif isinstance(cand, AnswersCandidate):
        ident = {"backend": "answers", "name": cand.name}
    elif isinstance(cand, OpenAICandidate):
        ident = {"backend": "openai", "model": cand.model, "extra_body": cand.extra_body}
    else:
        ident = {"backend": "vllm", "model": cand.model, "weights": weights_fingerprint(cand.model),
                 "extra_args": cand.extra_args, "env": content_hash(cand.env)}
    if cand.revision:
        ident["revision"] = cand.revision
    return ident


_SAMPLE_BYTES = 1 << 16  # read from each of _SAMPLES places of a weight file for its fingerprint
_SAMPLES = 9
_WEIGHT_FILES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
# what else decides a model's replies: its config, tokenizer and chat template (hashed whole up to _WHOLE_BYTES)
_TOKENIZER_FILES = (".json", ".jinja", ".model", ".txt", ".tiktoken")
_WHOLE_BYTES = 64 << 20


def _sampled_digest(path: Path, size: int) -> str:
    """sha256 of a weight file's bytes at _SAMPLES evenly spread places, its end included. Weights retrained
    in place keep the file's size and header, never the values: the samples change; a copy keeps them.
    A few hundred KB read per file, whatever its size."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for k in range(_SAMPLES):
            fh.seek(max(0, (size - _SAMPLE_BYTES) * k // (_SAMPLES - 1)))
            digest.update(fh.read(_SAMPLE_BYTES))
    return digest.hexdigest()


def weights_fingerprint(model: str) -> str | None:
    """For a local model folder: a hash of its weight files' names, sizes and sampled bytes and of its config,
    tokenizer and chat template files (a new checkpoint behind the same path, retrained in place with the same
    shapes too, or an edited chat template gets new answers; a copy of the folder keeps them); None for a hub
    id."""
    path = Path(model)
    if not path.is_dir():
        return None
    path = path.resolve()
    parts = []
    for p in sorted(p for p in path.iterdir() if p.is_file() and p.suffix in _WEIGHT_FILES + _TOKENIZER_FILES):
        size = p.stat().st_size
        whole = p.suffix in _TOKENIZER_FILES and size <= _WHOLE_BYTES  # config, tokenizer, chat template: all of it
        parts.append((p.name, size, hashlib.sha256(p.read_bytes()).hexdigest() if whole else _sampled_digest(p, size)))
    return content_hash(parts)


def gen_params(gen: GenerationConfig, cand: CandidateCfg, question: Question) -> tuple[GenParams, str | None]:
    """Resolve the sampling parameters and system prompt for one candidate and question."""
    o = cand.generation
    params = GenParams(
        temperature=o.temperature if o.temperature is not None else gen.temperature_for(question.category),
        max_tokens=o.max_tokens or gen.max_tokens,
        top_p=o.top_p if o.top_p is not None else gen.top_p,
        seed=o.seed if o.seed is not None else gen.seed,
        stream=o.stream if o.stream is not None else gen.stream,
        accept_empty=question.category.startswith(BENCH_CATEGORY),  # scored wrong, as lm-eval and evalscope do
    )
    return params, o.system_prompt if o.system_prompt is not None else gen.system_prompt


BENCH_CATEGORY = "bench:"  # the category prefix of benchmark items in the answer stage (arena.bench.runner)


def cache_params(params: GenParams, system_prompt: str | None) -> dict[str, Any]:
    """The parameters that enter an answer's cache key."""
    return {**params.cache_fields(), "system_prompt": system_prompt}


class AnswerStage:
    """Runs the answer stage of one run."""

    def __init__(self, cfg: RunConfig, questions: list[Question], store: AnswerStore, run: RunDir,
                 show_progress: bool | None = None) -> None:
        self.cfg, self.questions, self.store, self.run = cfg, questions, store, run
        self.show_progress = show_progress
        self.summaries: dict[str, ModelSummary] = {}
        self.index: dict[str, dict[str, str]] = {}
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._wanted: dict[str, int] = {}  # endpoint -> the smallest concurrency of the candidates sharing it
        self._bar_pos = 0
        self._servers: dict[str, Any] = {}  # candidate name -> its launched VLLMServer, while it answers
        self._reported_dead: set[str] = set()

    def _semaphore(self, endpoint: str, limit: int) -> asyncio.Semaphore:
        endpoint = endpoint_key(endpoint)  # one server however its URL is written
        if endpoint not in self._limits:
            self._limits[endpoint] = asyncio.Semaphore(min(limit, self._wanted.get(endpoint, limit)))
        return self._limits[endpoint]

    def _todo(self, cand: CandidateCfg) -> tuple[list[tuple[Question, str, GenParams, str | None]], dict]:
        cached = self.store.load(cand.name)
        ident = model_identity(cand)
        todo = []
        summary = self.summaries.setdefault(cand.name, ModelSummary(questions=len(self.questions)))
        idx = self.index.setdefault(cand.name, {})
        for q in self.questions:
            key, params, system = _question_key(self.cfg.generation, cand, ident, q)
            if key in cached:
                summary.cached += 1
                idx[q.qid] = key
            else:
                todo.append((q, key, params, system))
        return todo, cached

    async def run_all(self) -> dict[str, dict[str, Any]]:
        """Answer with every candidate: replays first, then API/demo candidates together, then vLLM servers."""
        replays = [c for c in self.cfg.candidates if isinstance(c, AnswersCandidate)]
        direct = [c for c in self.cfg.candidates if isinstance(c, (OpenAICandidate, DemoCandidate))]
        served = [c for c in self.cfg.candidates if isinstance(c, VLLMCandidate)]
        for cand in replays:
            self._replay(cand)
        backends = [self._backend(c) for c in direct]
        for b in backends:  # candidates on one endpoint share the smallest concurrency any of them asks for
            key = endpoint_key(b.endpoint)
            self._wanted[key] = min(self._wanted.get(key, b.concurrency), b.concurrency)
        # vLLM candidates with answers to make (their launcher and key were checked before the run started,
        # check_vllm_before_run); a fully cached one is not launched
        pending = [(c, self._todo(c)[0]) for c in served]
        pending = [(c, todo) for c, todo in pending if todo]
        await asyncio.gather(*(self._answer_with(c, b) for c, b in zip(direct, backends)))
        if pending:
            await self._vllm_servers(pending)
        return {name: s.as_dict() for name, s in self.summaries.items()}

    def _backend(self, cand: CandidateCfg, base_url: str | None = None) -> ModelAPI:
        gen = self.cfg.generation
        if isinstance(cand, DemoCandidate):
            return DemoBackend(name=cand.name, quality=cand.quality, verbosity=cand.verbosity,
                               latency_s=cand.latency_s, seed=cand.seed, concurrency=gen.concurrency)
        url = base_url
        if isinstance(cand, OpenAICandidate):
            url = base_url or cand.base_url
        key = resolve_api_key(url, getattr(cand, "api_key_env", None), f"candidate '{cand.name}'")
        model = cand.name if isinstance(cand, VLLMCandidate) else cand.model
        return OpenAICompatible(name=cand.name, model=model, base_url=url, api_key=key,
                                concurrency=cand.concurrency or gen.concurrency,
                                timeout_s=cand.timeout_s or gen.timeout_s,
                                connect_timeout_s=cand.connect_timeout_s or gen.connect_timeout_s,
                                idle_timeout_s=cand.idle_timeout_s or gen.idle_timeout_s,
                                retry=RetryPolicy(max_retries=gen.max_retries),
                                extra_body=getattr(cand, "extra_body", None))

    async def _answer_with(self, cand: CandidateCfg, backend: ModelAPI,
                           todo: list | None = None) -> None:
        if todo is None:
            todo, _ = self._todo(cand)
        summary = self.summaries[cand.name]
        if not todo:
            await backend.aclose()
            return
        sem = self._semaphore(backend.endpoint, backend.concurrency)
        breaker = CircuitBreaker(ABORT_AFTER_FAILURES)
        start = time.perf_counter()
        self._bar_pos += 1
        disable = None if self.show_progress is None else not self.show_progress  # None: only on a terminal
        bar = tqdm(total=len(todo), desc=cand.name, unit="q", position=self._bar_pos - 1, leave=True,
                   disable=disable, dynamic_ncols=True)
        appender = self.store.appender(cand.name)
        try:
            await asyncio.gather(*(self._one(cand, backend, sem, appender, item, breaker, bar) for item in todo))
        finally:
            appender.close()
            bar.close()
            summary.seconds += time.perf_counter() - start
            await backend.aclose()
        if breaker.open:
            self.run.error(f"{cand.name}: gave up on {backend.endpoint} after {ABORT_AFTER_FAILURES} failures in "
                           f"a row; the questions left are retried on the next run. Last error: {breaker.reason}",
                           model=cand.name, stage="answers")

    async def _one(self, cand: CandidateCfg, backend: ModelAPI, sem: asyncio.Semaphore, appender: JsonlAppender,
                   item: tuple, breaker: CircuitBreaker, bar: tqdm) -> None:
        q, key, params, system = item
        summary = self.summaries[cand.name]
        if breaker.open:
            summary.failed += 1
            return
        messages: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
        texts, per_turn = [], []
        try:
            # the slot is held for the whole conversation: a started conversation runs to its end and is saved,
            # instead of every second turn queueing behind all first turns (an interrupted multi-turn run kept
            # nothing until about half of the stage was done)
            async with sem:
                for turn in q.turns:
                    messages.append({"role": "user", "content": turn})
                    if breaker.open:
                        summary.failed += 1
                        return
                    c = await backend.generate(messages, params)
                    # the next turn sees the answer, not the thought (as from a server with a reasoning parser)
                    said = reply_answer(c, cand.reasoning)
                    messages.append({"role": "assistant", "content": said})
                    texts.append(c.text)
                    per_turn.append({"latency_s": round(c.latency_s, 4), "ttft_s": c.ttft_s and round(c.ttft_s, 4),
                                     "prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens,
                                     "finish_reason": c.finish_reason, "attempts": c.attempts,
                                     "reasoning": c.reasoning})
        except BackendError as exc:
            summary.failed += 1
            message = self._server_death(cand.name) or str(exc)
            if exc.endpoint_down:
                breaker.record(False, message)
            if not breaker.open:
                self.run.error(message, model=cand.name, question_id=q.question_id, stage="answers")
            return
        breaker.record(True)
        rec = make_record(key=key, model=cand.name, question=q, turns=texts, backend=cand.backend,
                          params=_keyed_params(params, system, cand, q), run_id=self.run.run_id, per_turn=per_turn)
        appender.append(rec)
        self.index[cand.name][q.qid] = key
        summary.generated += 1
        summary.truncated += rec["truncated"]
        for t in per_turn:
            summary.prompt_tokens += t["prompt_tokens"] or 0
            summary.completion_tokens += t["completion_tokens"] or 0
            summary.latencies.append(t["latency_s"])
            if t["ttft_s"] is not None:
                summary.ttfts.append(t["ttft_s"])
        bar.update(1)

    def _replay(self, cand: AnswersCandidate) -> None:
        """Copy answers from an existing file into the cache (only the ones not there yet)."""
        file_model, answers = read_answer_file(cand.path, cand.model_id)
        summary = self.summaries.setdefault(cand.name, ModelSummary(questions=len(self.questions)))
        cached = self.store.load(cand.name)
        idx = self.index.setdefault(cand.name, {})
        missing: list[str] = []
        short: list[str] = []
        with self.store.appender(cand.name) as appender:
            for q in self.questions:
                ans = answers.get(q.qid)
                if ans is None:
                    missing.append(q.qid)
                    continue
                if len(ans["turns"]) < len(q.turns):
                    short.append(q.qid)
                    continue
                turns = ans["turns"][: len(q.turns)]
                params = {"replay": content_hash(turns)}
                key = answer_key(model_identity(cand), q, params)
                idx[q.qid] = key
                if key in cached:
                    summary.cached += 1
                    continue
                appender.append(make_record(key=key, model=cand.name, question=q, turns=turns, params=params,
                                            backend="answers", run_id=self.run.run_id,
                                            source={"path": str(cand.path), "model_id": file_model, **ans["meta"]}))
                summary.generated += 1
        for ids, what in ((missing, "have no answer"), (short, "have fewer answer turns than question turns")):
            if ids:
                summary.failed += len(ids)
                shown = ", ".join(ids[:5]) + (" ..." if len(ids) > 5 else "")
                self.run.error(f"{cand.name}: {len(ids)} questions {what} in {cand.path} ({shown})",
                               model=cand.name, stage="answers")

    async def _vllm_servers(self, pending: list[tuple[VLLMCandidate, list]]) -> None:
        """Launch, answer with and stop the vLLM candidates that have answers to make (`pending`: each with its
        open questions). Servers whose GPU sets do not overlap run side by side; a candidate starts as soon as
        the GPUs it needs are free (`ready_to_start`, in `plan_waves`' order), and a server stops as soon as its
        candidate is done, not when a whole wave is. A server that fails to start fails the run: the others are
        stopped (start-up aborted) first."""
        from arena.backends.vllm_server import plan_waves, ready_to_start

        gpu_sets = [set(c.gpus) if c.gpus is not None else None for c, _ in pending]
        ports = [c.port for c, _ in pending]
        waiting = [i for wave in plan_waves(gpu_sets, ports) for i in wave]  # priority: the waves' order
        running: dict[asyncio.Task[None], int] = {}
        try:
            while waiting or running:
                for i in ready_to_start(waiting, set(running.values()), gpu_sets, ports):
                    waiting.remove(i)
                    running[asyncio.create_task(self._with_server(*pending[i]))] = i
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    del running[task]
                    task.result()  # a server that could not start: raised here, the others cancelled below
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _with_server(self, cand: VLLMCandidate, todo: list) -> None:
        """One vLLM candidate: launch its server, answer its open questions, stop the server."""
        from arena.backends.vllm_server import VLLMServer

        server = VLLMServer.for_candidate(cand, self.run.logs_dir)
        try:
            url = await server.start_async()  # cancelled: start-up is aborted and the server stopped
            self._servers[server.served_name] = server
            await self._answer_with(cand, self._backend(cand, url), todo)
            name = server.served_name  # died as its requests failed, yet not seen then (still exiting): say so once
            failed = self.summaries[name].failed if name in self.summaries else 0
            report = None if name in self._reported_dead or not failed else self._server_death(name)
            if report:
                self.run.error(report, model=name, stage="answers")
        finally:
            self._servers.pop(server.served_name, None)
            with contextlib.suppress(Exception):
                await asyncio.shield(asyncio.to_thread(server.stop))

    def _server_death(self, name: str) -> str | None:
        """If candidate `name`'s launched server has exited during generation: the report (exit code, log and
        its excerpt) the first time, then one short line; None for a live server or another backend."""
        server = self._servers.get(name)
        report = server.exit_report() if server is not None else None
        if report is None:
            return None
        if name in self._reported_dead:
            return report.split("\n", 1)[0]
        self._reported_dead.add(name)
        return report


def check_vllm_launcher(cand: VLLMCandidate) -> None:
    """The launcher of a vLLM candidate (command[0]) must exist: found on PATH, or a path to an executable
    file. Checked before any candidate generates, not when the server is launched after them."""
    import os

    from arena.backends.vllm_server import locate_launcher

    exe = cand.command[0]  # looked up on the PATH the server gets, as the launch does
    found = locate_launcher(exe, (cand.env or {}).get("PATH", os.environ.get("PATH")))
    if found is None or not os.access(found, os.X_OK):
        where = "is not an executable file" if os.sep in exe else "is not found on PATH"
        raise ConfigError(f"candidate '{cand.name}': the vLLM launcher {exe!r} (command[0]) {where}",
                          hint="install vLLM into this environment (from the Arena checkout: pip install -e "
                               "'.[vllm]'), or set `command` to a working launcher, e.g. "
                               "[/opt/vllm-env/bin/vllm, serve]")


def _question_key(gen: GenerationConfig, cand: CandidateCfg, ident: dict[str, Any],
                  q: Question) -> tuple[str, GenParams, str | None]:
    """The answer cache key of one question for one candidate, with its sampling parameters and system prompt."""
    params, system = gen_params(gen, cand, q)
    return answer_key(ident, q, _keyed_params(params, system, cand, q)), params, system


def _keyed_params(params: GenParams, system: str | None, cand: CandidateCfg, q: Question) -> dict[str, Any]:
    """cache_params, and for a multi-turn question the candidate's `reasoning` setting unless it is the default:
    it decides what the later turns' history holds (the thought or not), so those answers differ with it."""
    out = cache_params(params, system)
    if len(q.turns) > 1 and cand.reasoning != "auto":
        out["history"] = cand.reasoning
    return out


def check_vllm_before_run(cfg: RunConfig, questions: list[Question], store: AnswerStore,
                          also: Callable[[VLLMCandidate], bool] | None = None) -> None:
    """Before the run starts: the launcher and key of every vLLM candidate that has answers to make (or for
    which `also` says it needs its server, e.g. uncached log-likelihood requests). A fully cached candidate
    needs neither: answers made on a GPU box can be judged again on a machine without vLLM."""
    for cand in cfg.candidates:
        if not isinstance(cand, VLLMCandidate):
            continue
        cached, ident = store.load(cand.name), model_identity(cand)
        if any(_question_key(cfg.generation, cand, ident, q)[0] not in cached for q in questions) or \
                (also is not None and also(cand)):
            check_vllm_ready(cand)


def check_vllm_ready(cand: VLLMCandidate) -> None:
    """What launching a vLLM candidate needs: its launcher, and its key when `api_key_env` is set. Checked only
    for candidates with answers to make (AnswerStage.run_all, arena bench's log-likelihood stage)."""
    check_vllm_launcher(cand)
    if cand.api_key_env:
        key_from_env(cand.api_key_env, f"candidate '{cand.name}'")


def check_candidates_ready(cfg: RunConfig, dry_run: bool = False) -> None:
    """Fail fast, before any work, on what would fail later: missing keys, answer files, reward models, local
    models. (vLLM launchers: when the answer stage knows which candidates need a server, `check_vllm_ready`.)"""
    for cand in cfg.candidates:
        if isinstance(cand, OpenAICandidate):
            resolve_api_key(cand.base_url, cand.api_key_env, f"candidate '{cand.name}'")
        elif isinstance(cand, AnswersCandidate):
            if not cand.path.exists():
                raise ArenaError(f"candidate '{cand.name}': answer file not found: {cand.path}")
            try:  # its shape (and, without model_id, that it holds one model) before a run folder exists
                read_answer_file(cand.path, cand.model_id)
            except ArenaError as exc:
                raise DataError(f"candidate '{cand.name}': {exc.args[0]}", hint=exc.hint) from None
        elif isinstance(cand, TransformersCandidate):  # arena bench's in-process model: folder, extra, device
            from judges.reward import check_local_reward_model

            check_local_reward_model(cand.path, cand.device, f"candidate '{cand.name}' (backend: transformers)")
    if cfg.judge is None or dry_run or cfg.judge.kind == "dry-run":
        return
    for judge in cfg.judge.members() or [cfg.judge]:
        if judge.kind == "llm":
            resolve_api_key(judge.base_url, judge.api_key_env, f"judge '{judge.label}'")
        elif judge.reward and judge.reward.source == "local" and not Path(judge.reward.path or "").exists():
            raise ArenaError(f"judge '{judge.label}': reward model not found: {judge.reward.path}")
        elif judge.reward and judge.reward.source == "vllm" and judge.reward.api_key_env:
            resolve_api_key(judge.reward.base_url, judge.reward.api_key_env, f"judge '{judge.label}'")
