"""`arena bench`: candidates answer benchmark items through the cached answer stage; replies are scored."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arena.answers import AnswerStore
from arena.bench.aggregate import add_aggregates
from arena.bench.completion_stage import PromptingStage, completion_prompts
from arena.bench.config import BenchConfig
from arena.bench.fewshot import shot_info
from arena.bench.genopts import CodeOptions
from arena.bench.logprob_run import (
    logprob_cache,
    logprobs_all_cached,
    merge_into,
    needs_logprobs,
    run_logprob_tasks,
)
from arena.bench.results import file_name as bench_file_name
from arena.bench.results import (
    bench_path,
    keep_unscored,
    metric_label,
    now,
    read_result,
    score_rows,
    write_bench,
)
from arena.bench.sandbox import resolve_isolation
from arena.bench.tasks import LoadedTask, load_task
from arena.config import AnswersCandidate, RunConfig, redacted_dump
from arena.errors import ConfigError
from arena.generation import BENCH_CATEGORY, check_candidates_ready, check_vllm_before_run
from arena.interrupts import run_async
from arena.questions import Question
from arena.reasoning import record_view
from arena.records import content_hash, write_json_atomic, write_jsonl_atomic
from arena.redaction import redact_data
from arena.store import RunDir, Workspace
from arena.workspace_lock import workspace_lock

BENCH_TEMPERATURE = 0.0
MAX_REJECTS_RECORDED = 20  # per task in run.json; the log line gives the total


@dataclass
class BenchOutcome:
    """What a bench run produced: its run folder and each model's result (as written to bench/<model>.json)."""

    run: RunDir
    tasks: list[LoadedTask]
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    notes: dict[tuple[str, str], str] = field(default_factory=dict)  # (model, task) -> stored score not kept


def question_id(task: str, item_id: str, sample: int = 0) -> str:
    """The question id of a benchmark item (sample > 0: its further samples) in the answer cache."""
    return f"bench:{task}:{item_id}" + (f"#{sample}" if sample else "")


def build_questions(tasks: list[LoadedTask]) -> list[Question]:
    """Single-turn Questions, one per item and sample, category `bench:<task>`, the rendered prompt as its turn."""
    return [Question(question_id(t.task.name, item.id, s), [t.prompt(item)], f"{BENCH_CATEGORY}{t.task.name}")
            for t in tasks for item in t.data.items for s in range(t.samples)]


def bench_run_config(cfg: RunConfig, bench: BenchConfig) -> RunConfig:
    """The run config the answer stage sees: greedy decoding (code tasks: their sampling temperature) for
    everyone, bench max_tokens, no replays."""
    sampled = {f"bench:{t.name}".lower(): t.code.sampling_temperature for t in bench.tasks if t.code}
    gen = cfg.generation.model_copy(update={
        "temperature": None if sampled else BENCH_TEMPERATURE,
        "default_temperature": BENCH_TEMPERATURE, "category_temperature": sampled,
        "max_tokens": bench.max_tokens or cfg.generation.max_tokens,
        "system_prompt": bench.system_prompt if bench.system_prompt is not None else cfg.generation.system_prompt,
    })
    cands = [c.model_copy(update={"generation": c.generation.model_copy(update={"temperature": None})})
             for c in cfg.candidates if not isinstance(c, AnswersCandidate)]
    return cfg.model_copy(update={"generation": gen, "candidates": cands})


def score_model(model: str, tasks: list[LoadedTask], answers: dict[str, dict], index: dict[str, str],
                run_id: str, scratch: Path | None = None, system_prompt: str | None = None,
                reasoning: str = "auto") -> dict[str, Any]:
    """Score one model's cached replies on every task; items it has no answer for are counted as missing. A
    leading thought block is taken off each reply before scoring as the candidate's `reasoning` says."""
    out: dict[str, Any] = {"model": model, "scores": {}, "n": {}, "details": {}, "sources": {}}
    missing: dict[str, int] = {}
    for t in tasks:
        name, details, pairs = t.task.name, [], []
        for item in t.data.items:
            recs = [answers.get(index.get(question_id(name, item.id, s), "")) for s in range(t.samples)]
            replies = [record_view(r, reasoning)[0] for r in recs if r is not None]
            if not replies:
                missing[name] = missing.get(name, 0) + 1
                continue
            pairs.append((item, replies))
        extra: dict[str, Any] = {}
        if t.whole_task:  # corpus metrics, pass@k over samples (arena.bench.genscore / passk)
            try:
                got = t.score_all(pairs, scratch or run_scratch(Path.cwd()))
            except ConfigError as exc:  # e.g. a metric's extra is not installed: this task alone is unscored
                out.setdefault("errors", {})[name] = str(exc)
                out["details"][name], out["n"][name] = [], 0
                out["sources"][name] = {"source": "arena", "run_id": run_id, "kind": t.kind, "format": t.format,
                                        "path": str(t.task.path), "missing": missing.get(name, 0) + len(pairs),
                                        **t.read_info, "prompt_hash": _prompt_hash(t, system_prompt),
                                        "metric": t.metric, "unscored": str(exc).splitlines()[0]}
                continue
            details = got.details
            if got.score is not None:
                out["scores"][name] = got.score
                out.setdefault("metrics", {})[name] = got.metrics
            if got.stderr is not None:
                out.setdefault("stderr", {})[name] = got.stderr
            extra = {"metric": got.primary, "higher_is_better": True, **got.info}
            # items pass@k could not score (fewer samples than min(k): failed requests) count as missing
            missing[name] = missing.get(name, 0) + len(got.info.get("unscored_items") or [])
        else:
            for item, replies in pairs:
                s = t.score(replies[0], item)
                details.append({"id": item.id, "correct": s.correct, "extracted": s.extracted,
                                "expected": s.expected})
            if details:
                out["scores"][name] = round(sum(d["correct"] for d in details) / len(details), 6)
        out["details"][name] = details
        out["n"][name] = len(details)
        out["sources"][name] = {"source": "arena", "run_id": run_id, "kind": t.kind, "format": t.format,
                                "path": str(t.task.path), "missing": missing.get(name, 0), **t.read_info, **extra,
                                "prompt_hash": _prompt_hash(t, system_prompt),
                                **shot_info(t.task), **_reasoning_info(reasoning)}
    out["updated"] = now()
    return out


def _reasoning_info(reasoning: str) -> dict[str, str]:
    """How the replies' thought blocks were read, when not by default (auto): a score under `strip` or `keep`
    may differ from the same answers' under auto, and the score file says why."""
    return {} if reasoning == "auto" else {"reasoning": reasoning}


def _prompt_hash(t: LoadedTask, system_prompt: str | None) -> str:
    """The hash of what the model is shown for the task's first item: its prompt, and the system prompt when
    there is one (a changed system prompt makes new answers, and the recorded hash says so)."""
    prompt = t.prompt(t.data.items[0]) if t.data.items else ""
    return content_hash([system_prompt, prompt] if system_prompt else prompt)


def items_fingerprint(t: LoadedTask) -> dict[str, Any]:
    """What a task's source records about its items, so a later run can tell whether a stored score measured
    the same ones: their number and a hash of their ids, texts, options and answers (order aside)."""
    rows = sorted(([i.id, i.question, i.answer, [list(c) for c in i.choices], i.accept] for i in t.data.items),
                  key=lambda row: str(row[0]))
    return {"items": len(t.data.items), "items_hash": content_hash(rows)}


def run_scratch(folder: Path) -> Path:
    """Where code samples get their temporary working directories (each removed after its run)."""
    return folder / "sandbox"


def load_tasks(bench: BenchConfig, names: list[str] | None, limit: int | None) -> list[LoadedTask]:
    """Select and read the tasks to run; a missing file names the config, its key and where it was looked for."""
    try:
        chosen = bench.select(names)
    except ValueError as exc:
        raise ConfigError(str(exc), hint="pick names from the config's bench.tasks with --tasks a,b") from None
    for t in chosen:
        if (missing := bench.missing_path_error(t)) is not None:
            raise ConfigError(missing, hint="fix the path in the config, or give an absolute path")
    return [load_task(t, limit) for t in chosen]


def run_bench(cfg: RunConfig, bench: BenchConfig, *, task_names: list[str] | None = None,
              limit: int | None = None, command: list[str] | None = None, show_progress: bool | None = None,
              log: Callable[[str], None] = print, wait: bool = True) -> BenchOutcome:
    """Answer (or reuse cached answers for) every benchmark item with every candidate, score, write files."""
    tasks = load_tasks(bench, task_names, limit)
    for t in tasks:  # before any request: a code task's answers are useless without its sandbox
        if t.kind == "code":
            try:
                resolve_isolation((t.task.code or CodeOptions()).isolation)
            except ConfigError as exc:
                raise ConfigError(f"bench task '{t.task.name}': {exc.args[0]}", hint=exc.hint) from None
    bcfg = bench_run_config(cfg, bench)
    skipped = [c.name for c in cfg.candidates if isinstance(c, AnswersCandidate)]
    if skipped:
        log(f"skipping replayed-answer candidates (they cannot answer benchmark items): {', '.join(skipped)}")
    if not bcfg.candidates:
        raise ConfigError("no candidate can answer benchmark items (replayed answer files hold arena answers only)",
                          hint="add an openai, vllm or demo candidate to the config")
    check_candidates_ready(bcfg)
    questions = build_questions([t for t in tasks if not needs_logprobs(t)])  # the others: log-likelihood
    if questions and (local := [c.name for c in bcfg.candidates if c.backend == "transformers"]):
        log(f"{', '.join(local)} (backend: transformers) score log-likelihood tasks only: generate tasks count as missing")
    ws = Workspace(cfg.workspace)
    loglik = [t for t in tasks if needs_logprobs(t)]
    check_vllm_before_run(bcfg, questions, AnswerStore(ws.answers_dir),  # before any work or run folder
                          also=lambda c: bool(loglik) and not logprobs_all_cached(loglik, logprob_cache(bcfg, c)))
    with workspace_lock(ws.root, wait=wait) as lock:  # one writer per workspace
        run = ws.new_run(cfg.run_name or "bench")
        lock.set_run(run.run_id)
        resolved = redacted_dump(bcfg)  # vLLM env values, URL credentials and known keys never reach run.json
        resolved["bench"] = redact_data(bench.model_dump(mode="json"))
        run.start(resolved, command or [], kind="bench")
        outcome = BenchOutcome(run, tasks, skipped=skipped)
        for t in tasks:
            rej = t.data.rejected
            log(f"task {t.task.name} ({t.kind}, {t.format}): {len(t.data.items)} items"
                + (f", {len(rej)} rejected (first: {rej[0]})" if rej else ""))
            for r in rej[:MAX_REJECTS_RECORDED]:
                run.error(f"rejected: {r}", stage="bench", task=t.task.name)
            if len(rej) > MAX_REJECTS_RECORDED:
                run.error(f"{t.task.name}: {len(rej)} records rejected in all", stage="bench", task=t.task.name)
        log(f"run {run.run_id}: {len(questions)} items x {len(bcfg.candidates)} candidates -> {run.path}")
        with run.finishing(stage="bench"):
            rows = [{"question_id": q.question_id, "category": q.category, "turns": q.turns} for q in questions]
            write_jsonl_atomic(run.path / "questions.jsonl", rows)
            index = _answer(bcfg, questions, ws, run, show_progress, completion_prompts(tasks)) if questions else {}
            scored = run_logprob_tasks(bcfg, [t for t in tasks if needs_logprobs(t)], run, log)
            _score_and_write(outcome, bcfg, ws, index, scored, log)
        return outcome


def _answer(bcfg: RunConfig, questions: list[Question], ws: Workspace, run: RunDir,
            show_progress: bool | None, plain: set[str] | None = None) -> dict[str, dict[str, str]]:
    stage = PromptingStage(bcfg, questions, AnswerStore(ws.answers_dir), run, show_progress, plain)
    try:
        run_async(stage.run_all())
    finally:
        write_json_atomic(run.path / "answers_index.json", stage.index)
        run.stage("answers", {"models": {n: s.as_dict() for n, s in stage.summaries.items()}})
    return stage.index


def _score_and_write(outcome: BenchOutcome, bcfg: RunConfig, ws: Workspace,
                     index: dict[str, dict[str, str]], scored: dict[str, dict[str, Any]],
                     log: Callable[[str], None] = print) -> None:
    run = outcome.run
    store = AnswerStore(ws.answers_dir)
    summary: dict[str, Any] = {}
    problems: dict[str, str] = {}  # task -> why it could not be scored (once, not per candidate)
    for cand in bcfg.candidates:
        generated = [t for t in outcome.tasks if not needs_logprobs(t)]
        system = cand.generation.system_prompt
        result = score_model(cand.name, generated, store.load(cand.name), index.get(cand.name, {}), run.run_id,
                             scratch=run_scratch(run.path),
                             system_prompt=system if system is not None else bcfg.generation.system_prompt,
                             reasoning=cand.reasoning)
        for task, message in result.pop("errors", {}).items():
            problems.setdefault(task, message)
        if cand.backend == "demo":
            for src in result["sources"].values():
                src["demo"] = DEMO_NOTE
        merge_into(result, scored.get(cand.name, {}))
        for t in outcome.tasks:
            if isinstance(result["sources"].get(t.task.name), dict):
                result["sources"][t.task.name].update(items_fingerprint(t))
        add_aggregates(result, {t.task.name: {i.id: i.meta for i in t.data.items} for t in outcome.tasks})
        write_json_atomic(run.path / "bench" / bench_file_name(cand.name), result)  # what this run measured
        combined, kept, refused = _keep_stored(ws, result, outcome.tasks, run)
        for task in kept:
            src = combined["sources"][task]
            log(f"{cand.name}: task {task}: {kept_note(src['updated'], src['kept']['reason'])}")
        for task, why in refused.items():
            outcome.notes[(cand.name, task)] = why
            log(f"{cand.name}: task {task}: this run scored no item; {why}")
        outcome.results[cand.name] = combined
        write_bench(ws.root, combined)
        summary[cand.name] = {t: {"accuracy": result["scores"].get(t), "n": result["n"][t],
                                  "metric": result["sources"][t].get("metric", "accuracy"),
                                  "missing": result["sources"][t]["missing"],
                                  "rejected": result["sources"][t].get("rejected", 0),
                                  **({"kept": str(combined["sources"][t]["updated"])[:10]}
                                     if t in kept else {}),
                                  **({"not_kept": refused[t]} if t in refused else {})}
                              for t in result["n"]}
    for task, message in problems.items():
        run.error(f"bench task '{task}' not scored: {message}", stage="bench", task=task)
    reasons = [f"task {task} not scored: {message.splitlines()[0]}" for task, message in problems.items()]
    run.stage("bench", {"models": summary, "tasks": [t.task.name for t in outcome.tasks], "problems": reasons})


DEMO_NOTE = "placeholder text from the offline demo backend, not a model"


def kept_note(date: Any, reason: str) -> str:
    """The table and log note of a task whose stored score a run kept because it scored no item."""
    return f"kept the score of {str(date or '?')[:10]}: this run scored no item ({reason})"


def _keep_stored(ws: Workspace, result: dict[str, Any], tasks: list[LoadedTask],
                 run: RunDir) -> tuple[dict[str, Any], list[str], dict[str, str]]:
    """The model's result with the stored entries of the tasks this run scored no item of put back
    (arena.bench.results.keep_unscored) when they measured the same items and prompts, those tasks, and the
    note of each stored score not kept (another task's); the reason is the task's own (a missing extra, no
    prompt log-probabilities) or the first error of its items."""
    old = read_result(bench_path(ws.root, result["model"]))
    if old.get("model") not in (None, result["model"]):  # another model's file: write_bench refuses it
        return result, [], {}
    sizes = {t.task.name: len(t.data.items) for t in tasks}
    model = result["model"]
    mine = [e for e in run.info.get("errors", []) if isinstance(e, dict) and e.get("model") == model]
    reasons: dict[str, str] = {}
    for task, src in result.get("sources", {}).items():
        if src.get("unscored"):
            reasons[task] = str(src["unscored"]).splitlines()[0]
            continue
        first = next((str(e.get("message", "")) for e in mine if e.get("task") == task or str(
            e.get("question_id", "")).startswith(question_id(task, ""))), None)
        if first is None:  # e.g. the answer stage gave up on the endpoint before asking this task's items
            first = next((str(e.get("message", "")) for e in mine
                          if not e.get("task") and not e.get("question_id")), None)
        reasons[task] = (f"no answer for any of its {sizes.get(task, '?')} items"
                         + (f"; first error: {_short_line(first)}" if first else ""))
    combined, kept, other = keep_unscored(old, result, reasons, run.run_id)
    olds = old.get("sources") if isinstance(old.get("sources"), dict) else {}
    refused = {t: not_kept_note((olds[t] if isinstance(olds.get(t), dict) else {}).get("updated")
                                or old.get("updated"), why) for t, why in other.items()}
    return combined, kept, refused


def not_kept_note(date: Any, why: str) -> str:
    """The table and log note of a task whose stored score a run that scored no item did not keep."""
    return f"the stored score of {str(date or '?')[:10]} {why}: not kept"


def _short_line(text: str, width: int = 160) -> str:
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= width else line[:width - 3] + "..."


def score_table(outcome: BenchOutcome) -> str:
    """Per model and task: metric, value, standard error, n, missing and unparsed items (no answer extracted,
    counted wrong), date and a note (a task that could not be scored: why); micro/macro averages and
    per-category rows for tasks whose items carry a subject."""
    head = ("model", "task", "metric", "value", "stderr", "n", "missing", "unparsed", "date", "note")
    lines: list[tuple[str, ...]] = []
    order = {t.task.name: i for i, t in enumerate(outcome.tasks)}
    for model, res in outcome.results.items():
        rows = sorted(score_rows(res), key=lambda r: order.get(r["task"], len(order)))
        for r in rows:
            task = f"  {r['task']}: {r['group']}" if r["group"] else r["task"]
            lines.append((model, task, metric_label(r["metric"], r["higher_is_better"]), _num(r["value"]),
                          _num(r["stderr"]), _int(r["n"]), _int(r["missing"]), _int(r["unparsed"]),
                          r["updated"] or "-", "; ".join(filter(None, [
                              _note(r), "" if r["group"] else outcome.notes.get((model, r["task"]), "")]))))
    widths = [max(len(x[i]) for x in [head, *lines]) for i in range(len(head))]
    right = {3, 4, 5, 6, 7}
    fmt = [lambda v, w=w, i=i: v.rjust(w) if i in right else v.ljust(w) for i, w in enumerate(widths)]
    out = [" ".join(f(v) for f, v in zip(fmt, head)).rstrip()]
    out.append("-" * len(out[0]))
    out += [" ".join(f(v) for f, v in zip(fmt, row)).rstrip() for row in lines]
    return "\n".join(out + skipped_lines(outcome))


def _note(row: dict[str, Any]) -> str:
    """The note of a table row: why a task is unscored, a stored score kept, demo placeholders, a limit."""
    if row["group"]:
        return ""
    notes = [f"unscored: {row['unscored']}"] if row.get("unscored") else []
    if row.get("kept"):
        notes.append(kept_note(row["updated"], row["kept"].get("reason", "")))
    if row.get("demo"):
        notes.append("demo: placeholder figures, not a model")
    if row.get("limit"):
        notes.append(f"first {row['limit']} items only")
    return "; ".join(notes)


def skipped_lines(outcome: BenchOutcome) -> list[str]:
    """Below the table: each task with records of its file that were skipped (not scored), the count and the
    first reason; all reasons are in run.json errors, the first 20 in bench/<model>.json."""
    rows = [(t.task.name, t.data.rejected) for t in outcome.tasks if t.data.rejected]
    if not rows:
        return []
    out = ["", "skipped records (bad input, not scored; see run.json errors):"]
    out += [f"  {name}: {len(rej)} skipped; first: {rej[0]}" for name, rej in rows]
    return out


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}" if abs(value) < 1000 else f"{value:.1f}"


def _int(value: Any) -> str:
    return "-" if value is None else str(int(value))


def workspace_override(cfg: RunConfig, out: Path | None) -> RunConfig:
    """Apply --out to the config's workspace."""
    if out is not None:
        cfg.workspace = out
    return cfg
