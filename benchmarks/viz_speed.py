"""Benchmark of the Streamlit app on a large seeded workspace (50 models, 20 runs, 200k latest battles).

Builds the workspace with the real rating engine (leaderboard.json per run), then times each page with
streamlit.testing's AppTest in this process: the first load (cold caches) and cached reloads (median).
Run: python benchmarks/viz_speed.py [FOLDER] [--models 50] [--runs 20] [--battles 200000]
     [--history-battles 10000] [--bootstrap 1000] [--repeat 5] [--judgment-chars 1500] [--browser]
The latest run also gets judgments.jsonl (both orders of every battle with 1500 characters of judge text:
about 700 MB for 200k battles), which the battle browser reads for the battle it shows.
FOLDER defaults to a fresh viz-speed-* folder under the current directory (kept; delete it afterwards).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arena.rating import RatingOptions, write_leaderboard

CATEGORIES = ("writing", "math", "coding", "reasoning", "stem")
JUDGES = ("gpt-4o-judge", "qwen-max-judge")
PAGES = ("leaderboard", "head-to-head", "categories", "history", "battles", "judges")


def machine_info() -> str:
    """CPU model, cores, memory and library versions."""
    import pandas
    import plotly
    import streamlit

    cpu = platform.processor() or "unknown"
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30 if hasattr(os, "sysconf") else 0
    system = f"{platform.system()} {platform.release()}"
    return (
        f"machine: {cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, {system}\n"
        f"python {platform.python_version()}, streamlit {streamlit.__version__}, "
        f"plotly {plotly.__version__}, pandas {pandas.__version__}, numpy {np.__version__}"
    )


def write_run(
    ws: Path,
    index: int,
    n_runs: int,
    models: list[str],
    strength: np.ndarray,
    n_battles: int,
    rng: np.random.Generator,
    bootstrap: int,
    judgment_chars: int = 0,
) -> None:
    """One pairwise run: run.json, questions, battles (BT-drawn, ~25% ties), judge stats, leaderboard, and
    with judgment_chars > 0 judgments.jsonl (both orders of every battle, raw judge text of that length)."""
    day = np.datetime64("2025-01-06") + np.timedelta64(7 * index, "D")
    run_id = str(day).replace("-", "") + f"-000000-week{index + 1:02d}"
    run = ws / "runs" / run_id
    run.mkdir(parents=True)
    active = np.arange(max(2, len(models) - (n_runs - 1 - index)))  # one model enters per week
    drift = strength[active] + rng.normal(0, 10, len(active))
    a = rng.choice(active, n_battles)
    b = active[(np.searchsorted(active, a) + rng.integers(1, len(active), n_battles)) % len(active)]
    p = 1 / (1 + 10 ** ((drift[np.searchsorted(active, b)] - drift[np.searchsorted(active, a)]) / 400))
    u = rng.random(n_battles)
    winner = np.where(u < 0.25, "tie", np.where(rng.random(n_battles) < p, "model_a", "model_b"))
    cats = rng.integers(0, len(CATEGORIES), n_battles)
    qid = rng.integers(0, 500, n_battles)
    judge = rng.integers(0, len(JUDGES), n_battles)
    lens = rng.integers(50, 900, (n_battles, 2))
    with open(run / "battles.jsonl", "w", encoding="utf-8") as fh:
        fh.writelines(
            json.dumps(
                {
                    "question_id": f"q{qid[k]}",
                    "model_a": models[a[k]],
                    "model_b": models[b[k]],
                    "winner": winner[k],
                    "judge": JUDGES[judge[k]],
                    "category": CATEGORIES[cats[k]],
                    "turn": 1,
                    "weight": 1,
                    "consistent": bool(u[k] > 0.3),
                    "games": [f"{index}-{k}-AB", f"{index}-{k}-BA"],
                    "mode": "pairwise",
                    "len_a": int(lens[k, 0]),
                    "len_b": int(lens[k, 1]),
                }
            )
            + "\n"
            for k in range(n_battles)
        )
    if judgment_chars > 0:  # the judge's reasoning as Arena stores it, with the key first
        text = ("The first answer is more complete and better organised; the second misses a step. " * 40)
        with open(run / "judgments.jsonl", "w", encoding="utf-8") as fh:
            fh.writelines(
                json.dumps({"key": f"{index}-{k}-{order}", "judge": JUDGES[judge[k]], "mode": "pairwise",
                            "question_id": f"q{qid[k]}", "model_a": models[a[k]], "model_b": models[b[k]],
                            "order": order, "status": "ok", "label": "A>B", "winner": winner[k],
                            "raw": f"{text[:judgment_chars]}\nVerdict: [[A>B]]"}) + "\n"
                for k in range(n_battles) for order in ("AB", "BA")
            )
    questions = [
        {"question_id": f"q{i}", "category": CATEGORIES[i % len(CATEGORIES)], "turns": [f"Question {i}?"]}
        for i in range(500)
    ]
    (run / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    stats = {
        j: {
            "calls": 2 * n_battles // 2,
            "cached": 0,
            "ok": n_battles,
            "unparsed": 3,
            "errors": 1,
            "parse_failure_rate": 0.001,
            "pairs_both_orders": n_battles // 2,
            "position_consistency": 0.8,
            "first_position_win_rate": 0.56,
            "tie_rate": 0.25,
            "prompt_tokens": 900 * n_battles,
            "completion_tokens": 120 * n_battles,
            "cost_usd": 0.004 * n_battles,
            "dry_run": False,
        }
        for j in JUDGES
    }
    (run / "judge_stats.json").write_text(json.dumps(stats))
    info = {
        "run_id": run_id,
        "status": "completed",
        "started": f"{day}T00:00:00Z",
        "finished": f"{day}T03:00:00Z",
        "config": {"judge": {"mode": "pairwise"}, "dry_run": False},
        "stages": {"answers": {"models": {models[i]: {"questions": 500} for i in active}}},
        "errors": [],
    }
    (run / "run.json").write_text(json.dumps(info))
    write_leaderboard(run / "battles.jsonl", run, RatingOptions(bootstrap=bootstrap, seed=index))


def build(
    ws: Path, n_models: int, n_runs: int, battles: int, history_battles: int, bootstrap: int, judgment_chars: int
) -> int:
    """Write the whole workspace; returns the total number of battles."""
    rng = np.random.default_rng(0)
    models = [f"model-{i:02d}" for i in range(n_models)]
    strength = rng.normal(0, 120, n_models)
    total = 0
    for index in range(n_runs):
        n = battles if index == n_runs - 1 else history_battles
        started = time.perf_counter()
        last = index == n_runs - 1
        write_run(ws, index, n_runs, models, strength, n, rng, bootstrap if last else 100,
                  judgment_chars if last else 0)
        total += n
        elapsed = time.perf_counter() - started
        print(f"  run {index + 1}/{n_runs}: {n:,} battles, written and rated in {elapsed:.1f} s")
    return total


def time_page(ws: Path, page: str, repeat: int) -> tuple[float, float]:
    """(first load, median cached reload) seconds of one page, each in a fresh AppTest session."""
    from streamlit.testing.v1 import AppTest

    times = []
    for _ in range(1 + repeat):
        at = AppTest.from_file(str(ROOT / "viz" / "app.py"), default_timeout=600)
        at.query_params["page"] = page
        started = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - started)
        if at.exception or at.error:
            raise SystemExit(f"page {page} failed: {[e.value for e in list(at.exception) + list(at.error)]}")
    return times[0], statistics.median(times[1:])


def time_judge_refit(repeat: int) -> tuple[float, float]:
    """(first, median cached) seconds of the leaderboard after choosing one judge (a refit of its battles)."""
    from streamlit.testing.v1 import AppTest

    times = []
    for _ in range(1 + repeat):
        at = AppTest.from_file(str(ROOT / "viz" / "app.py"), default_timeout=600).run()
        at.selectbox(key="lb_judge").set_value(JUDGES[0])
        started = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - started)
    return times[0], statistics.median(times[1:])


def time_browser(ws: Path, repeat: int) -> None:
    """Optional: the leaderboard in headless Chromium against `streamlit run` (needs /usr/bin/chromium)."""
    from playwright.sync_api import sync_playwright

    from viz.launch import serve_app

    with serve_app(ws) as url:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page()
            times = []
            for _ in range(1 + repeat):
                started = time.perf_counter()
                page.goto(url + "/?page=leaderboard")
                page.wait_for_selector(
                    '[role="gridcell"][aria-colindex="2"]', state="attached", timeout=120_000
                )
                page.wait_for_selector(".js-plotly-plot", state="attached", timeout=120_000)
                times.append(time.perf_counter() - started)
            browser.close()
        print(
            f"{'browser':<14}{times[0]:>16.2f}{statistics.median(times[1:]):>20.3f}   "
            "(Chromium: navigation until the table and chart are in the page)"
        )


def main() -> None:
    """Build (or reuse) the workspace, time the pages and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "folder", nargs="?", type=Path, default=None, help="workspace folder (reused if it has runs)"
    )
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--battles", type=int, default=200_000, help="battles in the latest run")
    parser.add_argument("--history-battles", type=int, default=10_000, help="battles in each earlier run")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap rounds for the latest run")
    parser.add_argument("--repeat", type=int, default=5, help="cached reloads per page")
    parser.add_argument("--judgment-chars", type=int, default=1500,
                        help="judge text per judgment in the latest run's judgments.jsonl (0: no judgments file)")
    parser.add_argument(
        "--browser", action="store_true", help="also time the leaderboard in headless Chromium"
    )
    args = parser.parse_args()
    print(machine_info())
    ws = args.folder or Path(tempfile.mkdtemp(prefix="viz-speed-", dir="."))
    ws = ws.resolve()
    if (ws / "runs").is_dir() and any((ws / "runs").iterdir()):
        print(f"reusing workspace {ws}")
    else:
        print(f"building workspace {ws}: {args.models} models, {args.runs} runs")
        started = time.perf_counter()
        total = build(ws, args.models, args.runs, args.battles, args.history_battles, args.bootstrap,
                      args.judgment_chars)
        print(f"  {total:,} battles in total, built in {time.perf_counter() - started:.1f} s")
    os.environ["ARENA_WORKSPACE"] = str(ws)
    import logging

    logging.getLogger("streamlit").setLevel(logging.ERROR)
    print(f"\n{'page':<14}{'first load (s)':>16}{'cached reload (s)':>20}")
    for page in PAGES:
        first, cached = time_page(ws, page, args.repeat)
        print(f"{page:<14}{first:>16.2f}{cached:>20.3f}")
    first, cached = time_judge_refit(args.repeat)
    print(
        f"{'judge filter':<14}{first:>16.2f}{cached:>20.3f}   (leaderboard refitted from one judge's battles)"
    )
    if args.browser:
        time_browser(ws, args.repeat)
    print(f"\nworkspace kept at {ws} (delete it when done)")


if __name__ == "__main__":
    main()
