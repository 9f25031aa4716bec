"""Check the bench loaders and scorers on the real GSM8K, ARC-Challenge and MMLU files (not a test).

    python benchmarks/bench_loaders_real.py [DATA_DIR]     # default /work/shared/data/objective

Reports items read and rejected per file, then scores the gold answers themselves: GSM8K's worked
answers must extract to their '#### N' value, and replies built from each choice item's gold letter
("C", "The answer is (C).", "**C**", "C. <option>", "Answer: C", the option text) must score correct.
Everything should be 100%; any failure is listed.

The shared data has no C-Eval, CMMLU, HellaSwag or BBH files, so the real MMLU, ARC and GSM8K files are
rewritten in those layouts (C-Eval `dev/`+`val/` `id,question,A,B,C,D,answer`; CMMLU `,Question,A,B,C,D,Answer`;
HellaSwag `ctx/endings/label`; BBH `input/target`) and must read back identical, at full size. Also: the MMLU
dataset root (dev/ + test/) is read from test with 5-shot examples from dev of the same subject, and a GSM8K
copy with every 100th line broken loads the other lines and names each broken one.
"""
from __future__ import annotations

import csv
import json
import re
import sys
import tempfile
import time
from pathlib import Path

from arena.bench.bbh import score_bbh
from arena.bench.config import BenchTask
from arena.bench.loaders import LETTERS, BenchItem, LoadResult, load_items
from arena.bench.scoring import score_choice, score_exact, score_numeric
from arena.bench.tasks import load_task

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


def _key(items: list[BenchItem]) -> set[tuple]:
    return {(i.meta.get("subject"), i.question, i.answer, tuple(t for _, t in i.choices)) for i in items}


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header, *rows])


def chinese_layouts(root: Path) -> list[tuple[int, int]]:
    """MMLU dev/test rewritten as C-Eval (dev + val) and CMMLU (dev + test) folders: detected, read back identical,
    categories set, few-shot examples from dev of the item's subject."""
    _, mmlu_test = load_items(root / "mmlu" / "test")
    results = []
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        for name, header, layout in (("ceval", ["id", "question", "A", "B", "C", "D", "answer"],
                                      {"dev": "{s}_dev.csv", "val": "{s}_val.csv"}),
                                     ("cmmlu", ["", "Question", "A", "B", "C", "D", "Answer"],
                                      {"dev": "{s}.csv", "test": "{s}.csv"})):
            for split, pattern in layout.items():
                src_split = "dev" if split == "dev" else "test"
                for src in sorted((root / "mmlu" / src_split).glob("*.csv")):
                    subject = src.stem.rsplit("_", 1)[0]
                    with open(src, newline="", encoding="utf-8") as fh:
                        rows = list(csv.reader(fh))[1:]
                    _write_csv(Path(tmp) / name / split / pattern.format(s=subject), header,
                               [[str(n), *r[:5], LETTERS[int(r[5])]] for n, r in enumerate(rows)])
            t0 = time.perf_counter()
            fmt, res = load_items(Path(tmp) / name)
            report_load(f"mmlu/test as {name} (dataset root)", fmt, res, time.perf_counter() - t0)
            same = fmt == name and _key(res.items) == _key(mmlu_test.items)
            print(f"  detected as {fmt}; items identical to the MMLU test files: {same}")
            results.append((int(same), 1))
            cats = sorted({(i.meta["subject"], i.meta["category"]) for i in res.items if i.meta["category"] != "other"})
            print(f"  MMLU subjects that are also {name} subject names get its category: {cats}; the rest 'other'")
            t0 = time.perf_counter()
            task = load_task(BenchTask(name=name, path=Path(tmp) / name, num_fewshot=5))
            prompts = [task.prompt(it) for it in task.data.items]
            secs = time.perf_counter() - t0
            print(f"  5-shot from dev/: {len(prompts)} prompts in {secs:.2f}s; first starts {prompts[0][:30]!r}")
            shots = task.shots
            assert shots is not None
            results.append(check("5 dev examples, all of the item's subject", task.data.items,
                                 lambda it, shots=shots: len(ex := shots.examples(it)) == 5
                                 and all(e.meta["subject"] == it.meta["subject"] for e in ex)))
    return results


def mmlu_root(root: Path) -> list[tuple[int, int]]:
    """The MMLU dataset root (dev/ and test/): read from test; 5-shot examples come from dev of the same subject."""
    t0 = time.perf_counter()
    task = load_task(BenchTask(name="mmlu", path=root / "mmlu", num_fewshot=5))
    report_load("mmlu/ (dataset root)", task.format, task.data, time.perf_counter() - t0)
    print(f"  examples from: {task.task.fewshot_path}")
    shots = task.shots
    assert shots is not None
    return [check("5 dev examples, all of the item's subject", task.data.items,
                  lambda it: len(ex := shots.examples(it)) == 5 and all(
                      e.meta["subject"] == it.meta["subject"] and "_dev" in e.where for e in ex))]


def continuation_and_bbh_layouts(root: Path) -> list[tuple[int, int]]:
    """ARC as HellaSwag (stem as ctx, option texts as endings) and GSM8K as BBH (question as input, number as
    target); and GSM8K with every 100th line broken."""
    arc_items = load_items(root / "arc" / "ARC-Challenge-Test.jsonl")[1].items
    _, gsm = load_items(root / "gsm8k" / "test.jsonl")
    results = []
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        hs = Path(tmp) / "arc_as_hellaswag.jsonl"
        hs.write_text("".join(json.dumps({"ind": it.id, "ctx": it.question, "endings": [t for _, t in it.choices],
                                          "label": LETTERS.index(it.answer)}) + "\n" for it in arc_items))
        t0 = time.perf_counter()
        fmt, res = load_items(hs)
        report_load("arc test as hellaswag", fmt, res, time.perf_counter() - t0)
        changed = sum(1 for a, b in zip(arc_items, res.items) if (a.question, a.choices) != (b.question, b.choices))
        print(f"  items whose text the HellaSwag clean-up changed (brackets, double spaces): {changed}")
        results.append(check("same gold letter and option count as ARC", res.items,
                             lambda it: (it.answer, len(it.choices)) == next(
                                 (a.answer, len(a.choices)) for a in arc_items if a.id == it.id)))
        bbh = Path(tmp) / "gsm8k_as_bbh.jsonl"
        bbh.write_text("".join(json.dumps({"id": it.id, "input": it.question, "target": it.answer}) + "\n"
                               for it in gsm.items))
        t0 = time.perf_counter()
        fmt, res = load_items(bbh)
        report_load("gsm8k test as bbh", fmt, res, time.perf_counter() - t0)
        worked = {it.id: it.meta["worked_answer"].rsplit("####", 1)[0] for it in gsm.items}
        results.append(check("worked answer + 'So the answer is N.' matches the BBH target", res.items,
                             lambda it: score_bbh(worked[it.id] + f"So the answer is {it.answer}.", it.answer).correct))
        lines = (root / "gsm8k" / "test.jsonl").read_text(encoding="utf-8").splitlines()
        broken = Path(tmp) / "gsm8k_broken.jsonl"
        broken.write_text("".join((ln[: len(ln) // 2] if n % 100 == 0 else ln) + "\n"
                                  for n, ln in enumerate(lines, start=1)))
        t0 = time.perf_counter()
        fmt, res = load_items(broken, "gsm8k")
        report_load("gsm8k test, every 100th line cut in half", fmt, res, time.perf_counter() - t0)
        want = [n for n in range(1, len(lines) + 1) if n % 100 == 0]
        named = [int(r.split(":")[1]) for r in res.rejected if "not valid JSON" in r]
        ok = named == want and len(res.items) == len(lines) - len(want)
        print(f"  broken lines named: {named == want} ({len(named)}); other items loaded: {len(res.items)}")
        results.append((int(ok), 1))
    return results


def main() -> int:
    """Run all checks; exit 1 if any check is below 100%."""
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    t0 = time.perf_counter()
    totals = gsm8k(root) + arc(root) + mmlu(root) + mmlu_root(root) + chinese_layouts(root) \
        + continuation_and_bbh_layouts(root)
    bad = [t for t in totals if t[0] != t[1]]
    print(f"\n{len(totals) - len(bad)}/{len(totals)} checks at 100%  ({time.perf_counter() - t0:.1f}s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
