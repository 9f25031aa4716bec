"""Thought blocks in real files: how often `arena/reasoning.py` finds one, what a reasoning judge's verdict reads
like with and without its thought, and what the split costs per text.

    python benchmarks/reasoning_split.py [--data DIR] [--repeat 3]

Texts: every string field of at least 200 characters of every JSONL record under DIR (default: the project's
sibling `shared/data`, which holds arena-hard judgments by DeepSeek-R1-Distill-Llama-70B with its thoughts in
the text). Printed: per file, strings with a thought tag, how many the rule splits, the share of characters in
thoughts; for judge replies (`games[].judgment`), the verdict parsed from the whole reply against the final
answer alone; and the split's time per text beside a plain substring check (the best of `--repeat` passes).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from control_tokens_speed import best_time, real_texts, strings  # noqa: E402  (same folder)

from arena.reasoning import TAG_TEXTS, split_thought  # noqa: E402
from judges.verdicts import parse_reply  # noqa: E402



def per_file(folder: Path) -> None:
    """Strings holding a tag, split by the rule, and the thought's share of their characters, per file."""
    print(f"{'file':<72}{'strings':>9}{'with tag':>10}{'split':>7}{'thought chars':>15}")
    for path in sorted(folder.rglob("*.jsonl")):
        texts: list[str] = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                texts += list(strings(json.loads(line)))
            except ValueError:
                continue
        tagged = [t for t in texts if any(tag in t for tag in TAG_TEXTS)]
        if not tagged:
            continue
        splits = [split_thought(t) for t in tagged]
        done = [s for s in splits if s.thought is not None]
        share = sum(len(s.thought or "") for s in done) / max(1, sum(map(len, tagged)))
        print(f"{str(path.relative_to(folder)):<72}{len(texts):>9}{len(tagged):>10}{len(done):>7}{share:>14.0%}")


def judge_verdicts(folder: Path) -> None:
    """Judge replies with a thought: the verdict of the whole reply against the final answer's."""
    same = differ = final_none = with_marker = n = 0
    for path in sorted(folder.rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            games = rec.get("games") if isinstance(rec, dict) else None
            for game in games if isinstance(games, list) else []:
                text = game.get("judgment") if isinstance(game, dict) else None
                split = split_thought(text) if isinstance(text, str) else None
                if split is None or split.thought is None:
                    continue
                n += 1
                whole, final = parse_reply(text, "5way"), parse_reply(split.answer, "5way")
                with_marker += parse_reply(split.thought, "5way") is not None
                final_none += final is None
                if (whole and whole.label) == (final and final.label):
                    same += 1
                else:
                    differ += 1
    if n:
        print(f"judge replies with a thought: {n}; a verdict marker inside the thought: {with_marker}; "
              f"same verdict whole vs final answer: {same}, different: {differ}; "
              f"no verdict in the final answer (follow-up asked): {final_none}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = ROOT.parent / "shared" / "data"
    ap.add_argument("--data", type=Path, default=default if default.is_dir() else None)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if args.data is None or not args.data.is_dir():
        print(f"error: --data {args.data} is not a folder (the real files this script reads)", file=sys.stderr)
        return 2
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f}; data: {args.data}")
    per_file(args.data)
    judge_verdicts(args.data)
    texts = real_texts(args.data)
    split_ms = best_time(lambda t: split_thought(t).answer, texts, args.repeat)
    check_ms = best_time(lambda t: "think" in t, texts, args.repeat)
    print(f"{len(texts)} strings of >= 200 characters: split {split_ms:.4f} ms per text "
          f"(a bare 'think' substring check {check_ms:.4f} ms)")
    # degenerate answers of 200 KB: the R1 form's code check reads every line before the closing tag
    for name, text in (("one 200 KB run of backticks", "Okay x" + "`" * 200_000 + "\n</think>\n\nA"),
                       ("14,000 lines of <pre>`</pre>`", "Okay\n" + "<pre>`</pre>` x\n" * 14_000 + "</think>\n\nA"),
                       ("alternating fence lines", "Okay\n" + "```\n~~~~\n" * 20_000 + "</think>\n\nA"),
                       ("200 KB of <pre> blocks and </think> lines",
                        "Okay\n" + ("<pre>\nx\n</think>\n</pre>\n" * 8000)[:200_000] + "\n</think>\n\nA")):
        ms = best_time(lambda t: split_thought(t).answer, [text], args.repeat)
        print(f"{name}: {len(text):,} characters, split {ms:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
