"""Every performance target of the rating engine at scale, each beside its floor and FastChat's way.

Each figure is measured in a fresh process (so one measurement's memory does not inflate the next). With
`--before DIR` (a checkout of an older commit, e.g. `git worktree add /tmp/old <commit>` or
`git archive <commit> | tar -x -C /tmp/old`), every target is also measured on that engine, back to back
with the current one, so both see the same machine load; CPU time (all threads) is printed beside wall time,
as it is less disturbed by other processes (its benchmarks/rating_*.py are overwritten with
these, so both engines are timed by the same code). The machine is usually shared: the load average
is printed before and after.

Targets (issue "Ratings at scale"):
- `arena rate` 1.5M battles, 150 models, fit + 1000 bootstrap rounds: <= 5 s wall, <= 400 MB, <= 2x reading
  the file (the read floor: pyarrow.json.read_json of the same file, nothing else)
- 3M battles: <= 8 s, memory no higher than for 1.5M
- 1.5M battles, 1000 models, fit + 1000 rounds: <= 15 s (from pair counts: the file read is the same as above)
- all categories + overall in one call: <= 2x the overall fit alone (both with 1000 rounds, streamed counts)
- style control, fit + 1000 rounds: <= 30 s on 200k battles, <= 60 s on 1.5M
- Elo, 100 permutation rounds on 1.5M: <= 10 s
FastChat's way, in the same process: one optimiser fit per bootstrap round (BT, style control) or one
per-battle Python pass per round (Elo), timed on a few rounds and scaled to the full count.

Run: python benchmarks/rating_targets.py [--before DIR] [--only rate150,rate3m,models1000,categories,style200k,
style1500k,elo] [--rounds 1000] [--before-rounds 100] [--data .bench-data]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGETS = {
    "rate150": ("`arena rate` 1.5M battles, 150 models, 1000 rounds", 5.0),
    "rate3m": ("`arena rate` 3M battles, 150 models, 1000 rounds", 8.0),
    "models1000": ("1.5M battles, 1000 models, fit + 1000 rounds (counts)", 15.0),
    "categories": ("3 categories + overall in one call (1.5M, 1000 rounds)", None),
    "style200k": ("style control 200k battles, fit + 1000 rounds", 30.0),
    "style1500k": ("style control 1.5M battles, fit + 1000 rounds", 60.0),
    "elo": ("Elo 1.5M battles, 100 permutation rounds", 10.0),
}


def load() -> str:
    """The machine's load average."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def measure(name: str, data: Path, style_rounds: int) -> dict:
    """One target's figures, in this process (the engine is whatever `arena` is first on sys.path)."""
    import numpy as np

    sys.path.insert(0, str(HERE))
    if name in ("rate150", "rate3m"):
        import pyarrow.json as pajson
        from rating_read_speed import RUNNER, write_jsonl

        n = 1_500_000 if name == "rate150" else 3_000_000
        path = write_jsonl(data / f"battles-{n}.jsonl", n)
        start = time.perf_counter()
        pajson.read_json(path)
        floor = time.perf_counter() - start
        argv = [sys.executable, "-c", RUNNER, "rate", str(path), "--bootstrap", "1000", "--format", "csv"]
        start = time.perf_counter()
        out = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=os.getcwd()).stdout
        wall = time.perf_counter() - start
        _, _, _, peak, cpu = next(x for x in out.splitlines() if x.startswith("RESULT")).split()
        imports = subprocess.run([sys.executable, "-X", "importtime", "-m", "arena.cli", "rate", "--help"],
                                 capture_output=True, text=True, cwd=os.getcwd(), check=False).stderr
        import_s = sum(int(line.split("|")[0].split(":")[1]) for line in imports.splitlines()
                       if line.startswith("import time:") and line.split("|")[0].split(":")[1].strip().isdigit()) / 1e6
        figures = {"time": wall, "cpu": float(cpu), "peak_mb": float(peak), "floor": floor, "imports": import_s}
        if n != 1_500_000:
            return figures
        from rating_speed import agg_and_fit, synthetic_battles

        from arena.rating.bootstrap import resample_counts
        from arena.rating.bt import fit_lbfgs

        battles, _ = synthetic_battles(n, 150, seed=0)  # FastChat's way: one L-BFGS fit per round, scaled
        _, theta, counts = agg_and_fit(battles)
        start = time.perf_counter()
        for row in next(resample_counts(counts, 3, seed=0)):
            s, w = counts.pair_stats(row)
            fit_lbfgs(counts.pair_i, counts.pair_j, s, w, counts.n_models, 0.0, theta)
        fastchat = (time.perf_counter() - start) / 3 * 1000
        return {**figures, "fastchat": fastchat}
    from rating_math_speed import codes, styled
    from rating_speed import agg_and_fit, synthetic_battles

    from arena.rating.bootstrap import bootstrap_bt, resample_counts
    from arena.rating.bt import fit_lbfgs, fit_point

    if name == "models1000":
        battles, _ = synthetic_battles(1_500_000, 1000, seed=0)
        start, cpu0 = time.perf_counter(), time.process_time()
        _, theta, counts = agg_and_fit(battles)
        t_fit, cpu_fit = time.perf_counter() - start, time.process_time() - cpu0
        start, cpu0 = time.perf_counter(), time.process_time()
        bootstrap_bt(counts, theta, style_rounds, seed=0, prior_weight=0.01)
        total = t_fit + (time.perf_counter() - start) * 1000 / style_rounds
        cpu = cpu_fit + (time.process_time() - cpu0) * 1000 / style_rounds
        batch = next(resample_counts(counts, 2, seed=0))
        start = time.perf_counter()
        for row in batch:
            s, w = counts.pair_stats(row)
            fit_lbfgs(counts.pair_i, counts.pair_j, s, w, counts.n_models, 0.0, theta)
        return {"time": total, "cpu": cpu, "fastchat": (time.perf_counter() - start) / len(batch) * 1000,
                "scaled_from": style_rounds}
    if name == "categories":
        from rating_read_speed import write_jsonl

        from arena.rating.leaderboard import rate_all, rate_battles
        from arena.rating.options import RatingOptions
        from arena.rating.summary import battles_for_rating

        options = RatingOptions(bootstrap=1000, seed=0)
        summary = battles_for_rating(write_jsonl(data / "battles-1500000.jsonl", 1_500_000), options)
        start = time.perf_counter()
        rate_battles(summary, options)
        floor = time.perf_counter() - start
        start, cpu0 = time.perf_counter(), time.process_time()
        _, per_category, _ = rate_all(summary, options)
        return {"time": time.perf_counter() - start, "cpu": time.process_time() - cpu0, "floor": floor,
                "categories": len(per_category)}
    if name.startswith("style"):
        from arena.rating.style import fit_style, style_control, style_features

        n = 200_000 if name == "style200k" else 1_500_000
        battles = styled(n, 150, seed=3)
        x, names, _ = style_features(battles)
        a, b, m = codes(battles)
        s, w = battles["score"].to_numpy(float), battles["weight"].to_numpy(float)
        start, cpu0 = time.perf_counter(), time.process_time()
        params = fit_style(a, b, x, s, w, m)
        t_fit, cpu_fit = time.perf_counter() - start, time.process_time() - cpu0
        start, cpu0 = time.perf_counter(), time.process_time()
        style_control(a, b, x, names, s, w, m, style_rounds, seed=0, prior_weight=0.01)
        t_boot, cpu_boot = time.perf_counter() - start, time.process_time() - cpu0  # includes its own point fit
        per_round = max(t_boot - t_fit, 0.0) / style_rounds
        cpu = cpu_fit + max(cpu_boot - cpu_fit, 0.0) / style_rounds * 1000
        rng = np.random.default_rng(0)
        start = time.perf_counter()
        k = np.bincount(rng.integers(0, n, n), minlength=n)
        fit_style(a[k > 0], b[k > 0], x[k > 0], s[k > 0], (w * k)[k > 0], m, 0.0, params)
        t_one = time.perf_counter() - start
        # the 3x target: plain BT (counts, fit + 1000 rounds) on the same battles, and the
        # style bootstrap's resampling of battles alone (1000 rounds, scaled from 50)
        from arena.rating.counts import aggregate
        from arena.rating.style_refit import draw_battles

        counts = aggregate(battles)
        start = time.perf_counter()
        pair_s, pair_n = counts.pair_stats()
        theta = fit_point(counts.pair_i, counts.pair_j, pair_s, pair_n, counts.n_models, 0.0)
        bootstrap_bt(counts, theta, 1000, seed=0, prior_weight=0.01)
        t_bt = time.perf_counter() - start
        cpu0 = time.process_time()
        for _ in range(50):
            draw_battles(rng, n)
        draw_cpu = (time.process_time() - cpu0) * 1000 / 50
        return {"time": t_fit + per_round * 1000, "cpu": cpu, "fastchat": t_fit + t_one * 1000,
                "scaled_from": style_rounds, "plain_bt": t_bt, "draw_cpu": draw_cpu}
    if name == "elo":
        from arena.rating.elo import bootstrap_elo, online_elo

        battles, _ = synthetic_battles(1_500_000, 150, seed=5)
        a, b, m = codes(battles)
        s, w = battles["score"].to_numpy(float), battles["weight"].to_numpy(float)
        start, cpu0 = time.perf_counter(), time.process_time()
        bootstrap_elo(a, b, s, w, m, 100, seed=0)
        total, cpu = time.perf_counter() - start, time.process_time() - cpu0
        start = time.perf_counter()
        online_elo(a, b, s, w, m)
        return {"time": total, "cpu": cpu, "fastchat": (time.perf_counter() - start) * 100}
    raise SystemExit(f"unknown target {name}")


def run(root: Path, name: str, data: Path, style_rounds: int) -> dict:
    """Measure one target in a fresh process with `root`'s engine."""
    script = root / "benchmarks" / Path(__file__).name
    if root.resolve() != HERE.parent:  # an older checkout measured with today's benchmark code
        for helper in ("rating_targets.py", "rating_speed.py", "rating_math_speed.py", "rating_read_speed.py"):
            (root / "benchmarks" / helper).write_bytes((HERE / helper).read_bytes())
    argv = [sys.executable, str(script), "--measure", name, "--data", str(data.resolve()),
            "--rounds", str(style_rounds)]
    env = dict(os.environ, PYTHONPATH=str(root))
    out = subprocess.run(argv, capture_output=True, text=True, cwd=root, env=env, check=False)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def describe(name: str, fig: dict) -> str:
    """One measured figure as text."""
    if "error" in fig:
        return f"error: {fig['error']}"
    text = f"{fig['time']:.1f} s" + (f" (CPU {fig['cpu']:.1f} s)" if "cpu" in fig else "")
    if "peak_mb" in fig:
        text += f", {fig['peak_mb']:.0f} MB, imports {fig['imports']:.1f} s"
    if "scaled_from" in fig and fig["scaled_from"] < 1000:
        text += f" (from {fig['scaled_from']} rounds)"
    return text


def main() -> None:
    """Print the targets table (and the older engine's figures with --before)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, help="checkout of an older engine to measure back to back")
    parser.add_argument("--only", default=",".join(TARGETS))
    parser.add_argument("--data", type=Path, default=Path(".bench-data"))
    parser.add_argument("--rounds", type=int, default=1000, dest="style_rounds",
                        help="bootstrap rounds actually run for models1000 and style control (the 1000-round "
                        "figure is the fit plus the measured rounds scaled; the time per round is constant)")
    parser.add_argument("--before-rounds", type=int, default=100, dest="before_style_rounds",
                        help="the same for the older engine (its style bootstrap can take many minutes)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.data, args.style_rounds)))
        return
    sys.path.insert(0, str(HERE))
    from rating_speed import machine_info

    print(machine_info())
    print(f"load average at start: {load()} ({os.cpu_count()} cores; other processes slow every figure down)")
    print("| target | limit | before | now | floor / ratio | FastChat's way |")
    print("|---|---|---|---|---|---|")
    root = HERE.parent
    for name in args.only.split(","):
        title, limit = TARGETS[name]
        before = run(args.before, name, args.data, args.before_style_rounds) if args.before else None
        now = run(root, name, args.data, args.style_rounds)
        floor = ""
        if "floor" in now and name.startswith("rate"):
            floor = f"read {now['floor']:.1f} s; {now['time'] / now['floor']:.1f}x (limit 2x)"
        elif "floor" in now:
            floor = f"overall alone {now['floor']:.1f} s; {now['time'] / now['floor']:.1f}x (limit 2x)"
        elif "plain_bt" in now:
            floor = (f"plain BT {now['plain_bt']:.1f} s: {now['time'] / now['plain_bt']:.0f}x (3x wanted); "
                     f"resampling the battles alone: {now['draw_cpu']:.1f} s CPU")
        fastchat = f"{now['fastchat']:.0f} s" if "fastchat" in now else ""
        if name.startswith("rate") and "fastchat" in now:
            fastchat = f"{now['fastchat']:.0f} s (bootstrap alone)"
        limit_text = f"{limit:.0f} s" if limit else "2x"
        print(f"| {title} | {limit_text} | {describe(name, before) if before else ''} | {describe(name, now)} "
              f"| {floor} | {fastchat} |", flush=True)
    print(f"load average at the end: {load()}")


if __name__ == "__main__":
    main()
