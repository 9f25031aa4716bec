"""The run: stages wired in order (answers, then judging and rating as they are configured)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from arena.answers import AnswerStore
from arena.config import RunConfig, redacted_dump
from arena.errors import ArenaError, ConfigError
from arena.generation import AnswerStage, check_candidates_ready, check_vllm_before_run
from arena.interrupts import run_async
from arena.questions import Question, load_questions
from arena.records import read_records, write_json_atomic, write_jsonl_atomic
from arena.store import RunDir, Workspace
from arena.workspace_lock import workspace_lock


@dataclass
class RunContext:
    """What the stages share within one run."""

    cfg: RunConfig
    workspace: Workspace
    run: RunDir
    questions: list[Question]
    dry_run: bool = False
    show_progress: bool | None = None
    answers_index: dict[str, dict[str, str]] = field(default_factory=dict)
    log: Callable[[str], None] = print


@dataclass
class Stage:
    """A pipeline stage: a name and a function of the run context returning its summary."""

    name: str
    fn: Callable[[RunContext], dict[str, Any]]


def answers_stage(ctx: RunContext) -> dict[str, Any]:
    """Generate (or reuse) every candidate's answers and write the run's answer index."""
    stage = AnswerStage(ctx.cfg, ctx.questions, AnswerStore(ctx.workspace.answers_dir), ctx.run,
                        show_progress=ctx.show_progress)
    try:
        models = run_async(stage.run_all())
    finally:
        ctx.answers_index = stage.index
        write_json_atomic(ctx.run.path / "answers_index.json", stage.index)
        ctx.run.stage("answers", {"models": {n: s.as_dict() for n, s in stage.summaries.items()}})
    from arena.perf.serving import write_serving  # serving figures of the answers: runs/<run>/serving.json
    write_serving(ctx.run.path, ctx.workspace.root)
    _reasoning_hints(ctx)
    return {"models": models}


def _reasoning_hints(ctx: RunContext) -> None:
    """Log (and record under stages.answers.reasoning_hints) candidates under `reasoning: auto` whose answers
    look like an R1-style model's with thoughts cut at max_tokens (arena.reasoning.strip_hint)."""
    from arena.reasoning import strip_hint

    modes = {c.name: c.reasoning for c in ctx.cfg.candidates}
    records = _per_answer(ctx, lambda rec: rec)
    hints = {m: h for m, per in records.items() if (h := strip_hint(list(per.values()), modes.get(m)))}
    for model, hint in hints.items():
        ctx.log(f"note: candidate '{model}': {hint}")
    if hints:
        ctx.run.info.setdefault("stages", {}).setdefault("answers", {})["reasoning_hints"] = hints
        ctx.run.save()


def _per_answer(ctx: RunContext, pick: Callable[[dict], Any]) -> dict[str, dict[str, Any]]:
    """`pick(record)` of each model's answer per question, as the answer stage left them for this run."""
    store = AnswerStore(ctx.workspace.answers_dir)
    out: dict[str, dict[str, Any]] = {}
    for model, index in ctx.answers_index.items():
        cached = store.load(model)
        out[model] = {qid: pick(cached[key]) for qid, key in index.items() if key in cached}
    return out


def _answer_texts(ctx: RunContext) -> dict[str, dict[str, list[str]]]:
    """Each model's answer turns per question as judges read them: what the answer stage left for this run, a
    leading thought block taken off as the candidate's `reasoning` says (arena/reasoning.py)."""
    from arena.reasoning import record_view

    modes = {c.name: c.reasoning for c in ctx.cfg.candidates}
    records = _per_answer(ctx, lambda rec: rec)
    return {model: {qid: record_view(rec, modes.get(model)) for qid, rec in per.items()}
            for model, per in records.items()}


def _answer_cuts(ctx: RunContext) -> dict[str, dict[str, list[bool]]]:
    """Per model and question, which answer turns were cut at max_tokens (finish_reason "length")."""
    return _per_answer(ctx, lambda rec: [f == "length" for f in rec.get("finish_reason") or []])


def judge_stage(ctx: RunContext) -> dict[str, Any]:
    """Judge the answers (or, in a dry run, draw seeded verdicts and estimate the real cost)."""
    from judges.stage import JudgeStage

    cfg = ctx.cfg.judge
    assert cfg is not None
    models = [c.name for c in ctx.cfg.candidates]
    answers, cuts = _answer_texts(ctx), _answer_cuts(ctx)
    members = cfg.members()
    if not members:
        stage = JudgeStage(cfg, ctx.questions, answers, models, ctx.workspace.judgments_dir, ctx.run,
                           dry_run=ctx.dry_run, show_progress=ctx.show_progress, log=ctx.log, cut_turns=cuts)
        return run_async(stage.run_async())
    summaries = {}
    left = cfg.max_cost_usd  # the section's max_cost_usd bounds the whole panel's spending in this run
    for member in members:
        if left is not None:  # members judge in turn: each may spend what the earlier ones left
            own = member.max_cost_usd if member.max_cost_usd is not None else left
            member = member.model_copy(update={"max_cost_usd": max(0.0, min(own, left))})
        stage = JudgeStage(member, ctx.questions, answers, models, ctx.workspace.judgments_dir, ctx.run,
                           dry_run=ctx.dry_run, show_progress=ctx.show_progress, log=ctx.log,
                           out_dir=ctx.run.path / "judges" / member.label, cut_turns=cuts,
                           panel_member=left is not None)
        summaries[member.label] = run_async(stage.run_async())
        if left is not None:
            left -= float(summaries[member.label].get("spent_now_usd") or 0.0)
    return write_panel_outputs(ctx.run.path, cfg.label if cfg.name else "panel", cfg.mode, cfg.aggregate,
                               [m.label for m in members], summaries, ctx.dry_run or random_judge(ctx.cfg))


def write_panel_outputs(run_path: Path, panel: str, mode: str, method: str, members: list[str],
                        summaries: dict[str, dict[str, Any]], dry_run: bool) -> dict[str, Any]:
    """Aggregate the panel members' battles or scores into the run's own files."""
    from judges.battles import score_table
    from judges.panel import aggregate_battles, aggregate_scores, panel_summary

    folders = {m: run_path / "judges" / m for m in members}
    stats, judgments = {}, []
    for m, folder in folders.items():
        stats.update(json.loads((folder / "judge_stats.json").read_text()))
        judgments += [r for _, r in read_records(folder / "judgments.jsonl")]
    write_jsonl_atomic(run_path / "judgments.jsonl", judgments)
    write_json_atomic(run_path / "judge_stats.json", stats)
    out = {"judge": panel, "mode": mode, "dry_run": dry_run, "aggregate": method, **panel_summary(summaries)}
    if mode == "single":
        per = {m: [r for _, r in read_records(f / "scores.jsonl")] for m, f in folders.items()}
        rows = aggregate_scores(per, panel, method)
        write_jsonl_atomic(run_path / "scores.jsonl", rows)
        write_json_atomic(run_path / "single_scores.json", score_table(rows, panel))
        out["scores"] = len(rows)
    else:
        per = {m: [r for _, r in read_records(f / "battles.jsonl")] for m, f in folders.items()}
        battles = aggregate_battles(per, panel, method)
        write_jsonl_atomic(run_path / "battles.jsonl", battles)
        out["battles"] = len(battles)
    return out


def rating_stage(ctx: RunContext) -> dict[str, Any]:
    """Fit Bradley-Terry with bootstrap intervals on the run's battles and write the leaderboard."""
    from arena.rating import RatingOptions, parse_anchor, write_leaderboard
    from arena.rating.progress import rounds_bar

    battles = ctx.run.path / "battles.jsonl"
    if not battles.exists() or battles.stat().st_size == 0:
        return {"skipped": "no battles to rate"}
    r = ctx.cfg.rating
    baseline = r.baseline or (ctx.cfg.judge.baseline if ctx.cfg.judge and ctx.cfg.judge.mode == "baseline" else None)
    opts = RatingOptions(bootstrap=r.bootstrap, seed=r.seed, bootstrap_by=r.bootstrap_by,
                         anchor=parse_anchor(r.anchor) if r.anchor else None,
                         baseline=baseline, style_control=r.style_control, percentiles=tuple(r.percentiles))
    with rounds_bar(ctx.show_progress if opts.bootstrap else False, "rating: bootstrap"):
        out = write_leaderboard(battles, ctx.run.path, opts, workspace=ctx.workspace.root,  # + serving, bench columns
                                dry_run=ctx.dry_run or random_judge(ctx.cfg))
    warnings = list(out.get("warnings", []))
    rated = {row.get("model") for row in (out.get("overall") or {}).get("table") or []}
    absent = [c.name for c in ctx.cfg.candidates if c.name not in rated]
    if absent:  # no answers, or every judgment of their pairs failed: say it rather than drop them quietly
        made = (ctx.run.info.get("stages", {}).get("answers") or {}).get("models") or {}
        def why(name: str) -> str:
            m = made.get(name) or {}
            return "no answers" if not (m.get("generated") or m.get("cached")) else "no judgment with a verdict"
        message = (f"{len(absent)} candidate(s) have no battles and are not on the leaderboard: "
                   + ", ".join(f"{name} ({why(name)})" for name in absent)
                   + "; see run.json errors and judgments.jsonl, the next run asks again what failed")
        warnings.append(message)
        ctx.log(f"note: {message}")
    return {"n_battles": out.get("n_battles"), "warnings": warnings, **({"unrated": absent} if absent else {})}


def questions_file(ctx: RunContext) -> None:
    """Write the run's questions (Arena format) so every later reader has them."""
    rows = [{"question_id": q.question_id, "category": q.category, "turns": q.turns,
             **({"reference": q.reference} if q.reference else {})} for q in ctx.questions]
    write_jsonl_atomic(ctx.run.path / "questions.jsonl", rows)


def default_stages(cfg: RunConfig) -> list[Stage]:
    """The stages a config asks for, in order."""
    stages = [Stage("answers", answers_stage)]
    if cfg.judge is not None:
        stages.append(Stage("judge", judge_stage))
        if cfg.judge.mode != "single":
            stages.append(Stage("rating", rating_stage))
    return stages


def random_judge(cfg: RunConfig) -> bool:
    """Whether the config's judge (or any panel member) is `kind: dry-run`: seeded random verdicts, so the run is
    a dry run to the app, History and `arena compare` even without --dry-run."""
    if cfg.judge is None:
        return False
    return any(j.kind == "dry-run" for j in (cfg.judge.members() or [cfg.judge]))


def run_pipeline(cfg: RunConfig, *, dry_run: bool = False, command: list[str] | None = None,
                 show_progress: bool | None = None, log: Callable[[str], None] = print,
                 wait: bool = True) -> RunContext:
    """Run every stage holding the workspace lock; run.json records the outcome even when a stage fails."""
    q = cfg.questions
    if not Path(q.path).exists():
        raise ConfigError(f"questions.path: question file not found: {q.path}",
                          hint="a relative path is looked up in the current directory, then next to the config "
                               "and its parent folder; fix questions.path in the config")
    questions = load_questions(q.path, q.format, q.references, q.categories, q.limit)
    if local := [c.name for c in cfg.candidates if c.backend == "transformers"]:
        raise ConfigError(f"candidate(s) {', '.join(local)}: backend: transformers scores log-likelihood bench tasks "
                          "(arena bench) only and cannot answer arena questions",
                          hint="for arena runs serve the model: backend: vllm, or backend: openai with a base_url")
    check_candidates_ready(cfg, dry_run)
    ws = Workspace(cfg.workspace)
    check_vllm_before_run(cfg, questions, AnswerStore(ws.answers_dir))  # before a run folder exists
    if ws.root.exists() and not ws.root.is_dir():
        raise ArenaError(f"workspace {ws.root} is a file, not a folder", hint="set 'workspace' or --out to a folder")
    with workspace_lock(ws.root, wait=wait) as lock:
        run = ws.new_run(cfg.run_name)
        lock.set_run(run.run_id)
        resolved = redacted_dump(cfg)
        resolved["dry_run"] = dry_run or random_judge(cfg)  # the verdicts are random either way
        run.start(resolved, command or [])
        ctx = RunContext(cfg, ws, run, questions, dry_run, show_progress, log=log)
        log(f"run {run.run_id}: {len(questions)} questions x {len(cfg.candidates)} candidates -> {run.path}")
        questions_file(ctx)
        with run.finishing(stage="pipeline"):
            for stage in default_stages(cfg):
                t0 = time.perf_counter()
                summary = stage.fn(ctx)
                summary["seconds"] = round(time.perf_counter() - t0, 3)
                if stage.name != "answers":
                    run.stage(stage.name, summary)
    return ctx


def summary_table(run_info: dict[str, Any]) -> str:
    """A plain-text table of the answer stage for the terminal."""
    models = run_info.get("stages", {}).get("answers", {}).get("models", {})
    head = f"{'model':<28} {'questions':>9} {'cached':>7} {'new':>5} {'failed':>6} {'tokens out':>10} {'sec':>7}"
    rows = [head, "-" * len(head)]
    for name, s in models.items():
        rows.append(f"{name:<28} {s['questions']:>9} {s['cached']:>7} {s['generated']:>5} {s['failed']:>6} "
                    f"{s['completion_tokens']:>10} {s['seconds']:>7.2f}")
    return "\n".join(rows)


def workspace_path(cfg: RunConfig, out: Path | None) -> RunConfig:
    """Apply the --out override to the config's workspace."""
    if out is not None:
        cfg.workspace = out
    return cfg
