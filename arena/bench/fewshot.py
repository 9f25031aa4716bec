"""Few-shot examples (seeded, per item), chain-of-thought answers and plain-completion prompts for bench tasks.

Examples come from `fewshot_path` (a dev split read in the task's format) or from the task's own file with the
item itself left out. Each item draws its own examples from `random.Random("<seed>:<item id>")`, so the draw does
not depend on item order, `--limit` or the Python hash seed; for MMLU-style items with a subject, examples of the
same subject are preferred when there are enough of them. The chosen examples are shown in file order.

C-Eval / CMMLU tasks whose path is a dataset root or a split folder take their examples from the `dev` split
beside it (`arena.bench.loaders_csv.dev_split`). `fewshot_prompt` is a fixed text of worked examples put before
every item (BBH's `cot-prompts/<task>.txt`). Prompts are in Chinese for `language: zh` (auto: C-Eval / CMMLU),
and a reply's Chinese answer line ('答案：B') is read like 'Answer: B'."""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from arena.bench.bbh import read_prompt, render_bbh
from arena.bench.config import BenchTask
from arena.bench.loaders import ZH_FORMATS, BenchItem, load_items
from arena.bench.loaders_csv import CSV_FORMATS, dev_split
from arena.bench.prompts import SHOT_KINDS, render, render_shots
from arena.errors import ConfigError, DataError

# The fixed answer line a CoT reply ends with ('Answer: 42', '**Final answer:** B', '> answer = 7').
_ANSWER_LINE = re.compile(r"^[ \t>*_#-]*(?:the\s+)?(?:final\s+)?answer[*_]*\s*(?:is\s*:?|[:=])[*_\s]*(.*?)[*_\s.]*$",
                          re.IGNORECASE | re.MULTILINE)
_ANSWER_IS = re.compile(r"(?:the\s+)?(?:final\s+)?answer\s+is\s*:?\s*(.+?)\s*\.?\s*$", re.IGNORECASE | re.MULTILINE)
# A completion model going on to invent the next example ('Question:', '题目：', BBH's 'Q:').
_NEXT_EXAMPLE = re.compile(r"\n\s*(?:Question:|题目：|Q:)")
# A Chinese answer line: '答案：B', '正确答案是 C', '最终答案为 42'; the answer ends at Chinese punctuation.
_ZH_MARK = re.compile(r"(?:最终|正确)?答案\s*(?:应该|应当|应)?\s*(?:是|为|选|：|:)\s*(?:选项)?\s*")
_ZH_END = re.compile(r"[，。；！？\n]")
_ZH_PUNCT = str.maketrans({"。": ".", "，": ",", "：": ":", "（": "(", "）": ")", "．": ".", "；": ";"})
_CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


@dataclass
class FewShot:
    """A task's example pool and how many examples each item gets (indexes built once: a draw costs O(k))."""

    k: int
    pool: list[BenchItem] = field(default_factory=list)
    seed: int = 1234
    own_file: bool = True  # the pool is the task's own file: an item never sees itself
    prefix: str | None = None  # fixed worked examples before every item (fewshot_prompt)

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
        if not self.k:
            return []
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
    return task.num_fewshot > 0 or task.cot or task.prompting == "completion" or task.fewshot_prompt is not None


def language(task: BenchTask, item: BenchItem) -> str:
    """The prompt language: the task's `language`, else the item's (C-Eval / CMMLU items say zh), else en."""
    if task.language != "auto":
        return task.language
    return "zh" if item.meta.get("language") == "zh" else "en"


def check_options(task: BenchTask, kind: str) -> None:
    """Few-shot, CoT and completion prompting apply to generated numeric, choice and exact tasks only."""
    if not uses_shots(task):
        return
    keys = [k for k, on in (("num_fewshot", task.num_fewshot > 0), ("cot", task.cot),
                            ("prompting: completion", task.prompting == "completion"),
                            ("fewshot_prompt", task.fewshot_prompt is not None)) if on]
    if kind not in SHOT_KINDS:
        raise ConfigError(f"bench task '{task.name}': {', '.join(keys)} apply to kinds {', '.join(SHOT_KINDS)}, "
                          f"not '{kind}'", hint="remove them from this task")
    if task.method == "loglikelihood":
        raise ConfigError(f"bench task '{task.name}': {', '.join(keys)} apply to method: generate",
                          hint="use method: generate with them, or drop them for log-likelihood scoring")


def default_dev(task: BenchTask, fmt: str) -> Path | None:
    """Where examples come from when `fewshot_path` is not set: the dev split beside a C-Eval / CMMLU path, or
    beside any CSV dataset root (a folder holding dev/ and test/); None: the task's own file."""
    if fmt not in CSV_FORMATS:
        return None
    dev = dev_split(task.path)
    root = task.path.is_dir() and not any(task.path.glob("*.csv"))
    return dev if dev is not None and (fmt in ZH_FORMATS or root) else None


def load_fewshot(task: BenchTask, fmt: str, items: list[BenchItem], limited: bool) -> FewShot | None:
    """The task's example pool and fixed example text (None without num_fewshot and fewshot_prompt); too small a
    pool is one clear error."""
    prefix = read_prompt(task.fewshot_prompt, task.name) if task.fewshot_prompt is not None else None
    if task.num_fewshot == 0:
        return FewShot(0, [], task.fewshot_seed, prefix=prefix) if prefix is not None else None
    if task.fewshot_path is None and (dev := default_dev(task, fmt)) is not None:
        task.fewshot_path = dev  # recorded with the scores (shot_info) as where the examples came from
    source = task.fewshot_path
    if source is not None:
        if not source.exists():
            raise ConfigError(f"bench task '{task.name}': fewshot_path not found: {source}",
                              hint="give the dev split's path (relative to the config or absolute)")
        try:
            _, dev = load_items(source, fmt)
        except DataError as exc:
            raise ConfigError(f"bench task '{task.name}': fewshot_path {source}: {exc}",
                              hint=f"the examples file must have the task's format ({fmt})") from None
        shots = FewShot(task.num_fewshot, dev.items, task.fewshot_seed, own_file=False, prefix=prefix)
        need, where = task.num_fewshot, str(source)
        note = f" (read as {fmt}; first rejected: {dev.rejected[0]})" if dev.rejected else ""
    else:
        pool = load_items(task.path, fmt)[1].items if limited else items
        shots = FewShot(task.num_fewshot, pool, task.fewshot_seed, own_file=True, prefix=prefix)
        need, where = task.num_fewshot + 1, f"{task.path} (the task's own file; each item is left out of its own)"
        note = ""
    if len(shots.pool) < need:
        raise ConfigError(f"bench task '{task.name}': num_fewshot {task.num_fewshot} needs {need} usable items "
                          f"in {where}, found {len(shots.pool)}{note}",
                          hint="lower num_fewshot, or point fewshot_path at a larger dev split")
    return shots


def build_prompt(task: BenchTask, kind: str, item: BenchItem, shots: FewShot | None) -> str:
    """The prompt for one item: the zero-shot template, or instruction + examples + item (few-shot/CoT/completion)."""
    lang = language(task, item)
    if not uses_shots(task) or kind not in SHOT_KINDS:
        return render(kind, item, lang)
    examples = shots.examples(item) if shots else []
    prefix = shots.prefix if shots else None
    completion = task.prompting == "completion"
    if item.meta.get("match") == "bbh":
        return render_bbh(item, prefix, examples, task.cot, completion)
    return render_shots(kind, item, examples, task.cot, completion, lang, prefix)


def answer_text(task: BenchTask, reply: str, marked: bool = False) -> str:
    """The part of a reply the extractor reads: up to an invented next example (completion prompting), and for
    CoT the final 'Answer:' line (else the last 'the answer is ...'), or the whole reply when it has neither.
    `marked` keeps an 'Answer: ' mark before the CoT answer, so that the numeric extractor reads it as a stated
    answer ('Answer: 18 apples (9 * 2)' is 18), as it reads the same line without CoT."""
    if task.prompting == "completion":
        reply = _NEXT_EXAMPLE.split(reply, 1)[0]
    if _CJK.search(reply):
        reply = zh_answer(reply)
    if not task.cot:
        return reply
    mark = "Answer: " if marked else ""
    lines = [m for m in _ANSWER_LINE.findall(reply) if m.strip()]
    if lines:
        return mark + lines[-1].strip()
    said = _ANSWER_IS.findall(reply)
    return mark + said[-1].strip() if said else reply



def zh_answer(reply: str) -> str:
    """A reply with Chinese text: the answer after its last '答案：' / '答案是' mark (up to Chinese punctuation),
    else the reply with Chinese punctuation made ASCII ('B。' -> 'B.')."""
    marks = list(_ZH_MARK.finditer(reply))
    if marks:
        span = _ZH_END.split(reply[marks[-1].end():], 1)[0].strip()
        if span:
            return span.translate(_ZH_PUNCT).strip()
    return reply.translate(_ZH_PUNCT)


def shot_info(task: BenchTask) -> dict[str, object]:
    """The prompting settings recorded beside a task's score (only those that differ from zero-shot chat)."""
    if not uses_shots(task):
        return {}
    return {"num_fewshot": task.num_fewshot, "cot": task.cot, "prompting": task.prompting,
            **({"fewshot_seed": task.fewshot_seed, "fewshot_path": str(task.fewshot_path or task.path)}
               if task.num_fewshot else {}),
            **({"fewshot_prompt": str(task.fewshot_prompt)} if task.fewshot_prompt is not None else {})}
