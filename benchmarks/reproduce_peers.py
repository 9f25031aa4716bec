"""Arena's importers and leaderboards on every real file in ../shared/data, next to the peers' numbers.

For each number: Arena's value, the peer's (published, or recomputed the peer's way by
benchmarks/peer_recompute.py from the raw files, independently of Arena's importers), the difference,
the tolerance and PASS / FAIL. SKIP rows say what the data lacks; INFO rows show a known, explained
difference; TODO rows are features not there yet. Exit status 1 when any row fails.

    python benchmarks/reproduce_peers.py [--data ../shared/data] [--rounds 2000]
"""
from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from import_real_files import DEFAULT_DATA, import_run
from peer_recompute import (
    alpaca_published,
    arena_hard_rows,
    bootstrap_v01,
    bootstrap_v20,
    bt_winrate_v01,
    fastchat_pairwise,
    fastchat_single,
)

from arena.interop.leaderboard import run_boards

ROWS: list[tuple] = []
PEER_PYTHON = os.environ.get("ARENA_PEER_PYTHON", "/work/peers-venv/bin/python")  # alpaca_eval 0.6.6


def row(section: str, what: str, ours: float | None, peer: float | None, tol: float | None,
        status: str | None = None) -> None:
    """Record one comparison; PASS/FAIL from |ours - peer| <= tol unless a status is given."""
    diff = None if ours is None or peer is None else float(ours) - float(peer)
    if status is None:
        status = "PASS" if diff is not None and np.isfinite(diff) and abs(diff) <= tol else "FAIL"
    ROWS.append((section, what, ours, peer, diff, tol, status))


def num(v: float | None, width: int = 12) -> str:
    """A right-aligned number cell (blank for None)."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return " " * width
    return f"{v:>{width}.6f}" if abs(v) < 1e5 else f"{v:>{width}.4g}"


def header(data: Path) -> None:
    """Machine, versions and the commit the numbers come from."""
    root = Path(__file__).resolve().parents[1]
    git = ["git", "-C", str(root)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], check=False, capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"], check=False,
                           capture_output=True, text=True).stdout.strip()
    versions = []
    for pkg in ("arena", "numpy", "pandas", "scipy", "scikit-learn"):
        try:
            versions.append(f"{pkg} {md.version(pkg)}")
        except md.PackageNotFoundError:
            versions.append(f"{pkg} -")
    print(f"machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}")
    print(f"versions: {', '.join(versions)}; commit {commit}{' (+ uncommitted changes)' if dirty else ''}")
    print(f"data: {data}\n")


def mt_bench(data: Path, ws: Path) -> None:
    """MT-bench single and pairwise tables vs FastChat's show_result computation."""
    jf = data / "judgment-formats" / "mt-bench"
    single, pair = sorted(jf.glob("*_single_*.jsonl")), sorted(jf.glob("*_pair_*.jsonl"))
    boards = run_boards(import_run("mt-bench", [data / "mt-bench", *single, *pair], ws, verbose=False, bootstrap=0))
    ours = boards[0].table.set_index("model")
    peer = fastchat_single(single)
    for model in peer.index:
        for col in ("score", "turn_1", "turn_2"):
            row("MT-bench single", f"{model} {col}", ours.loc[model, col], peer.loc[model, col], 1e-9)
    ours = next(b for b in boards if "pairwise" in b.title).table.set_index("model")
    peer = fastchat_pairwise(pair)
    for model in peer.index:
        for col in ("win", "loss", "tie", "win_rate", "loss_rate", "win_rate_adjusted"):
            row("MT-bench pairwise", f"{model} {col}", ours.loc[model, col], peer.loc[model, col], 1e-9)


def arena_hard(data: Path, ws: Path, rounds: int) -> None:
    """arena-hard v0.1 score and intervals, v2.0 conventions, the vs-itself sanity file."""
    base = "gpt-4-0314"
    files = sorted((data / "judgment-formats" / "arena-hard" / "gpt-4-1106-preview").glob("*.jsonl"))
    run = import_run("arena-hard", files, ws, verbose=False, bootstrap=0)
    rows = arena_hard_rows(files)
    try:
        bt = bt_winrate_v01(rows, base)
    except ImportError:  # scikit-learn, which arena-hard v0.1 fits with, is not installed
        bt = {m: None for m in rows}
    v01 = next(b for b in run_boards(run, bootstrap=rounds) if b.convention == "arena-hard").table
    v20 = next(b for b in run_boards(run, bootstrap=rounds, arena_hard_version="v2.0")
               if b.convention == "arena-hard").table
    v01, v20 = v01.set_index("model"), v20.set_index("model")
    sec, mc = "arena-hard v0.1", f"(Monte-Carlo, {rounds} rounds each)"
    for model, values in rows.items():
        short = model if len(model) <= 28 else model[:25] + "..."
        row(sec, f"{short} score (BT win rate)", v01.loc[model, "score"], bt[model], 1e-5,
            None if bt[model] is not None else "SKIP")
        lo, hi = bootstrap_v01(values, rounds, seed=42)
        row(sec, f"{short} ci_low 2.5% {mc}", v01.loc[model, "ci_low"], lo, 0.6)
        row(sec, f"{short} ci_high 97.5% {mc}", v01.loc[model, "ci_high"], hi, 0.6)
        score, lo, hi = bootstrap_v20(values, rounds, seed=42)
        sec2 = "arena-hard v2.0 conventions"
        row(sec2, f"{short} score (bootstrap mean) {mc}", v20.loc[model, "score"], score, 0.25)
        row(sec2, f"{short} ci_low 5% {mc}", v20.loc[model, "ci_low"], lo, 0.6)
        row(sec2, f"{short} ci_high 95% {mc}", v20.loc[model, "ci_high"], hi, 0.6)
        paired = arena_hard_rows(files, drop_pair=True)[model]
        row(sec2, f"{short} v2.0 loader drops a null game's pair", v01.loc[model, "score"],
            100 * paired.mean(), None, "INFO")
    row(sec, "style-controlled score (--style-control): no answers in the data", None, None, None, "SKIP")
    row(sec, "avg_tokens (all answers)", None, None, None, "SKIP")
    self_files = sorted((data / "judgment-formats" / "arena-hard").glob("*/*_vs_itself.jsonl"))
    run = import_run("arena-hard", self_files, ws, verbose=False, bootstrap=0)
    table = next(b for b in run_boards(run, bootstrap=0) if b.convention == "arena-hard").table
    for model, values in arena_hard_rows(self_files).items():
        row("arena-hard vs itself", f"{model} win rate (position bias)",
            table.set_index("model").loc[model, "score"], 100 * values.mean(), 1e-9)


def lc_option() -> bool:
    """True when `arena leaderboard` has the --lc-difficulty option."""
    out = subprocess.run([sys.executable, "-m", "arena.cli", "leaderboard", "--help"], check=False, capture_output=True,
                         text=True).stdout
    return "--lc-difficulty" in out


def alpaca_eval(data: Path, ws: Path) -> None:
    """AlpacaEval win rate, standard error, counts and LC win rate vs the published leaderboard rows."""
    ae = data / "alpaca-eval"
    run = import_run("alpaca-eval", sorted((ae / "annotations").glob("*/annotations.json")), ws, verbose=False, bootstrap=0)
    pub = alpaca_published(ae / "published_leaderboard_rows.csv")
    lc = lc_option()
    cmd = [sys.executable, "-m", "arena.cli", "leaderboard", str(run), "--format", "json"]
    if lc:
        cmd += ["--lc-difficulty", str(ae / "instruction_difficulty.csv")]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if done.returncode:
        row("AlpacaEval", f"arena leaderboard failed: {done.stderr.strip()[-100:]}", None, None, None, "FAIL")
        return
    board = next(b for b in json.loads(done.stdout) if b["convention"] == "alpaca-eval")
    ours = pd.DataFrame(board["table"]).set_index("model")
    for model in pub.index:
        for col, tol in (("win_rate", 1e-6), ("standard_error", 1e-6), ("discrete_win_rate", 1e-6),
                         ("n_wins", 0), ("n_wins_base", 0), ("n_draws", 0), ("n_total", 0)):
            row("AlpacaEval", f"{model} {col}", ours.loc[model, col], pub.loc[model, col], tol)
    if not lc:
        row("AlpacaEval LC", "TODO: LC rows need `arena leaderboard --lc-difficulty`", None, None, None, "TODO")
        return
    lc_cols = [c for c in ours.columns if c.startswith("length_controlled") and "standard_error" not in c]
    if not lc_cols:
        row("AlpacaEval LC", "no length-controlled column in the board", None, None, None, "FAIL")
        return
    lc_col = lc_cols[0]
    peer = alpaca_eval_glm(ae)
    for model in pub.index:
        if peer is None:
            row("AlpacaEval LC", f"{model} vs alpaca_eval's GLM: no peers venv", None, None, None, "SKIP")
        else:
            row("AlpacaEval LC", f"{model} {lc_col} vs alpaca_eval's code", ours.loc[model, lc_col],
                peer[model]["aligned"]["lc"], 0.2)
            if "lc_standard_error" in ours.columns:
                row("AlpacaEval LC", f"{model} lc_standard_error vs alpaca_eval's code",
                    ours.loc[model, "lc_standard_error"], peer[model]["aligned"]["se"], 0.05)
        row("AlpacaEval LC", f"{model} {lc_col} vs published (gamed rows)", ours.loc[model, lc_col],
            pub.loc[model, "length_controlled_winrate"], None, "INFO")


def alpaca_eval_glm(ae: Path) -> dict | None:
    """alpaca_eval 0.6.6's own GLM on the same files with the published difficulty (no gamed rows), run
    in the peers venv by benchmarks/lc_vs_alpaca_eval.py; None when that venv or script is missing."""
    if not Path(PEER_PYTHON).is_file():
        return None
    try:
        from lc_vs_alpaca_eval import run_peer

        files = sorted(ae.glob("annotations/*/annotations.json"))
        return run_peer(PEER_PYTHON, {"difficulty": str(ae / "instruction_difficulty.csv"), "gamed": [],
                                      "files": list(map(str, files))})
    except (ImportError, SystemExit) as exc:
        print(f"alpaca_eval peer run failed: {exc}", file=sys.stderr)
        return None


def report(seconds: float) -> int:
    """Print the table and the tally; 1 when a row failed."""
    print(f"{'section':28} {'quantity':66} {'Arena':>12} {'peer':>12} {'diff':>12} {'tol':>8}  result")
    for sec, what, ours, peer, diff, tol, status in ROWS:
        t = "" if tol is None else f"{tol:g}"
        print(f"{sec:28} {what[:66]:66} {num(ours)} {num(peer)} {num(diff)} {t:>8}  {status}")
    counts = pd.Series([r[-1] for r in ROWS]).value_counts()
    print("\n" + ", ".join(f"{n} {s}" for s, n in counts.items()) + f"; {seconds:.1f} s")
    return 1 if counts.get("FAIL", 0) else 0


NOTES = """
peers: MT-bench = FastChat llm_judge/show_result.py (single: mean over graded turns, -1 dropped;
  pairwise: error rows dropped, disagreeing games are ties), recomputed in peer_recompute.py.
  arena-hard v0.1 = show_result.py's BT (sklearn logistic regression, anchored at the baseline) and its
  2.5/97.5% bootstrap; v2.0 = show_result.py's per-model row bootstrap (mean, 5/95%), both recomputed in
  peer_recompute.py (arena-hard-auto is not a package: its scripts were not run). AlpacaEval = the
  published leaderboard rows (weighted_alpaca_eval_gpt4_turbo).
SKIP: ../shared/data has arena-hard judgments but no arena-hard model answers (no conv_metadata), so
  neither the style-controlled score (`arena leaderboard --style-control`, tested against a row-by-row
  textbook fit in tests/test_arenahard_style.py) nor avg_tokens can be computed from it.
INFO: arena-hard v2.0's loader drops both games of a question when one is null; Arena follows the file's
  layout (v0.1 files: the null game alone), so --arena-hard-version changes the reporting, not the games.
LC: PASS/FAIL against alpaca_eval 0.6.6's own get_length_controlled_winrate (its no-regularisation GLM,
  the published difficulty aligned by instruction), run in a separate venv by lc_vs_alpaca_eval.py
  (ARENA_PEER_PYTHON). INFO against the published LC, which AlpacaEval regularises with its gamed-baseline
  annotations (not in ../shared/data).
"""


def main() -> int:
    """Run every section and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--rounds", type=int, default=2000, help="bootstrap rounds for interval rows")
    args = ap.parse_args()
    header(args.data)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="arena-reproduce-") as tmp:
        ws = Path(tmp) / "workspace"
        mt_bench(args.data, ws)
        arena_hard(args.data, ws, args.rounds)
        alpaca_eval(args.data, ws)
    status = report(time.perf_counter() - t0)
    print(NOTES)
    return status


if __name__ == "__main__":
    sys.exit(main())
