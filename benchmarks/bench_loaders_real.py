"""Check the bench loaders and scorers on the real GSM8K, ARC-Challenge and MMLU files (not a test).

    python benchmarks/bench_loaders_real.py [DATA_DIR]     # default /work/shared/data/objective

Reports items read and rejected per file, then scores the gold answers themselves: GSM8K's worked
answers must extract to their '#### N' value, and replies built from each choice item's gold letter
("C", "The answer is (C).", "**C**", "C. <option>", "Answer: C", the option text) must score correct.
Everything should be 100%; any failure is listed.
"""
from __future__ import annotations

import csv
import re
import sys
import tempfile
import time
from pathlib import Path

from arena.bench.loaders import LETTERS, BenchItem, LoadResult, load_items
from arena.bench.scoring import score_choice, score_exact, score_numeric

DEFAULT = Path("/work/shared/data/objective")
FAILS_SHOWN = 5


def report_load(name: str, fmt: str, res: LoadResult, seconds: float) -> None:
    """One line per file: items read, rejected, seconds; the first rejects."""
    print(f"{name:<34} {fmt:<14} read {len(res.items):>6}  rejected {len(res.rejected):>4}  {seconds:6.2f}s")
    for r in res.rejected[:FAILS_SHOWN]:
        print(f"    rejected: {r}")


def check(label: str, items: list[BenchItem], ok) -> tuple[int, int]:
    """Run `ok(item)` on every item; print the pass rate and the first failures."""
    fails = [it for it in items if not ok(it)]
    n = len(items)
    print(f"  {label:<58} {n - len(fails):>6}/{n:<6} {100 * (n - len(fails)) / max(n, 1):6.2f}%")
    for it in fails[:FAILS_SHOWN]:
        print(f"    FAIL {it.id}: expected {it.answer!r}")
    return n - len(fails), n


def gsm8k(root: Path) -> list[tuple[int, int]]:
    """GSM8K: the worked answers, as written and with the final line rewritten, extract to the gold."""
    t0 = time.perf_counter()
    fmt, res = load_items(root / "gsm8k" / "test.jsonl")
    report_load("gsm8k/test.jsonl", fmt, res, time.perf_counter() - t0)
    body = lambda it: it.meta["worked_answer"].rsplit("####", 1)[0]
    return [
        check("worked answer ('#### N')", res.items,
              lambda it: score_numeric(it.meta["worked_answer"], it.answer).correct),
        check("worked answer, final line as 'Answer: N'", res.items,
              lambda it: score_numeric(body(it) + f"Answer: {it.answer}", it.answer).correct),
        check("worked answer, final line as 'The answer is $N.'", res.items,
              lambda it: score_numeric(body(it) + f"The answer is ${it.answer}.", it.answer).correct),
        check("gold alone as exact match", res.items, lambda it: score_exact(it.answer, [it.answer]).correct),
    ]


def choice_replies(item: BenchItem) -> list[str]:
    """Replies a model might give that all mean the gold option."""
    g = item.answer
    text = dict(item.choices)[g]
    return [g, f"{g}.", f"({g})", f"**{g}**", f"The answer is ({g}).", f"Answer: {g}", f"{g}. {text}",
            f"The correct answer is {g}: {text}"]


def choice_checks(items: list[BenchItem]) -> list[tuple[int, int]]:
    """Every reply form from choice_replies scores correct; the option text alone does where it is unique."""
    labels = lambda it: "".join(lab for lab, _ in it.choices)
    opts = lambda it: [t for _, t in it.choices]
    out = [check("letter replies (8 forms: C, C., (C), **C**, answer is (C), ...)", items,
                 lambda it: all(score_choice(r, it.answer, labels(it), opts(it)).correct for r in choice_replies(it)))]
    norm = lambda t: " ".join(re.sub(r"[^\w\s]", " ", t.lower()).split())
    # The option text alone is only unambiguous when the options differ and the gold one is not itself a
    # bare letter (an MMLU option "B" meaning boron reads as the letter B).
    unique = [it for it in items if len({norm(t) for t in opts(it)}) == len(it.choices)
              and norm(dict(it.choices)[it.answer]).upper() not in LETTERS]
    out.append(check("option text alone (options differ, gold not a bare letter)", unique,
                     lambda it: score_choice(dict(it.choices)[it.answer], it.answer, labels(it), opts(it)).correct))
    wrong = lambda it: next(lab for lab, _ in it.choices if lab != it.answer)
    out.append(check("a wrong letter scores wrong", items,
                     lambda it: not score_choice(f"The answer is ({wrong(it)}).", it.answer, labels(it)).correct))
    return out


def arc(root: Path) -> list[tuple[int, int]]:
    """ARC-Challenge Test and Dev."""
    results = []
    for split in ("Test", "Dev"):
        t0 = time.perf_counter()
        fmt, res = load_items(root / "arc" / f"ARC-Challenge-{split}.jsonl")
        report_load(f"arc/ARC-Challenge-{split}.jsonl", fmt, res, time.perf_counter() - t0)
        relabelled = sum(1 for it in res.items if "labels" in it.meta)
        sizes = sorted({len(it.choices) for it in res.items})
        print(f"  items labelled 1-4 (shown as letters): {relabelled}; option counts: {sizes}")
        results += choice_checks(res.items)
    return results


def mmlu(root: Path) -> list[tuple[int, int]]:
    """MMLU dev and test folders, and the same test files rewritten in the original header-less layout."""
    results = []
    for split in ("dev", "test"):
        t0 = time.perf_counter()
        fmt, res = load_items(root / "mmlu" / split)
        report_load(f"mmlu/{split}/ (57 subjects)", fmt, res, time.perf_counter() - t0)
        results += choice_checks(res.items)
    _, header = load_items(root / "mmlu" / "test")
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        for src in sorted((root / "mmlu" / "test").glob("*.csv")):
            with open(src, newline="", encoding="utf-8") as fh, open(Path(tmp) / src.name, "w", newline="",
                                                                     encoding="utf-8") as out:
                rows = list(csv.reader(fh))[1:]
                csv.writer(out).writerows([*r[:5], LETTERS[int(r[5])] if r[5].strip().isdigit() else r[5]]
                                          for r in rows if len(r) == 6)
        t0 = time.perf_counter()
        fmt, orig = load_items(Path(tmp), "mmlu-original")
        report_load("mmlu/test rewritten header-less", fmt, orig, time.perf_counter() - t0)
    same = {(i.id, i.question, i.answer, tuple(i.choices)) for i in header.items} == \
           {(i.id, i.question, i.answer, tuple(i.choices)) for i in orig.items}
    print(f"  header-less letters read back identical to the header/index files: {same}")
    results.append((int(same), 1))
    return results


def main() -> int:
    """Run all checks; exit 1 if any check is below 100%."""
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    t0 = time.perf_counter()
    totals = gsm8k(root) + arc(root) + mmlu(root)
    bad = [t for t in totals if t[0] != t[1]]
    print(f"\n{len(totals) - len(bad)}/{len(totals)} checks at 100%  ({time.perf_counter() - t0:.1f}s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
