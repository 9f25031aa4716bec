"""Import the real MT-bench and arena-hard files in ../shared/data and check what Arena makes of them.

Prints, per file, records read / used / not used and why; compares each verdict Arena's parser finds in
the judge's text with the verdict the file records; prints the leaderboards in each tool's terms and
compares the MT-bench means and the arena-hard score with the same numbers computed the tools' way
(plain pandas on the raw files, independent of Arena's importers).

    python benchmarks/import_real_files.py [--data ../shared/data] [--workspace ./arena-workspace]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from arena.interop.cli import READERS, render
from arena.interop.common import Bundle
from arena.interop.leaderboard import run_boards
from arena.interop.writer import new_run_dir, write_run
from judges.verdicts import parse_verdict

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def import_run(fmt: str, paths: list[Path], workspace: Path, verbose: bool = True, bootstrap: int = 100) -> Path:
    """Import files into a fresh run of the workspace; print the per-file report; return the run folder."""
    t0 = time.perf_counter()
    bundle = Bundle(tool=fmt, paths=[str(p) for p in paths])
    READERS[fmt](paths, bundle)
    run = new_run_dir(None, workspace, fmt)
    write_run(bundle, run, sys.argv, bootstrap=bootstrap)
    if not verbose:
        return run.path
    print(f"\n#### import {fmt}: {len(paths)} path(s) -> {run.path} ({time.perf_counter() - t0:.1f} s)")
    for f in bundle.files:
        why = ", ".join(f"{n} {reason}" for reason, n in f.failed.items()) or "-"
        print(f"  {Path(f.path).name:70s} {f.role:10s} read {f.read:4d}  used {f.ok:4d}  not used: {why}")
    for note in bundle.notes:
        print(f"  note: {note}")
    return run.path


def compare(label: str, pairs: list[tuple[object, object]]) -> None:
    """Print agreement of (parsed, recorded) verdict pairs and the most common disagreements."""
    agree = sum(p == r for p, r in pairs)
    print(f"  {label}: {len(pairs)} verdicts, parser agrees with the file on {agree} "
          f"({100 * agree / max(len(pairs), 1):.1f}%)")
    for (p, r), n in Counter((p, r) for p, r in pairs if p != r).most_common(6):
        print(f"      parsed {p!s:>8} vs recorded {r!s:>8}: {n}")


def rows(path: Path) -> list[dict]:
    """Records of a JSONL file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def mt_single_checks(files: list[Path]) -> pd.DataFrame:
    """Parsed vs recorded scores; FastChat's own means (score != -1, mean per model / per turn)."""
    pairs, frames = [], []
    for f in files:
        for r in rows(f):
            v = parse_verdict(r["judgment"], "score")
            pairs.append((v.score if v else -1, float(r["score"])))
        frames.append(pd.DataFrame(rows(f))[["model", "score", "turn"]])
    compare("MT-bench single (score)", pairs)
    df = pd.concat(frames)
    df = df[df["score"] != -1]
    out = df.groupby("model")["score"].mean().rename("fastchat_score").to_frame()
    for t in (1, 2):
        out[f"fastchat_turn_{t}"] = df[df["turn"] == t].groupby("model")["score"].mean()
    return out


def mt_pair_checks(files: list[Path]) -> None:
    """Parsed 3-way verdicts vs g1_winner / g2_winner (game 2 has model_2 in position A)."""
    pairs = []
    for f in files:
        for r in rows(f):
            for g, first, second in (("g1", "model_1", "model_2"), ("g2", "model_2", "model_1")):
                v = parse_verdict(r[f"{g}_judgment"], "3way")
                parsed = "error" if v is None else {"A": first, "B": second, "tie": "tie"}[v.winner]
                pairs.append((parsed, r[f"{g}_winner"]))
    compare("MT-bench pairwise (g1_winner/g2_winner)", pairs)


def arena_hard_checks(files: list[Path], baseline: str = "gpt-4-0314") -> dict[str, float]:
    """Parsed 5-way verdicts vs games[].score; the v0.1 score computed the arena-hard way (weighted rows)."""
    pairs, scores = [], {}
    weights = {"A>B": (0, 1), "A>>B": (0, 3), "A=B": (0.5, 1), "B>A": (1, 1), "B>>A": (1, 3)}
    for f in files:
        points = []
        for r in rows(f):
            for g, game in enumerate(r["games"]):
                v = parse_verdict(game.get("judgment"), "5way") if game else None
                pairs.append((v.label if v else None, game.get("score") if game else None))
                label = game.get("score") if game else None
                if label in weights:
                    s, w = weights[label]
                    points += [s if g == 0 else 1 - s] * w
        scores[rows(f)[0]["model"]] = 100 * float(np.mean(points))
    compare("arena-hard (games[].score)", pairs)
    return scores


def main() -> int:
    """Run every import and check; print the leaderboards."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--workspace", type=Path, default=Path("arena-workspace"))
    args = ap.parse_args()
    mt, jf = args.data / "mt-bench", args.data / "judgment-formats"
    single = sorted((jf / "mt-bench").glob("*_single_*.jsonl"))
    pair = sorted((jf / "mt-bench").glob("*_pair_*.jsonl"))
    ah = sorted((jf / "arena-hard").rglob("*.jsonl"))

    run_mt = import_run("mt-bench", [mt, *single, *pair], args.workspace)
    print("\n## verdicts: Arena's parser on the judge text vs the verdict the file records")
    fastchat = mt_single_checks(single)
    mt_pair_checks(pair)
    ah_scores = arena_hard_checks([p for p in ah if "gpt-4-1106-preview" in p.parts])
    arena_hard_checks([p for p in ah if "vs_itself" in p.name])

    boards = run_boards(run_mt)
    print("\n## MT-bench leaderboards (Arena)\n" + render(boards, "table"))
    ours = boards[0].table.set_index("model")
    joined = ours.join(fastchat)
    diff = max((joined["score"] - joined["fastchat_score"]).abs().max(),
               (joined["turn_1"] - joined["fastchat_turn_1"]).abs().max(),
               (joined["turn_2"] - joined["fastchat_turn_2"]).abs().max())
    print("MT-bench single means, Arena vs FastChat's show_result computation on the same files:")
    print(joined[["score", "fastchat_score", "turn_1", "fastchat_turn_1", "turn_2", "fastchat_turn_2"]]
          .to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"largest difference: {diff:.2e}")

    for sub in ("gpt-4-1106-preview", "DeepSeek-R1-Distill-Llama-70B"):
        run_ah = import_run("arena-hard", [p for p in ah if sub in p.parts], args.workspace)
        boards = run_boards(run_ah, bootstrap=100)
        print(f"\n## arena-hard leaderboard ({sub})\n" + render(boards, "table"))
        for model, expected in ah_scores.items():
            if sub == "gpt-4-1106-preview":
                got = boards[0].table.set_index("model").loc[model, "score"]
                print(f"arena-hard v0.1 score of {model}: Arena {got:.4f}, arena-hard way {expected:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
