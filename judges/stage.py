"""The judge stage: tasks -> cached or new judgments -> battles / scores / judge statistics in the run folder."""
from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from tqdm import tqdm

from arena.backends.retry import ON_MAYBE_BILLED, CircuitBreaker
from arena.config import JudgeConfig
from arena.errors import BackendError
from arena.questions import Question
from arena.records import JsonlAppender, write_json_atomic, write_jsonl_atomic
from arena.redaction import mask_secrets
from arena.store import RunDir
from judges.base import Judge, JudgeCall
from judges.battles import judge_stats, make_battles, model_winner, single_scores
from judges.budget import LEDGER_NAME, Budget, SpendLedger
from judges.cache import JudgmentStore
from judges.cost import TokenEstimator, cost_usd, prompt_token_bound, request_worst_cases
from judges.factory import judge_identity, make_judge
from judges.tasks import JudgeTask, build_prompt, build_tasks, judgment_key, verdict_kind
from judges.templates import RenderedPrompt, render, template_hash

Prepared = tuple[JudgeTask, str, RenderedPrompt, str]  # task, template name, prompt, key


@dataclass
class _Held:
    """One judgment's share of the budget: what is reserved for it, the worst case of one more attempt, and the
    attempts cut off in flight (a timeout, a stall, a dropped reply) with what they are charged. The provider
    may bill such an attempt, so it is charged at its worst case, and a retry needs room for another attempt's
    worst case in the budget; without it the judgment fails now (asked again next run) and the budget holds."""

    budget: Budget
    label: str
    reserved: float
    per_attempt: float
    cut: int = 0
    charged: float = 0.0

    def cut_off(self, exc: BaseException) -> None:
        self.cut += 1
        self.charged += self.per_attempt

    def before_retry(self, exc: BaseException) -> None:
        if not self.budget.extend(self.per_attempt):
            raise BackendError(f"judge {self.label}: a reply was cut off in flight ({type(exc).__name__}) and may "
                               f"still be billed (charged at its worst case, ${self.per_attempt:.4f}); not retried: "
                               "the judge budget has no room for another attempt",
                               hint="raise judge.max_cost_usd / max_total_cost_usd, or timeout_s if replies are slow")
        self.reserved += self.per_attempt


class JudgeStage:
    """Judges every task of a run that the cache does not already hold, within the budget."""

    def __init__(self, cfg: JudgeConfig, questions: list[Question], answers: dict[str, dict[str, list[str]]],
                 models: list[str], judgments_root: Path, run: RunDir, *, dry_run: bool = False,
                 show_progress: bool | None = None, log: Callable[[str], None] = print,
                 out_dir: Path | None = None, cut_turns: dict[str, dict[str, list[bool]]] | None = None,
                 panel_member: bool = False) -> None:
        self.cfg, self.run, self.dry_run, self.log = cfg, run, dry_run, log
        self.cut_turns = cut_turns or {}  # model -> question id -> per turn: was the answer cut at max_tokens?
        self.out_dir = Path(out_dir) if out_dir is not None else run.path
        self.show_progress = show_progress
        self.judge: Judge = make_judge(cfg, dry_run)
        self.kind = "reward" if cfg.kind == "reward-model" and not dry_run else verdict_kind(cfg)
        self.tasks, self.skipped = build_tasks(cfg, questions, answers, models,
                                               reward=cfg.kind == "reward-model")
        self.real_store = JudgmentStore(judgments_root, cfg.label, cfg.mode)
        self.store = JudgmentStore(judgments_root, "dry-run", cfg.mode) if self.judge.dry_run else self.real_store
        self.results: dict[str, dict] = {}
        self.paid = not self.judge.dry_run and cfg.kind == "llm"
        ledger = SpendLedger(Path(judgments_root) / cfg.label / LEDGER_NAME) if self.paid else None
        self.budget = (Budget(cfg.max_cost_usd, cfg.max_total_cost_usd, ledger, panel=panel_member) if self.paid
                       else Budget(None, None, None))
        self.breaker = CircuitBreaker(5)

    def _prepare(self, identity: dict[str, Any]) -> list[Prepared]:
        out = []
        for task in self.tasks:
            name, prompt = build_prompt(self.cfg, task)
            out.append((task, name, prompt, judgment_key(identity, self.cfg, task, name)))
        return out

    def estimate(self, real: list[Prepared], real_cache: dict[str, dict]) -> dict[str, Any]:
        """What the real judge run would need: calls not in the real cache, tokens, cost."""
        est = TokenEstimator.from_history(list(real_cache.values()), self.cfg.expected_output_tokens,
                                          self.cfg.max_tokens)
        distinct = list({p[3]: p for p in real}.values())  # one call per distinct prompt, as the run asks
        todo = [p for p in distinct if real_cache.get(p[3], {}).get("status") != "ok"]
        if self.cfg.kind == "reward-model" and self.cfg.reward is not None:  # scores, not tokens: nothing billed
            where = ("local reward model" if self.cfg.reward.source == "local" else "reward model endpoint")
            return {"calls": len(todo), "cached": len(distinct) - len(todo), "prompt_chars": 0, "prompt_tokens": 0,
                    "completion_tokens": 0, "cost_usd": 0.0, "priced": True, "no_api_cost": True,
                    "method": f"{where}: no per-token API cost"}
        cap = self.cfg.adaptive.max_calls if self.cfg.pairs == "adaptive" else None
        counted = todo
        if cap is not None and len(todo) > cap:  # the run stops at max_calls: its dearest prompts bound the cost
            counted = sorted(todo, key=lambda p: len(p[2].system) + len(p[2].user), reverse=True)[:cap]
        chars = sum(len(p[2].system) + len(p[2].user) for p in counted)
        prompt_tokens = sum(est.prompt_tokens(len(p[2].system) + len(p[2].user)) for p in counted)
        out_tokens = round(est.output_tokens * len(counted))
        out = {"calls": len(counted), "cached": len(distinct) - len(todo), "prompt_chars": chars,
               "prompt_tokens": prompt_tokens, "completion_tokens": out_tokens,
               "cost_usd": round(cost_usd(self.cfg.price, prompt_tokens, out_tokens), 4),
               "priced": bool(self.cfg.price.input_per_mtok or self.cfg.price.output_per_mtok),
               "method": est.describe()}
        if counted is not todo:
            out.update(open_calls=len(todo), max_calls=cap)
        return out

    def _record(self, p: Prepared, call: JudgeCall) -> dict[str, Any]:
        task, name, prompt, key = p
        pos_a, pos_b = task.positions()
        from arena.records import content_hash

        cost = 0.0 if self.judge.dry_run else cost_usd(self.cfg.price, call.prompt_tokens, call.completion_tokens)
        prob_a = None
        if call.prob_a is not None:
            prob_a = call.prob_a if task.order == "AB" else 1.0 - call.prob_a
        return {"key": key, "judge": self.cfg.label,
                "judge_model": self.cfg.model if self.cfg.kind == "llm" else self.cfg.label, "mode": self.cfg.mode,
                "verdict_kind": self.kind, "template": name,
                "template_hash": template_hash(name, verdict_kind(self.cfg) if name.startswith("pair") else None),
                "question_id": task.question.question_id, "category": task.question.category, "turn": task.turn,
                "model_a": task.model_a, "model_b": task.model_b,
                "answer_a_hash": content_hash(list(pos_a[: task.turn])),
                "answer_b_hash": content_hash(list(pos_b[: task.turn])) if pos_b else None,
                "order": task.order, "status": call.status, "label": call.label,
                "position_winner": call.winner, "winner": model_winner(call.winner, task.order),
                "strength": call.strength, "score": call.score, "prob_a": prob_a, "raw": mask_secrets(call.raw),
                "followup_raw": mask_secrets(call.followup_raw), "error": call.error,
                "prompt_chars": len(prompt.system) + len(prompt.user) if call.input_chars is None else call.input_chars,
                "prompt_tokens": call.prompt_tokens,
                "completion_tokens": call.completion_tokens, "cost_usd": round(cost, 6),
                "latency_s": round(call.latency_s, 4), "usage_estimated": call.usage_estimated,
                "judge_truncated": call.truncated,
                "dry_run": self.judge.dry_run, "run_id": self.run.run_id,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

    def _worst_cases(self, p: Prepared) -> tuple[float, float]:
        """True upper bounds on the cost of one judgment's request and of its follow-up: the prompt's byte bound
        and `max_tokens` each."""
        if not self.paid:
            return 0.0, 0.0
        messages = [m["content"] for m in p[2].messages()]
        return request_worst_cases(self.cfg.price, messages, self._followup_text(), self.cfg.max_tokens)

    def _followup_text(self) -> str:
        return render("followup", {}, verdict_kind=self.kind).user

    def _bound_usage(self, p: Prepared, call: JudgeCall) -> None:
        """The endpoint reported no usage: count upper bounds (prompt bytes, reply bytes capped at max_tokens)."""
        messages = [m["content"] for m in p[2].messages()]
        replies = [call.raw] + ([call.followup_raw] if call.followup_raw is not None else [])
        call.prompt_tokens = prompt_token_bound(messages)
        if call.followup_raw is not None:
            call.prompt_tokens += prompt_token_bound(messages + [call.raw, self._followup_text()])
        call.completion_tokens = sum(min(len(r.encode("utf-8")), self.cfg.max_tokens) for r in replies)
        call.usage_estimated = True

    async def _one(self, p: Prepared, sem: asyncio.Semaphore, app: JsonlAppender, bar: tqdm) -> None:
        async with sem:
            if self.breaker.open:
                return
            first, second = self._worst_cases(p)
            held = _Held(self.budget, self.cfg.label, reserved=first + second, per_attempt=second)
            if not await self.budget.reserve(held.reserved):
                return
            if self.breaker.open:  # the endpoint was given up on while this judgment waited for the budget
                await self.budget.settle(held.reserved, 0.0)
                return
            cost = 0.0
            entry: dict[str, Any] = {"run_id": self.run.run_id, "key": p[3]}
            hook = ON_MAYBE_BILLED.set(held if self.paid else None)
            try:
                call = await self.judge.judge(p[0], p[2], self.kind)
                if self.paid and call.status != "error" and not (call.prompt_tokens or call.completion_tokens):
                    self._bound_usage(p, call)
                rec = self._record(p, call)
                if held.cut:  # attempts cut off in flight, charged at their worst case
                    rec.update(cost_usd=round(rec["cost_usd"] + held.charged, 6), cut_off_attempts=held.cut)
                    entry.update(cut_off_attempts=held.cut, estimate="worst case of the attempts cut off")
                cost = rec["cost_usd"]
            except (asyncio.CancelledError, KeyboardInterrupt):
                # cut off in flight (Ctrl-C, SIGTERM, or the run failing elsewhere): the provider may still bill
                # the request it got, so its reserved worst case is charged (the budget stays a cap); the
                # judgment itself is asked again next run
                cost, entry = held.reserved, {**entry, "cut_off": True, "estimate": "worst case"}
                raise
            finally:
                ON_MAYBE_BILLED.reset(hook)
                await self.budget.settle(held.reserved, cost, entry)
        self.breaker.record(not call.endpoint_down, call.error)
        app.append(rec)
        self.results[p[3]] = rec
        bar.update(1)

    async def run_async(self) -> dict[str, Any]:
        """Judge what is missing, then write judgments, battles or scores, and judge statistics."""
        real_prepared = self._prepare(judge_identity(self.cfg))
        real_cache = self.real_store.load()
        prepared = self._prepare(self.judge.identity()) if self.judge.dry_run else real_prepared
        cache = self.store.load() if self.judge.dry_run else real_cache
        todo = list({p[3]: p for p in prepared if cache.get(p[3], {}).get("status") != "ok"}.values())
        estimate = self.estimate(real_prepared, real_cache) if self.judge.dry_run else None
        sem = asyncio.Semaphore(self.judge.concurrency)
        bar = tqdm(total=len(todo), desc=f"judge {self.judge.name}", unit="call", leave=True, dynamic_ncols=True,
                   disable=None if self.show_progress is None else not self.show_progress)
        schedule: dict[str, Any] = {"pairs": self.cfg.pairs, "calls": len(todo), "saved_calls": 0}
        try:
            if self.cfg.pairs == "adaptive":  # even with nothing open: the schedule records why it stops
                with self.store.appender() as app:
                    schedule = await self._adaptive(prepared, cache, todo, lambda p: self._one(p, sem, app, bar))
            elif todo:
                with self.store.appender() as app:
                    await asyncio.gather(*(self._one(p, sem, app, bar) for p in todo))
        finally:
            bar.close()
            await self.judge.aclose()
        summary = self._write_outputs(prepared, cache, schedule["calls"], estimate, schedule)
        note = getattr(self.judge, "template_note", "")  # a reward server whose chat template could not be read
        if note:
            self.log(f"judge {self.cfg.label}: {note}")
            summary["template_note"] = note
        return summary

    async def _adaptive(self, prepared: list[Prepared], cache: dict[str, dict], todo: list[Prepared],
                        one: Callable[[Prepared], Any]) -> dict[str, Any]:
        """Judge the open cells least certain first (judges.adaptive) until the ranking separates or the budget."""
        import pandas as pd

        from arena.rating.io import validate_battles
        from judges.adaptive import AdaptiveSchedule, cell_of, run_schedule

        every: dict[Any, list[Prepared]] = {}
        for p in prepared:
            every.setdefault(cell_of(p[0].question.qid, p[0].model_a, p[0].model_b or ""), []).append(p)
        pending = {p[3] for p in todo}
        by_cell = {c: [p for p in ps if p[3] in pending] for c, ps in every.items()}
        by_cell = {c: ps for c, ps in by_cell.items() if ps}
        one_first = self.cfg.adaptive.orders == "one-first"
        # one-first: a cell with a cached judgment is answered (one battle already); its other order is a second
        answered = {c for c, ps in every.items() if any(p[3] not in pending for p in ps)} if one_first else set()
        known: dict[tuple[str, str], int] = {}
        for c in (answered if one_first else set(every) - set(by_cell)):
            known[c[1:]] = known.get(c[1:], 0) + 1
        by_unit: dict[Any, list[Prepared]] = {}  # one-first: a half is a cell and the model shown first
        for c, ps in by_cell.items():
            for p in ps:
                by_unit.setdefault(c + (p[0].position_models()[0],) if one_first else c, []).append(p)
        # a unit's calls are its distinct judgments (identical answers make both orders one prompt, one key)
        cost = {u: len({p[3] for p in ps}) for u, ps in by_unit.items()}
        models = sorted({m for c in every for m in c[1:]})
        sched = AdaptiveSchedule(models, cost, known, self.cfg.adaptive, answered=answered)
        rows: dict[Any, list[dict]] = {}

        def refresh(cells: Any) -> None:  # the battles of these cells, from their judgments so far
            for c in cells:
                pairs = [(p[0], rec) for p in every[c] if (rec := self.results.get(p[3]) or cache.get(p[3]))]
                rows[c] = [{k: b.get(k) for k in ("model_a", "model_b", "winner", "weight", "prob_a")}
                           for b in self._make_battles(pairs, self._planned([p[0] for p in every[c]]))[0]]

        async def ask(units: list[Any]) -> int:
            batch = list({p[3]: p for u in units for p in by_unit[u] if p[3] not in self.results}.values())
            await asyncio.gather(*(one(p) for p in batch))
            refresh({u[:3] for u in units})
            return len(batch)

        def battles() -> pd.DataFrame | None:
            flat = [b for bs in rows.values() for b in bs]
            return validate_battles(pd.DataFrame(flat)) if flat else None

        def halted() -> str | None:
            if self.breaker.open:
                return f"the judge endpoint was given up on ({self.breaker.reason})"
            return f"the money budget {self.budget.stop.limit_name} stopped the judge" if self.budget.stop else None

        refresh(every)
        return await run_schedule(sched, ask, battles, halted)

    def _planned(self, tasks: list[JudgeTask]) -> dict[Any, int] | None:
        """Games planned per pair (a pair missing one is incomplete), or None when one game per cell is the plan
        (adaptive one-first judges one order first on purpose)."""
        if self.cfg.pairs == "adaptive" and self.cfg.adaptive.orders == "one-first":
            return None
        return dict(Counter(t.pair_id for t in tasks))

    def _make_battles(self, pairs: list[tuple[JudgeTask, dict]],
                      planned: dict[Any, int] | None = None) -> tuple[list[dict], dict[str, int]]:
        """Battles of judged tasks with this judge's settings (inconsistent orders, strong weight, tie band)."""
        tie_band = self.cfg.reward.tie_band if self.cfg.reward else 0.0
        return make_battles(pairs, judge=self.cfg.label, mode=self.cfg.mode, inconsistent=self.cfg.inconsistent,
                            planned=planned,
                            strong_weight=self.cfg.strong_weight, tie_band=tie_band)

    def _record_problems(self, stats: dict[str, Any], not_done: int) -> None:
        """Failed and unparsed judgments, a dead endpoint or a budget stop go into run.json's errors."""
        who = f"judge {self.cfg.label}"
        if self.breaker.open:
            self.run.error(f"{who}: gave up on {self.judge.endpoint} after {self.breaker.threshold} failures in a "
                           f"row; {not_done} judgments left for the next run. Last error: {self.breaker.reason}",
                           stage="judge")
        elif stats["errors"]:
            self.run.error(f"{who}: {stats['errors']} judgments failed (see judgments.jsonl 'error'); they are "
                           "retried on the next run", stage="judge")
        if stats["unparsed"]:
            self.run.error(f"{who}: {stats['unparsed']} replies had no verdict even after a follow-up; kept as "
                           "'unparsed' (never counted), retried on the next run", stage="judge")
        for message in self.budget.messages(who, not_done):
            self.run.error(message, stage="judge")

    def _answer_cut(self, task: JudgeTask) -> bool:
        """Whether an answer turn the judge saw (the judged turn or an earlier one) was cut at max_tokens."""
        models = [task.model_a] + ([task.model_b] if task.model_b is not None else [])
        return any(any(self.cut_turns.get(m, {}).get(task.question.qid, [])[: task.turn]) for m in models)

    def _write_outputs(self, prepared: list[Prepared], cache: dict[str, dict], n_todo: int,
                       estimate: dict[str, Any] | None, schedule: dict[str, Any]) -> dict[str, Any]:
        pairs: list[tuple[JudgeTask, dict]] = []
        run_rows = []
        for task, _, _, key in prepared:
            # a failed or unparsed judgment of an earlier run that this run did not ask again is open work, not
            # this run's failure (adaptive leaves cells it does not need; a budget stop leaves the rest)
            rec = self.results.get(key) or (cache.get(key) if cache.get(key, {}).get("status") == "ok" else None)
            if rec is None:
                continue
            rec = {**rec, "question_id": task.question.question_id, "turn": task.turn, "model_a": task.model_a,
                   "model_b": task.model_b, "order": task.order,
                   "winner": model_winner(rec.get("position_winner"), task.order),
                   "answer_truncated": self._answer_cut(task)}
            pairs.append((task, rec))
            run_rows.append(rec)
        path = self.out_dir
        path.mkdir(parents=True, exist_ok=True)
        write_jsonl_atomic(path / "judgments.jsonl", run_rows)
        new = len(self.results)
        stats = judge_stats(pairs, new_calls=new, dry_run=self.judge.dry_run)
        write_json_atomic(path / "judge_stats.json", {self.cfg.label: stats})
        summary: dict[str, Any] = {"judge": self.cfg.label, "mode": self.cfg.mode, "dry_run": self.judge.dry_run,
                                   "tasks": len(prepared), "new_calls": new, "not_done": n_todo - new,
                                   "budget_stopped": self.budget.stop is not None, "skipped": self.skipped[:20],
                                   **stats, "spent_now_usd": round(self.budget.spent, 6),
                                   "schedule": {**schedule, "calls": new}}
        if self.paid:
            summary["budget"] = self.budget.report()
        self._record_problems(stats, n_todo - new)
        if self.cfg.mode == "single":
            rows, table = single_scores(pairs, self.cfg.label)
            write_jsonl_atomic(path / "scores.jsonl", rows)
            write_json_atomic(path / "single_scores.json", table)
            summary["scores"] = len(rows)
        else:
            battles, counts = self._make_battles(pairs, self._planned([p[0] for p in prepared]))
            write_jsonl_atomic(path / "battles.jsonl", battles)
            summary["battles"] = len(battles)
            summary["pair_outcomes"] = counts
        if estimate is not None:
            summary["estimate"] = estimate
        return summary
