"""Agreement of judges/verdicts.py with the verdicts recorded in real FastChat / arena-hard files.

Usage: python benchmarks/verdict_agreement.py [DATA_DIR] [--readme PATH]
Reads FastChat MT-bench single and pairwise judgments and arena-hard-auto v0.1 judgments, re-parses
the raw judge text and compares with the verdict the original tool recorded. Every disagreement is
classified by the rule that explains it (the original tools use different tie-breaking rules).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from judges.verdicts import (
    Verdict,
    all_verdicts,
    combine_orders,
    parse_verdict,
    swap_verdict,
)

DEFAULT_DIR = Path("/work/shared/data/judgment-formats")
FASTCHAT_PAIR = {"model_1": "A", "model_2": "B", "tie": "tie"}
MAX_EXAMPLES = 3
_ARENA_HARD_RE = re.compile(r"\[\[([AB<>=]+)\]\]")  # the pattern arena-hard-auto v0.1 used


@dataclass
class FileReport:
    """Counts for one judgment file."""

    path: str
    fmt: str
    records: int = 0
    items: int = 0
    parsed: int = 0
    recorded_valid: int = 0
    agree: int = 0
    both_none: int = 0
    reasons: Counter = field(default_factory=Counter)
    notes: Counter = field(default_factory=Counter)
    pairs: int = 0
    pairs_complete: int = 0
    pairs_consistent: int = 0

    def two_orders(self, game1_text: str, game2_text: str, kind: str) -> None:
        """Combine a game and its swapped game with combine_orders (position consistency)."""
        outcome = combine_orders(parse_verdict(game1_text, kind), parse_verdict(game2_text, kind))
        self.pairs += 1
        self.pairs_complete += outcome.winner is not None
        self.pairs_consistent += bool(outcome.consistent)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def disagree(self, reason: str, example: str) -> None:
        """Count one disagreement and keep a few examples per reason."""
        self.reasons[reason] += 1
        self.examples.setdefault(reason, [])
        if len(self.examples[reason]) < MAX_EXAMPLES:
            self.examples[reason].append(example)


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    """JSON objects of a JSONL file."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _explain(ours: Verdict | None, recorded: str | None, found: list[Verdict], rule: str,
             text: str) -> str:
    """Name the rule difference behind one disagreement."""
    labels = [v.label for v in found]
    if ours is None:
        return "no valid verdict in text (we return None)"
    if recorded is None:
        if rule == "arena-hard" and not _ARENA_HARD_RE.search(text):
            return "spaces inside the brackets ([[A>> B]]): arena-hard's pattern misses it, we accept it"
        if len(set(labels)) > 1 and rule == "arena-hard":
            return "several distinct verdicts: arena-hard records None, we take the last"
        if rule == "fastchat-score":
            return "file recorded -1 although text has a valid [[score]]"
        return "file recorded no verdict although text has one"
    if rule == "fastchat-score" and labels and labels[0] == recorded:
        return "restated scores: FastChat takes the first, we take the last"
    if rule == "fastchat-pair" and len(set(labels)) > 1:
        return "several verdicts: FastChat checks [[A]] then [[B]] then [[C]], we take the last"
    return "unexplained"


def _compare(rep: FileReport, text: str, recorded: str | None, kind: str, rule: str,
             swapped: bool, where: str) -> None:
    """Parse one judgment text and compare with the recorded label."""
    rep.items += 1
    ours = parse_verdict(text, kind)
    found = all_verdicts(text, kind)
    if ours is not None:
        rep.parsed += 1
        if swapped:
            ours = swap_verdict(ours)
            found = [swap_verdict(v) for v in found]
    if recorded is not None:
        rep.recorded_valid += 1
    mine = ours.label if ours else None
    if mine == recorded:
        if recorded is None:
            rep.both_none += 1
        else:
            rep.agree += 1
        return
    tail = re.sub(r"\s+", " ", text.strip())[-110:]
    rep.disagree(_explain(ours, recorded, found, rule, text),
                 f"{where}: recorded={recorded} ours={mine} all={[v.label for v in found]} ...{tail!r}")


def _fastchat_single(path: Path) -> FileReport:
    """FastChat single-answer grading: `judgment` text vs numeric `score` (-1 = failed)."""
    rep = FileReport(str(path), "FastChat MT-bench single")
    for row in _rows(path):
        rep.records += 1
        score = float(row["score"])
        recorded = None if score == -1 else f"{score:g}"
        _compare(rep, row["judgment"], recorded, "score", "fastchat-score", False,
                 f"q{row['question_id']} t{row['turn']}")
    return rep


def _fastchat_pair(path: Path) -> FileReport:
    """FastChat pairwise: g1/g2 judgments vs g1_winner/g2_winner (g2 judged swapped)."""
    rep = FileReport(str(path), "FastChat MT-bench pairwise")
    for row in _rows(path):
        rep.records += 1
        for game, swapped in (("g1", False), ("g2", True)):
            recorded = FASTCHAT_PAIR.get(row[f"{game}_winner"])
            _compare(rep, row[f"{game}_judgment"], recorded, "3way", "fastchat-pair", swapped,
                     f"q{row['question_id']} {game}")
        rep.two_orders(row["g1_judgment"], row["g2_judgment"], "3way")
    return rep


def _normalize_5way(label: str | None) -> str | None:
    """Canonical 5-way label of a recorded arena-hard score ("A<B" -> "B>A"); None if invalid."""
    if not label:
        return None
    verdict = parse_verdict(f"[[{label}]]", "5way")
    return verdict.label if verdict else None


def _arena_hard(path: Path) -> FileReport:
    """arena-hard-auto v0.1: games[i].judgment vs games[i].score (game 2 keeps judge positions)."""
    rep = FileReport(str(path), "arena-hard-auto v0.1")
    for row in _rows(path):
        rep.records += 1
        for i, game in enumerate(row["games"]):
            recorded = _normalize_5way(game["score"])
            if game["score"] and recorded is None:
                rep.notes[f"file records the invalid label {game['score']!r} (the judge wrote it); "
                          "counted as not valid, we return None too"] += 1
            elif game["score"] and recorded != game["score"]:
                rep.notes[f"file label {game['score']!r} compared as its canonical form {recorded!r}"] += 1
            _compare(rep, game["judgment"] or "", recorded, "5way", "arena-hard", False,
                     f"q{row['question_id'][:8]} g{i + 1}")
        if len(row["games"]) == 2:  # game 2 shows the two answers in swapped positions
            rep.two_orders(row["games"][0]["judgment"] or "", row["games"][1]["judgment"] or "", "5way")
    return rep


def _reader(path: Path):
    """Pick the reader for a file from its first record."""
    first = next(_rows(path))
    if "games" in first:
        return _arena_hard
    if "g1_judgment" in first:
        return _fastchat_pair
    return _fastchat_single


def _summary(rep: FileReport) -> str:
    """One-line figures for a file."""
    pct = 100.0 * rep.agree / rep.recorded_valid if rep.recorded_valid else 0.0
    line = (f"{rep.records} records, {rep.items} judgments, parsed {rep.parsed}, "
            f"file verdict valid {rep.recorded_valid}, agreement {rep.agree}/{rep.recorded_valid} "
            f"({pct:.1f}%), both unparseable {rep.both_none}")
    if rep.pairs:
        line += f"\n   {_consistency(rep)}"
    return line


def _consistency(rep: FileReport) -> str:
    """Position-consistency figure from combine_orders over both orders."""
    pct = 100.0 * rep.pairs_consistent / rep.pairs_complete if rep.pairs_complete else 0.0
    return (f"two-order pairs {rep.pairs}, both games parsed {rep.pairs_complete}, "
            f"position-consistent {rep.pairs_consistent}/{rep.pairs_complete} ({pct:.1f}%)")


def main(argv: list[str] | None = None) -> int:
    """Run the comparison over every JSONL file and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir", nargs="?", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--readme", type=Path, default=None, help="also write the figures as a Markdown section here")
    args = ap.parse_args(argv)
    files = sorted(args.data_dir.rglob("*.jsonl"))
    if not files:
        print(f"no .jsonl files under {args.data_dir}", file=sys.stderr)
        return 1
    reports = [_reader(p)(p) for p in files]
    for rep in reports:
        print(f"\n== {Path(rep.path).relative_to(args.data_dir)}  [{rep.fmt}]")
        print("   " + _summary(rep))
        for note, count in rep.notes.most_common():
            print(f"   note: {count} x {note}")
        for reason, count in rep.reasons.most_common():
            print(f"   - {count} x {reason}")
            for ex in rep.examples[reason]:
                print(f"       {ex}")
    if args.readme:
        _write_readme(reports, args.data_dir, args.readme)
    return 0


def _write_readme(reports: list[FileReport], data_dir: Path, out: Path) -> None:
    """Write the figures as a short Markdown section for the README."""
    lines = [
        "## Verdict parser agreement with real judge files",
        "",
        "`python benchmarks/verdict_agreement.py` re-parses the raw judge text of real FastChat MT-bench",
        "and arena-hard-auto v0.1 judgment files with `judges/verdicts.py` and compares with the verdict",
        "each tool recorded. Agreement is counted where the file's verdict is valid.",
        "",
        "| file | format | judgments | parsed | file valid | agreement |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for rep in reports:
        pct = 100.0 * rep.agree / rep.recorded_valid if rep.recorded_valid else 0.0
        name = Path(rep.path).relative_to(data_dir)
        lines.append(f"| `{name}` | {rep.fmt} | {rep.items} | {rep.parsed} | {rep.recorded_valid} | "
                     f"{rep.agree}/{rep.recorded_valid} ({pct:.1f}%) |")
    lines += ["", "Position consistency of the judges (both orders combined with `combine_orders`):", ""]
    lines += [f"- `{Path(r.path).name}`: {_consistency(r)}" for r in reports if r.pairs]
    lines += ["", "Disagreements and notes (each explained by the other tool's parsing rule):", ""]
    for rep in reports:
        for reason, count in rep.reasons.most_common():
            lines.append(f"- `{Path(rep.path).name}`: {count} x {reason}")
        for note, count in rep.notes.most_common():
            lines.append(f"- `{Path(rep.path).name}`: {count} x {note}")
    lines += ["", "Judgments that are unparseable in both (truncated replies, replies that answer the",
              "question instead of judging it, FastChat `$ERROR$`) are counted in 'both unparseable' and",
              "are returned as `None`, never as a tie or a zero."]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    raise SystemExit(main())
