"""The run: stages wired in order (answers, then judging and rating as they are configured)."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from arena.answers import AnswerStore
from arena.config import RunConfig
from arena.generation import AnswerStage, check_candidates_ready
from arena.questions import Question, load_questions
from arena.records import write_json_atomic
from arena.store import RunDir, Workspace


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
        models = asyncio.run(stage.run_all())
    finally:
        ctx.answers_index = stage.index
        write_json_atomic(ctx.run.path / "answers_index.json", stage.index)
        ctx.run.stage("answers", {"models": {n: s.as_dict() for n, s in stage.summaries.items()}})
    return {"models": models}


def judge_stage(ctx: RunContext) -> dict[str, Any]:
    """Placeholder until the judge layer lands: says so plainly instead of pretending to judge."""
    return {"skipped": "the judge layer is not part of this version yet; answers are ready for it"}


def default_stages(cfg: RunConfig) -> list[Stage]:
    """The stages a config asks for, in order."""
    stages = [Stage("answers", answers_stage)]
    if cfg.judge is not None:
        stages.append(Stage("judge", judge_stage))
    return stages


def run_pipeline(cfg: RunConfig, *, dry_run: bool = False, command: list[str] | None = None,
                 show_progress: bool | None = None, log: Callable[[str], None] = print) -> RunContext:
    """Run every stage; run.json records the outcome even when a stage fails or is interrupted."""
    q = cfg.questions
    questions = load_questions(q.path, q.format, q.references, q.categories, q.limit)
    check_candidates_ready(cfg)
    ws = Workspace(cfg.workspace)
    run = ws.new_run(cfg.run_name)
    resolved = cfg.model_dump(mode="json")
    resolved["dry_run"] = dry_run
    run.start(resolved, command or [])
    ctx = RunContext(cfg, ws, run, questions, dry_run, show_progress, log=log)
    log(f"run {run.run_id}: {len(questions)} questions x {len(cfg.candidates)} candidates -> {run.path}")
    status = "failed"
    try:
        for stage in default_stages(cfg):
            t0 = time.perf_counter()
            summary = stage.fn(ctx)
            summary["seconds"] = round(time.perf_counter() - t0, 3)
            if stage.name != "answers":
                run.stage(stage.name, summary)
        status = "completed"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    except Exception as exc:
        run.error(str(exc), stage="pipeline")
        raise
    finally:
        run.finish(status)
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
