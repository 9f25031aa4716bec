"""Code tasks: the unbiased pass@k estimator, code extraction from replies, and running each sample's tests
in the sandbox (HumanEval: prompt + completion + `test` + `check(entry_point)`; MBPP: code + `test_list`)."""
from __future__ import annotations

import codeop
import io
import re
import tokenize
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path

from arena.bench.genopts import CodeOptions
from arena.bench.genscore import ROUND, TaskScores, mean_stderr
from arena.bench.loaders import BenchItem
from arena.bench.sandbox import RunResult, SandboxLimits, resolve_isolation, run_python
from arena.errors import ConfigError
from arena.redaction import redact

_FENCE = re.compile(r"```[ \t]*([^\n`]*)\n(.*?)(?:```|\Z)", re.DOTALL)
_PY_LANGS = ("", "python", "python3", "py")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): 1 - C(n-c, k) / C(n, k), as a numerically stable product."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n (n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    prob_all_fail = 1.0
    for i in range(n - c + 1, n + 1):
        prob_all_fail *= 1.0 - k / i
    return 1.0 - prob_all_fail


def extract_code(reply: str, entry_point: str | None) -> str:
    """The code in a reply: the fenced block that defines the entry point (else the first block, else the text)."""
    fenced = _FENCE.findall(reply)
    blocks = [body for lang, body in fenced if lang.strip().lower() in _PY_LANGS] or [b for _, b in fenced]
    if not blocks:
        return reply
    if entry_point:
        for block in blocks:
            if re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(entry_point)}\s*\(", block, re.MULTILINE):
                return block
    return blocks[0]


def build_program(item: BenchItem, reply: str) -> str:
    """The program that passes iff the reply solves the item (the item's tests run against its code)."""
    meta = item.meta
    entry = meta.get("entry_point")
    code = extract_code(reply, entry)
    if meta.get("style") == "mbpp":
        setup = meta.get("test_setup_code") or ""
        return "\n".join([setup, code, "", *meta["test_list"], ""])
    if not re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(entry)}\s*\(", code, re.MULTILINE):
        code = item.question + code  # a completion of the prompt's function body
    else:  # a whole function: the prompt's imports always come first (a repeated import is harmless)
        code = _with_prompt_imports(item.question, code)
    return f"{code}\n\n{meta['test']}\n\ncheck({entry})\n"


def _with_prompt_imports(prompt: str, code: str) -> str:
    """`code` preceded by the prompt's top-level import statements (each whole, however many lines it spans);
    `from __future__` imports (of either) stay first, where Python requires them."""
    imports = _import_statements(prompt)
    if not imports:
        return code
    lines = code.splitlines()
    future_spans = [(s, e) for s, e in _import_spans(lines) if _is_future(lines[s])]
    future = ["\n".join(lines[s:e]) for s, e in future_spans]
    head = [st for st in imports if _is_future(st)] + future
    rest = [st for st in imports if not _is_future(st)]
    moved = {k for s, e in future_spans for k in range(s, e)}
    body = [ln for k, ln in enumerate(lines) if k not in moved]
    return "\n".join([*dict.fromkeys(head), *rest, "", *body]) + ("\n" if code.endswith("\n") else "")


def _is_future(statement: str) -> bool:
    return statement.startswith("from __future__ import")


_MAX_STATEMENT_LINES = 200  # an import continued for longer is not one (a prompt is cut off mid-statement)


def _import_statements(source: str) -> list[str]:
    """The top-level import statements of `source`, each as its full text."""
    lines = source.splitlines()
    return ["\n".join(lines[s:e]) for s, e in _import_spans(lines)]


def _import_spans(lines: list[str]) -> list[tuple[int, int]]:
    """Line ranges [start, end) of the top-level import statements: a statement continued inside brackets or
    after a backslash runs to the line that completes it. A line that only looks like one (prose starting
    with 'from ') or never completes is left out: copied, it would be a syntax error in a correct program."""
    spans: list[tuple[int, int]] = []
    quoted = _lines_inside_strings(lines)
    i = 0
    while i < len(lines):
        end = (_statement_end(lines, i) if lines[i].startswith(("import ", "from ")) and i not in quoted
               else None)
        if end is None:
            i += 1
            continue
        spans.append((i, end))
        i = end
    return spans


def _lines_inside_strings(lines: list[str]) -> set[int]:
    """Indices of the lines that begin inside a multi-line string (a docstring's prose that happens to start
    with 'import '); the prompt may end mid-definition, so tokenising stops quietly at its end."""
    inside: set[int] = set()
    tokens = tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline)
    try:
        for tok in tokens:
            if tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
                inside.update(range(tok.start[0], tok.end[0]))  # 1-based rows after the first = 0-based indices
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return inside


def _statement_end(lines: list[str], start: int) -> int | None:
    """The end line (exclusive) of the statement starting at `start`: the first line that completes it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. SyntaxWarning for an odd escape: not ours to report
        for end in range(start + 1, min(len(lines), start + _MAX_STATEMENT_LINES) + 1):
            try:
                if codeop.compile_command("\n".join(lines[start:end]), "<prompt>", "exec") is not None:
                    return end
            except (SyntaxError, ValueError, OverflowError):
                return None
    return None


def limits(opts: CodeOptions) -> SandboxLimits:
    """The sandbox limits a code task asks for."""
    return SandboxLimits(timeout=opts.timeout, memory_mb=opts.memory_mb, max_processes=opts.max_processes)


def score_code_task(pairs: Sequence[tuple[BenchItem, list[str]]], opts: CodeOptions, scratch: Path) -> TaskScores:
    """Run every sample's program in the sandbox; pass@k per item for each configured k, then means over items."""
    isolation = resolve_isolation(opts.isolation)
    lim = limits(opts)
    jobs = [(i, build_program(item, reply)) for i, (item, replies) in enumerate(pairs) for reply in replies]
    with ThreadPoolExecutor(max_workers=opts.workers) as pool:
        results: list[RunResult] = list(pool.map(lambda job: run_python(job[1], scratch, lim, isolation), jobs))
    with suppress(OSError):
        scratch.rmdir()  # each run removed its own directory; the scratch folder goes when empty
    broken = next((r for r in results if r.status == "error"), None)
    if broken is not None:  # the sandbox itself (not the model's code) failed: no score is better than a 0
        raise ConfigError(f"the code sandbox could not be set up here: {broken.output.strip()[:300]}",
                          hint="code.isolation: rlimits runs samples with limits only (weaker: see the README); "
                               "answers are cached, so a re-run costs no generation")
    per_item: list[list[RunResult]] = [[] for _ in pairs]
    for (i, _), res in zip(jobs, results):
        per_item[i].append(res)
    out = TaskScores(primary=opts.primary,
                     info={"isolation": isolation, "n": opts.n, "temperature": opts.sampling_temperature,
                           "timeout_s": opts.timeout, "memory_mb": opts.memory_mb})
    # Items that lost samples (failed requests) are scored with the samples they have: each item's own n in
    # the unbiased estimator. An item with fewer than min(k) samples cannot be scored at all: it is left out
    # of the details (so of `n`) and named in info. Every reported pass@k is a mean over the same scored
    # items: a k that some scored item has fewer samples for is dropped (as OpenAI's human-eval does).
    scored = [(item, runs) for (item, _), runs in zip(pairs, per_item) if len(runs) >= min(opts.k)]
    out.info["short_items"] = sum(len(runs) < opts.n for _, runs in scored)
    out.info["unscored_items"] = [item.id for (item, _), runs in zip(pairs, per_item)
                                  if len(runs) < min(opts.k)]
    ks = [k for k in opts.k if all(len(runs) >= k for _, runs in scored)]
    out.info["dropped_k"] = [k for k in opts.k if k not in ks]
    values: dict[int, list[float]] = {k: [] for k in ks}
    for item, runs in scored:
        n, c = len(runs), sum(r.passed for r in runs)
        for k in ks:
            values[k].append(pass_at_k(n, c, k))
        row = {f"pass@{k}": round(pass_at_k(n, c, k), ROUND) for k in opts.k if k <= n}
        first_fail = next((r for r in runs if not r.passed), None)
        out.details.append({"id": item.id, "correct": c > 0 and c == n, "extracted": f"{c}/{n} passed",
                            "expected": f"{n}/{n} passed", "n": n, "c": c, "metrics": row,
                            "status": [r.status for r in runs],
                            "first_failure": redact(first_fail.output[-600:]) if first_fail else None})
    if scored:
        out.metrics = {f"pass@{k}": round(sum(v) / len(v), ROUND) for k, v in values.items()}
        out.score = out.metrics[out.primary]
        out.stderr = mean_stderr(values[min(opts.k)])
    return out
