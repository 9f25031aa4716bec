"""What to judge: tasks per mode (single, baseline, pairwise), pair schedules, orders, prompts and cache keys."""
from __future__ import annotations

import hashlib
import itertools
import random
from dataclasses import dataclass
from typing import Any

from arena.config import JudgeConfig
from arena.questions import Question
from arena.records import content_hash
from judges.templates import RenderedPrompt, render, template_hash
from judges.verdicts import CONTROL_DEFUSE_VERSION, KIMI_TAGS_RE, has_control_tokens, hides_markers


def seeded_rng(*parts: object) -> random.Random:
    """A random generator seeded by the given parts (stable across runs and machines)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()
    return random.Random(int(digest[:16], 16))


@dataclass(frozen=True)
class JudgeTask:
    """One judge call: a question turn, one answer (single) or two (pair), and the order shown."""

    question: Question
    turn: int
    model_a: str
    model_b: str | None
    order: str  # "AB": model_a in position A; "BA": model_b in position A
    answers_a: tuple[str, ...]
    answers_b: tuple[str, ...] | None

    @property
    def pair_id(self) -> tuple[str, int, str, str | None]:
        """Identifies the game pair (both orders share it)."""
        return (self.question.qid, self.turn, self.model_a, self.model_b)

    def positions(self) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
        """Answer turns in position order (A, B)."""
        if self.answers_b is None or self.order == "AB":
            return self.answers_a, self.answers_b
        return self.answers_b, self.answers_a

    def position_models(self) -> tuple[str, str | None]:
        """Model names in position order (A, B)."""
        return (self.model_a, self.model_b) if self.order == "AB" else (self.model_b or "", self.model_a)


def schedule_pairs(cfg: JudgeConfig, models: list[str], question: Question) -> list[tuple[str, str]]:
    """Pairs of models to compare on one question: baseline pairs, all pairs or a seeded sample."""
    if cfg.mode == "baseline":
        return [(cfg.baseline or "", m) for m in models if m != cfg.baseline]
    pairs = list(itertools.combinations(models, 2))
    if cfg.pairs != "sampled" or len(models) <= cfg.opponents_per_question + 1:  # adaptive: all are open
        return pairs
    chosen: set[frozenset[str]] = set()
    for m in models:
        # rank opponents by a hash of (seed, question, the unordered pair): adding a model never changes
        # how two other models rank each other, so only pairs with the new model are added
        ranked = sorted((o for o in models if o != m),
                        key=lambda o: seeded_rng(cfg.seed, "schedule", question.qid, *sorted((m, o))).random())
        chosen.update(frozenset((m, o)) for o in ranked[: cfg.opponents_per_question])
    return [p for p in pairs if frozenset(p) in chosen]


def orders_for(cfg: JudgeConfig, question: Question, turn: int, pair: tuple[str, str], reward: bool) -> list[str]:
    """Both orders, or one seeded random order (a reward model scores answers alone: one order)."""
    if reward:
        return ["AB"]
    if cfg.order == "both":
        return ["AB", "BA"]
    first = seeded_rng(cfg.seed, "order", question.qid, turn, *sorted(pair)).choice(list(sorted(pair)))
    return ["AB" if first == pair[0] else "BA"]


def build_tasks(cfg: JudgeConfig, questions: list[Question], answers: dict[str, dict[str, list[str]]],
                models: list[str], reward: bool = False) -> tuple[list[JudgeTask], list[str]]:
    """All judge tasks of a run, and notes on what had to be skipped (missing answers)."""
    tasks: list[JudgeTask] = []
    skipped: list[str] = []
    for q in questions:
        have = [m for m in models if q.qid in answers.get(m, {})]
        missing = [m for m in models if m not in have]
        if missing:
            skipped.append(f"question {q.question_id}: no answer from {', '.join(missing)}")
        if cfg.mode == "single":
            for m in have:
                for t in range(1, len(q.turns) + 1):
                    tasks.append(JudgeTask(q, t, m, None, "AB", tuple(answers[m][q.qid]), None))
            continue
        for a, b in schedule_pairs(cfg, have, q):
            if a not in have or b not in have:
                continue
            for t in range(1, len(q.turns) + 1):
                for order in orders_for(cfg, q, t, (a, b), reward):
                    tasks.append(JudgeTask(q, t, a, b, order, tuple(answers[a][q.qid]), tuple(answers[b][q.qid])))
    return tasks, skipped


def reference_for(cfg: JudgeConfig, task: JudgeTask) -> str | None:
    """The reference answer for this turn, when the category is reference-guided and one exists."""
    q = task.question
    cats = {c.lower() for c in cfg.reference_categories}
    if q.reference and q.category.lower() in cats and len(q.reference) >= task.turn:
        ref = q.reference[task.turn - 1]
        return ref if ref.strip() else None
    return None


def references_for(cfg: JudgeConfig, task: JudgeTask) -> list[str] | None:
    """Every turn's reference up to the judged turn (turn 1 first), when the judged turn is reference-guided.

    As in FastChat's llm_judge, judging turn 2 shows the references for turns 1 and 2."""
    if reference_for(cfg, task) is None:
        return None
    return list((task.question.reference or [])[: task.turn])


def _reference_key(cfg: JudgeConfig, task: JudgeTask) -> str | list[str] | None:
    """The references in the cache key: turn 1 keeps its single string (existing cache entries stay valid)."""
    return reference_for(cfg, task) if task.turn == 1 else references_for(cfg, task)


def template_name(cfg: JudgeConfig, task: JudgeTask) -> str:
    """Which prompt template a task uses (mode, multi-turn, reference-guided, judge.template)."""
    base = "single" if cfg.mode == "single" else "pair"
    if task.turn > 1:
        base += "_multiturn"
    if reference_for(cfg, task):
        return base + "_ref"  # a known-correct reference beats an answer the judge writes itself
    return base + ("_self" if cfg.template == "self-answer" and base.startswith("pair") else "")


def verdict_kind(cfg: JudgeConfig) -> str:
    """The verdict format the judge is asked for."""
    return "score" if cfg.mode == "single" else cfg.verdict


def build_prompt(cfg: JudgeConfig, task: JudgeTask) -> tuple[str, RenderedPrompt]:
    """Render the task's prompt; answers are neutralised by the template layer."""
    name = template_name(cfg, task)
    q, t = task.question, task.turn
    pos_a, pos_b = task.positions()
    values: dict[str, Any] = {"question": q.turns[t - 1]}
    if name.endswith("_ref"):
        if t > 1:
            values["references"] = references_for(cfg, task)
        else:
            values["reference"] = reference_for(cfg, task)
    history = lambda ans: [(q.turns[i], ans[i]) for i in range(t - 1)]  # noqa: E731
    if cfg.mode == "single":
        values["answer"] = pos_a[t - 1]
        if t > 1:
            values["history"] = history(pos_a)
    else:
        assert pos_b is not None
        values["answer_a"], values["answer_b"] = pos_a[t - 1], pos_b[t - 1]
        if t > 1:
            values["history_a"], values["history_b"] = history(pos_a), history(pos_b)
    kind = verdict_kind(cfg)
    return name, render(name, values, verdict_kind=kind if name.startswith("pair") else None)


def judgment_key(judge_identity: dict[str, Any], cfg: JudgeConfig, task: JudgeTask, template: str) -> str:
    """Content key: judge and parameters, template hash, question, reference, turn, and the answer texts in
    the positions shown (which fixes the order: listing the candidates the other way round hits the cache)."""
    pos_a, pos_b = task.positions()
    upto = task.turn
    ref = _reference_key(cfg, task)
    key: dict[str, Any] = {
        "judge": judge_identity,
        "template": template_hash(template, verdict_kind(cfg) if template.startswith("pair") else None),
        "question": task.question.content_hash(),
        "reference": ref,
        "turn": task.turn,
        "a": content_hash(list(pos_a[:upto])),
        "b": content_hash(list(pos_b[:upto])) if pos_b is not None else None,
    }
    # texts holding chat control tokens have been shown to judges defused since 2026-12-05: judged again, once;
    # every other key is unchanged, so the rest of the cache stays valid
    refs = [ref] if isinstance(ref, str) else list(ref or [])
    texts = [*task.question.turns[:upto], *refs, *pos_a[:upto], *(pos_b[:upto] if pos_b is not None else ())]
    if any(has_control_tokens(t) for t in texts if isinstance(t, str)):
        key["control_tokens"] = f"defused-{CONTROL_DEFUSE_VERSION}"
    if any(hides_markers(t) for t in texts if isinstance(t, str)):  # likewise, since the same day's evening
        key["hidden_markers"] = "defused"
    if any(KIMI_TAGS_RE.search(t) for t in texts if isinstance(t, str)):  # Kimi's thought tags, defused since then
        key["thought_tags"] = "defused"
    return content_hash(key)
