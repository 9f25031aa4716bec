"""Scoring throughput of every `arena bench` metric on the real files in ../shared/data/objective, and the
log-likelihood path against a local server at concurrency 32 beside a bare async client (issue 11).

    python benchmarks/bench_throughput.py [--data ../shared/data/objective] [--semantic 100] [--code 40]
                                          [--loglik-items 600] [--concurrency 32] [--delay 0.005] [--rounds 7]
                                          [--httpx-rounds 1]

One entry point over the narrower scripts: the timing helper, the machine line and the library versions come
from bench_metrics_speed.py, the scripted echo server and both log-likelihood clients from loglik_throughput.py.
What is timed:
- numeric (GSM8K test): each reference solution, its '#### N' line rewritten as 'Answer: N', through the
  numeric scorer; exact match: 'Answer: N' against the gold number.
- multiple choice (ARC-Challenge test, MMLU test folder): 'The answer is (X) <option text>.' through the
  letter extractor, X the gold letter for 3 items in 4 and a wrong one for the rest.
- reference metrics: the GSM8K reference solutions as references, each prediction a seeded copy with ~30% of
  its words dropped or swapped; BLEU/chrF corpus (sacrebleu), BLEU/chrF per item, ROUGE-1/2/L (rouge-score),
  SQuAD token F1 + EM, the whole reference task, and embedding cosine (the packaged MiniLM, if installed).
- pass@k: the shipped HumanEval-style samples (data/bench/code_humaneval.jsonl), canonical solutions as the
  replies, n samples per item, every sample a sandboxed process (the sandbox's isolation as configured: auto).
- log-likelihood: ARC items, one echo request per option, against loglik_throughput.py's raw-asyncio echo
  server in its own process: a bare aiohttp client and Arena's path (CompletionsLogprobs through the bench's
  task scorer) in --rounds back-to-back pairs (order alternating), the bare httpx client in --httpx-rounds;
  median rates, the median of the paired ratios, client CPU per request (the server's never counted); issue
  target: Arena >= 90% of the faster bare async client (aiohttp).
Items/s are wall-clock on a shared machine (the load average is printed before and after); cpu s is this
process's own CPU time (the sandbox children's is not in it), items/cpu-s what an unshared core would give.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "benchmarks", ROOT / "tests"):
    sys.path.insert(0, str(extra))

from bench_metrics_speed import machine, timed
from loglik_throughput import compare, echo_server, report, server_line

from arena.bench.genopts import CodeOptions, ReferenceOptions
from arena.bench.genscore import score_reference_task
from arena.bench.loaders import BenchItem, load_items
from arena.bench.passk import score_code_task
from arena.bench.scoring import score_choice, score_exact, score_numeric
from arena.bench.textmetrics import corpus_scores, exact_match, item_scores, token_f1

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "objective"
ROWS: list[tuple[str, str, int, float, float]] = []  # metric, data, items, wall s, cpu s


def row(label: str, data: str, n: int, fn) -> None:
    """Time fn with bench_metrics_speed.timed (which prints the line) and keep the figures for the table."""
    wall, cpu = timed(f"{label} [{data}]", n, fn)
    ROWS.append((label, data, n, wall, cpu))


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def solutions(path: Path) -> list[tuple[str, str]]:
    """GSM8K (reference solution with 'Answer: N' for its '#### N' line, gold number) per line."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        body, _, gold = rec["answer"].rpartition("####")
        out.append((f"{body.strip()}\nAnswer: {gold.strip()}", gold.strip().replace(",", "")))
    return out


def choice_replies(items: list[BenchItem], rng: random.Random) -> list[str]:
    """'The answer is (X) <option>.' replies, right for about 3 items in 4."""
    replies = []
    for it in items:
        labels = [lab for lab, _ in it.choices]
        pick = it.answer if rng.random() < 0.75 else rng.choice(labels)
        text = dict(it.choices).get(pick, "")
        replies.append(f"Let me think about it. The answer is ({pick}) {text}.")
    return replies


def perturbed(text: str, rng: random.Random) -> str:
    """A prediction from a reference: ~15% of words dropped, ~15% swapped with a neighbour."""
    words = [w for w in text.split() if rng.random() > 0.15]
    for i in range(len(words) - 1):
        if rng.random() < 0.15:
            words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def rule_scorers(data: Path) -> None:
    """Numeric, exact and multiple choice on GSM8K, ARC and MMLU."""
    gsm = solutions(data / "gsm8k" / "test.jsonl")
    print(f"\nrule-based scorers (real files under {data})")
    row("numeric (extract + compare)", "GSM8K test", len(gsm), lambda: [score_numeric(r, g) for r, g in gsm])
    row("exact match (normalised)", "GSM8K golds", len(gsm), lambda: [score_exact(f"Answer: {g}", [g]) for _, g in gsm])
    rng = random.Random(0)
    for name, path, fmt in (("ARC-Challenge test", data / "arc" / "ARC-Challenge-Test.jsonl", "arc"),
                            ("MMLU test (57 subjects)", data / "mmlu" / "test", "mmlu")):
        _, loaded = load_items(path, fmt)
        items, replies = loaded.items, choice_replies(loaded.items, rng)
        row("multiple choice (letter extraction)", name, len(items),
            lambda items=items, replies=replies: [
                score_choice(r, it.answer, "".join(lab for lab, _ in it.choices), [t for _, t in it.choices])
                for r, it in zip(replies, items)])


def reference_metrics(data: Path, semantic_n: int) -> None:
    """BLEU, chrF, ROUGE, F1/EM, the whole reference task and embedding cosine on GSM8K solution texts."""
    rng = random.Random(1)
    refs = [[r.rsplit("\nAnswer:", 1)[0]] for r, _ in solutions(data / "gsm8k" / "test.jsonl")]
    preds = [perturbed(r[0], rng) for r in refs]
    n, tag = len(preds), "GSM8K solutions"
    print(f"\nreference metrics ({n:,} prediction/reference pairs from {tag})")
    item_scores(preds[0], refs[0], ["bleu", "chrf", "rouge1"], "13a")  # library imports, not timed
    row("BLEU corpus (sacrebleu)", tag, n, lambda: corpus_scores(preds, refs, ["bleu"], "13a"))
    row("chrF corpus (sacrebleu)", tag, n, lambda: corpus_scores(preds, refs, ["chrf"], "13a"))
    row("BLEU + chrF sentence, per item", tag, n,
        lambda: [item_scores(p, r, ["bleu", "chrf"], "13a") for p, r in zip(preds, refs)])
    row("ROUGE-1/2/L (rouge-score), per item", tag, n,
        lambda: [item_scores(p, r, ["rouge1", "rouge2", "rougeL"], "13a") for p, r in zip(preds, refs)])
    row("token F1 + EM (SQuAD), per item", tag, n,
        lambda: [(token_f1(p, r[0]), exact_match(p, r[0])) for p, r in zip(preds, refs)])
    pairs = [(BenchItem(str(i), "q", r[0]), [p]) for i, (p, r) in enumerate(zip(preds, refs))]
    row("whole reference task (7 default metrics)", tag, n, lambda: score_reference_task(pairs, ReferenceOptions()))
    if not semantic_n:
        return
    try:
        from arena.bench.semantic import embedder, similarities
        embedder(None)  # model load apart
    except Exception as exc:  # noqa: BLE001 - optional extra: report and move on
        print(f"  semantic: skipped ({str(exc).splitlines()[0]})")
        return
    k = min(semantic_n, n)
    row("semantic (MiniLM embedding cosine)", tag, k, lambda: similarities(preds[:k], refs[:k]))


def code_passk(samples: int) -> None:
    """pass@k over the shipped HumanEval-style items, every sample run in the sandbox."""
    path = ROOT / "data" / "bench" / "code_humaneval.jsonl"
    _, loaded = load_items(path, "humaneval")
    items = loaded.items
    per_item = max(1, samples // len(items))
    pairs = [(it, [it.answer] * per_item) for it in items]
    opts = CodeOptions(n=per_item, k=[1], workers=2)
    total = per_item * len(items)
    print(f"\npass@k ({len(items)} items x {per_item} samples, {opts.workers} sandbox workers)")
    with tempfile.TemporaryDirectory(dir=ROOT) as tmp:
        got: list = []
        row(f"pass@1, n={per_item} (sandboxed runs)", "data/bench/code_humaneval", total,
            lambda: got.append(score_code_task(pairs, opts, Path(tmp) / "scratch")))
    res = got[0]
    print(f"  pass@1 = {res.score} (canonical solutions; isolation {res.info.get('isolation')})")


def loglik(data: Path, n_items: int, conc: int, delay: float, rounds: int, httpx_rounds: int) -> list[str]:
    """The three clients' requests/s and client CPU per request on ARC items (loglik_throughput.py's server,
    clients and back-to-back pairs), as the lines of the table."""
    _, loaded = load_items(data / "arc" / "ARC-Challenge-Test.jsonl", "arc")
    items = loaded.items[:n_items]
    requests = sum(len(it.choices) for it in items)
    with echo_server(delay) as url:
        results = compare(url, items, conc, rounds, httpx_rounds)
    return ["", f"log-likelihood, ARC options as echo requests: {server_line(requests, conc, delay)}",
            *report(results, requests)[0]]


def table(ll: list[str] | None) -> str:
    """The figures side by side."""
    head = ("metric", "data", "items", "wall s", "cpu s", "items/s (wall)", "items/cpu-s")
    lines = [(m, d, f"{n:,}", f"{w:.2f}", f"{c:.2f}", f"{n / w:,.0f}", f"{n / c:,.0f}" if c > 0 else "-")
             for m, d, n, w, c in ROWS]
    widths = [max(len(x[i]) for x in [head, *lines]) for i in range(len(head))]
    out = ["  ".join(h.ljust(w) if i < 2 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths)))]
    out += ["  ".join(v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths))) for r in lines]
    return "\n".join(out + (ll or []))


def main(argv: list[str] | None = None) -> int:
    """Measure and print."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the objective data folder")
    ap.add_argument("--semantic", type=int, default=100, help="pairs for embedding cosine (0 to skip)")
    ap.add_argument("--code", type=int, default=40, help="sandboxed samples for pass@k (0 to skip)")
    ap.add_argument("--loglik-items", type=int, default=600, help="ARC items for the log-likelihood path (0 to skip)")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--delay", type=float, default=0.005, help="scripted server seconds per request")
    ap.add_argument("--rounds", type=int, default=7, help="back-to-back pairs of bare aiohttp and Arena rounds")
    ap.add_argument("--httpx-rounds", type=int, default=1, help="rounds of the slow bare httpx client (0 skips it)")
    args = ap.parse_args(argv)
    if not (args.data / "gsm8k" / "test.jsonl").is_file():
        print(f"error: {args.data}: no gsm8k/test.jsonl (pass --data FOLDER with gsm8k/, arc/, mmlu/)", file=sys.stderr)
        return 2
    print(f"machine: {platform.platform()}; {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable); "
          f"load average {loadavg()} (1/5/15 min)")
    print(f"         {machine()}")
    t0 = time.perf_counter()
    rule_scorers(args.data)
    reference_metrics(args.data, args.semantic)
    if args.code:
        code_passk(args.code)
    ll = (loglik(args.data, args.loglik_items, args.concurrency, args.delay, args.rounds, args.httpx_rounds)
          if args.loglik_items else None)
    print(f"\n{table(ll)}")
    print(f"\nload average after: {loadavg()} (1/5/15 min); {time.perf_counter() - t0:.0f} s in all; a shared machine "
          "makes wall-clock figures noisy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
