"""Few-shot examples (seeded, per item), chain-of-thought answers and plain-completion prompts for bench tasks.

Examples come from `fewshot_path` (a dev split read in the task's format) or from the task's own file with the
item itself left out. Each item draws its own examples from `random.Random("<seed>:<item id>")`, so the draw does
not depend on item order, `--limit` or the Python hash seed; for MMLU-style items with a subject, examples of the
same subject are preferred when there are enough of them. The chosen examples are shown in file order."""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from arena.bench.config import BenchTask
from arena.bench.loaders import BenchItem, load_items
from arena.bench.prompts import SHOT_KINDS, render, render_shots
from arena.errors import ConfigError, DataError

# The fixed answer line a CoT reply ends with ('Answer: 42', '**Final answer:** B', '> answer = 7').
_ANSWER_LINE = re.compile(r"^[ \t>*_#-]*(?:the\s+)?(?:final\s+)?answer[*_]*\s*(?:is\s*:?|[:=])[*_\s]*(.*?)[*_\s.]*$",
                          re.IGNORECASE | re.MULTILINE)
_ANSWER_IS = re.compile(r"(?:the\s+)?(?:final\s+)?answer\s+is\s*:?\s*(.+?)\s*\.?\s*$", re.IGNORECASE | re.MULTILINE)
_NEXT_EXAMPLE = re.compile(r"\n\s*Question:")  # a completion model going on to invent the next example


@dataclass
class FewShot:
    """A task's example pool and how many examples each item gets (indexes built once: a draw costs O(k))."""

    k: int
    pool: list[BenchItem] = field(default_factory=list)
    seed: int = 1234
    own_file: bool = True  # the pool is the task's own file: an item never sees itself

    def __post_init__(self) -> None:
        self._by_subject: dict[str, list[int]] = {}
        self._by_text: dict[str, list[int]] = {}
        self._by_id: dict[str, int] = {}
        for i, ex in enumerate(self.pool):
            if isinstance(ex.meta.get("subject"), str):
                self._by_subject.setdefault(ex.meta["subject"], []).append(i)
            self._by_text.setdefault(ex.question.strip(), []).append(i)
            self._by_id.setdefault(ex.id, i)

    def _excluded(self, item: BenchItem) -> set[int]:
        """Pool positions an item may not see: itself (own file) and any example with its question text."""
        out = set(self._by_text.get(item.question.strip(), []))
        if self.own_file and item.id in self._by_id:
            out.add(self._by_id[item.id])
        return out

    def examples(self, item: BenchItem) -> list[BenchItem]:
        """The item's k examples, drawn with a seed made of the task seed and the item id; same-subject
        examples when there are at least k of them."""
        excluded = self._excluded(item)
        cands: list[int] | range = range(len(self.pool))
        same = self._by_subject.get(item.meta.get("subject") or "", [])
        if len(same) - len(excluded.intersection(same)) >= self.k:
            cands = same
        rng = random.Random(f"{self.seed}:{item.id}")
        drawn = rng.sample(range(len(cands)), min(len(cands), self.k + len(excluded)))
        picked = [cands[i] for i in drawn if cands[i] not in excluded][: self.k]
        return [self.pool[i] for i in sorted(picked)]  # shown in file order


def uses_shots(task: BenchTask) -> bool:
    """Whether the task's prompt is not the plain zero-shot chat template."""
    return task.num_fewshot > 0 or task.cot or task.prompting == "completion"


def check_options(task: BenchTask, kind: str) -> None:
    """Few-shot, CoT and completion prompting apply to generated numeric, choice and exact tasks only."""
    if not uses_shots(task):
        return
    keys = [k for k, on in (("num_fewshot", task.num_fewshot > 0), ("cot", task.cot),
                            ("prompting: completion", task.prompting == "completion")) if on]
    if kind not in SHOT_KINDS:
        raise ConfigError(f"bench task '{task.name}': {', '.join(keys)} apply to kinds {', '.join(SHOT_KINDS)}, "
                          f"not '{kind}'", hint="remove them from this task")
    if task.method == "loglikelihood":
        raise ConfigError(f"bench task '{task.name}': {', '.join(keys)} apply to method: generate",
                          hint="use method: generate with them, or drop them for log-likelihood scoring")


def load_fewshot(task: BenchTask, fmt: str, items: list[BenchItem], limited: bool) -> FewShot | None:
    """The task's example pool (None without num_fewshot); too small a pool is one clear error."""
    if task.num_fewshot == 0:
        return None
    if task.fewshot_path is not None:
        if not task.fewshot_path.exists():
            raise ConfigError(f"bench task '{task.name}': fewshot_path not found: {task.fewshot_path}",
                              hint="give the dev split's path (relative to the config or absolute)")
        try:
            _, dev = load_items(task.fewshot_path, fmt)
        except DataError as exc:
            raise ConfigError(f"bench task '{task.name}': fewshot_path {task.fewshot_path}: {exc}",
                              hint=f"the examples file must have the task's format ({fmt})") from None
        shots = FewShot(task.num_fewshot, dev.items, task.fewshot_seed, own_file=False)
        need, where = task.num_fewshot, str(task.fewshot_path)
        note = f" (read as {fmt}; first rejected: {dev.rejected[0]})" if dev.rejected else ""
    else:
        pool = load_items(task.path, fmt)[1].items if limited else items
        shots = FewShot(task.num_fewshot, pool, task.fewshot_seed, own_file=True)
        need, where = task.num_fewshot + 1, f"{task.path} (the task's own file; each item is left out of its own)"
        note = ""
    if len(shots.pool) < need:
        raise ConfigError(f"bench task '{task.name}': num_fewshot {task.num_fewshot} needs {need} usable items "
                          f"in {where}, found {len(shots.pool)}{note}",
                          hint="lower num_fewshot, or point fewshot_path at a larger dev split")
    return shots


def build_prompt(task: BenchTask, kind: str, item: BenchItem, shots: FewShot | None) -> str:
    """The prompt for one item: the zero-shot template, or instruction + examples + item (few-shot/CoT/completion)."""
    if not uses_shots(task) or kind not in SHOT_KINDS:
        return render(kind, item)
    examples = shots.examples(item) if shots else []
    return render_shots(kind, item, examples, task.cot, task.prompting == "completion")


def answer_text(task: BenchTask, reply: str) -> str:
    """The part of a reply the extractor reads: up to an invented next example (completion prompting), and for
    CoT the final 'Answer:' line (else the last 'the answer is ...'), or the whole reply when it has neither."""
    if task.prompting == "completion":
        reply = _NEXT_EXAMPLE.split(reply, 1)[0]
    if not task.cot:
        return reply
    lines = [m for m in _ANSWER_LINE.findall(reply) if m.strip()]
    if lines:
        return lines[-1].strip()
    said = _ANSWER_IS.findall(reply)
    return said[-1].strip() if said else reply



def shot_info(task: BenchTask) -> dict[str, object]:
    """The prompting settings recorded beside a task's score (only those that differ from zero-shot chat)."""
    if not uses_shots(task):
        return {}
    return {"num_fewshot": task.num_fewshot, "cot": task.cot, "prompting": task.prompting,
            **({"fewshot_seed": task.fewshot_seed, "fewshot_path": str(task.fewshot_path or task.path)}
               if task.num_fewshot else {})}
