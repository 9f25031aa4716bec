"""What does breaking up chat control tokens cost per judged text? `neutralize_verdict_tokens` (every value of a
judge prompt goes through it) beside the same function without the control-token step, in one process.

    python benchmarks/control_tokens_speed.py [--data DIR | --generated] [--repeat 3]

Texts: every string field of every JSONL record under DIR (default: the project's sibling `shared/data` when it
exists, e.g. MT-bench and arena-hard judgment files with real answers), else generated Markdown answers with
code, links and tables. Printed per kind (printable ASCII / with other characters): texts, mean length, how many
hold a control token, and the time per text with and without the step (the best of `--repeat` passes).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from judges import verdicts
from judges.verdicts import has_control_tokens, neutralize_verdict_tokens


def strings(obj: object) -> Iterator[str]:
    """Every string inside a JSON value."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from strings(v)


def real_texts(folder: Path) -> list[str]:
    """String fields of at least 200 characters from the JSONL files under `folder`."""
    out: list[str] = []
    for path in sorted(folder.rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                out += [s for s in strings(json.loads(line)) if len(s) >= 200]
            except ValueError:
                continue
    return out


def generated_texts(n: int = 3000, seed: int = 0) -> list[str]:
    """Markdown answers: prose, a code block with brackets, a link, a table; a tenth in Chinese."""
    rng = random.Random(seed)
    words = "the model answer uses a list of values and returns x[i] + y[j] for each pair".split()
    out = []
    for i in range(n):
        prose = " ".join(rng.choice(words) for _ in range(rng.randint(100, 400)))
        code = "```python\nfor i in range(n):\n    out[i] = f(a[i], b[i]) if mask[i] else None\n```"
        text = f"## Answer\n\n{prose}\n\n{code}\n\nSee [the docs](https://example.com).\n\n| a | b |\n|---|---|\n| 1 | 2 |"
        out.append(text + ("\n\n中文的回答，包括（括号）和【方括号】。" * 20 if i % 10 == 0 else ""))
    return out


def before_step(text: str) -> str:
    """`neutralize_verdict_tokens` as it was before the control-token step (verdict markers and delimiters)."""
    text = verdicts._OPEN_RUN_RE.sub(lambda m: m.group(0) + " ", text)
    text = verdicts._CLOSE_RUN_RE.sub(lambda m: m.group(0) + " ", text)
    return verdicts._MARKER_RE.sub(lambda m: f"<< <{m.group(1)}> >>", text)


def best_time(fn: Callable[[str], str], texts: list[str], repeat: int) -> float:
    """Best wall time of one pass over `texts`, per text in ms."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for t in texts:
            fn(t)
        best = min(best, time.perf_counter() - start)
    return best / max(1, len(texts)) * 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = ROOT.parent / "shared" / "data"
    ap.add_argument("--data", type=Path, default=default if default.is_dir() else None)
    ap.add_argument("--generated", action="store_true", help="generated answers even when --data exists")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if args.generated:
        args.data = None
    if args.data is not None and not args.data.is_dir():
        print(f"error: --data {args.data} is not a folder", file=sys.stderr)
        return 2
    texts = real_texts(args.data) if args.data else generated_texts()
    source = f"JSONL strings under {args.data}" if args.data else "generated Markdown answers"

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f}; texts: {source}")
    print(f"{'kind':<22}{'texts':>7}{'mean chars':>12}{'with tokens':>13}{'before ms':>11}{'now ms':>9}{'step ms':>9}")
    plain = verdicts._PLAIN_ASCII_RE
    for kind, group in (("printable ASCII", [t for t in texts if plain.fullmatch(t)]),
                        ("other characters too", [t for t in texts if not plain.fullmatch(t)])):
        if not group:
            continue
        before = best_time(before_step, group, args.repeat)
        now = best_time(neutralize_verdict_tokens, group, args.repeat)
        step = best_time(verdicts.defuse_control_tokens, group, args.repeat)
        mean = sum(map(len, group)) / len(group)
        hits = sum(has_control_tokens(t) for t in group)
        print(f"{kind:<22}{len(group):>7}{mean:>12.0f}{hits:>13}{before:>11.3f}{now:>9.3f}{step:>9.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
