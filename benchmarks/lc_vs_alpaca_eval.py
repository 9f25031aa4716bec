"""Arena's length-controlled win rate beside alpaca_eval's own GLM code and the published AlpacaEval 2 LC.

Usage: python benchmarks/lc_vs_alpaca_eval.py [--data ../shared/data/alpaca-eval] [--peer-python PY]

Arena side: `arena import alpaca-eval` of the five real annotation files, then
`arena leaderboard RUN --format csv --lc-difficulty instruction_difficulty.csv` (the CLI, as a user runs it).
alpaca_eval side: its `get_length_controlled_winrate` (alpaca_eval 0.6.6, installed in a separate venv,
default /work/peers-venv) run in a subprocess with this script's `--peer` mode. It downloads the difficulty
(and the gamed-baseline annotations, df_gamed.csv) from a model hub; here its download function is pointed
at a local df_gamed.csv that holds only the published difficulty, and the GLM is its `length_controlled_noreg`
variant, because the gamed-baseline annotations are not available offline. alpaca_eval joins the difficulty by
row position: it is run twice, on the files as they are (position join) and with each row's eval-set position
as the index (aligned, the same input Arena gets through its text join).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "alpaca-eval"
# AlpacaEval's published GLM weights (tanh length, difficulty, model) for these models, from
# tatsu-lab/alpaca_eval src/alpaca_eval/metrics/weights/weighted_alpaca_eval_gpt4_turbo/length_controlled_v1/
# baseline_gpt4_1106_preview.csv: fitted WITH the gamed-baseline rows.
PUBLISHED_WEIGHTS = {
    "claude-2": (-1.8739694447471489, 0.9967331116898248, -1.1814326793306524),
    "falcon-7b-instruct": (-1.9554984210635040, 0.9197438703191234, -4.0502215536568924),
    "Qwen-14B-Chat": (-1.9362606327202221, 1.1516389891012428, -2.8246472505882005),
    "alpaca-7b_verbose": (-1.8936896179217435, 0.5782373406372456, -2.9194172044997817),
    "gpt-3.5-turbo-1106_concise": (-2.1447476270691985, 1.0843791219409102, -2.3265767613803403),
}


def _fake_gamed(diff, gamed: list[str]):
    """df_gamed.csv as alpaca_eval reads it: gamed-baseline rows (or one placeholder row per instruction when
    none are given: then only its difficulty column is used) with their eval-set index and difficulty."""
    import pandas as pd

    if not gamed:
        return pd.DataFrame({"model": "none", "index": diff["index"], "preference": 0.5, "std_delta_len": 0.0,
                             "instruction_difficulty": diff["instruction_difficulty"], "not_gamed_baseline": False})
    position = {" ".join(t.split()): i for i, t in zip(diff["index"], diff["instruction"])}
    parts = []
    for f in gamed:
        ann = pd.read_json(f)
        delta = ann["output_1"].str.len() - ann["output_2"].str.len()
        idx = ann["instruction"].map(lambda t: position[" ".join(t.split())])
        parts.append(pd.DataFrame({"model": ann["generator_2"], "index": idx, "preference": ann["preference"] - 1,
                                   "std_delta_len": delta / delta.std(), "not_gamed_baseline": False,
                                   "instruction_difficulty": diff.set_index("index").loc[idx,
                                                                                          "instruction_difficulty"].to_numpy()}))
    out = pd.concat(parts, ignore_index=True)
    # alpaca_eval looks difficulty up by the ROW LABEL of each index's first row: the first file must be complete
    assert out["index"].iloc[: len(diff)].tolist() == diff["index"].tolist(), "first gamed file must be complete"
    return out


def peer(spec: dict) -> None:
    """Runs inside the alpaca_eval venv: its GLM on each file, position-joined and aligned; prints JSON."""
    import pandas as pd
    from alpaca_eval.metrics import glm_winrate as g

    diff = pd.read_csv(spec["difficulty"]).sort_values("index").reset_index(drop=True)
    glm = g.GLM_INFO["length_controlled_v1" if spec["gamed"] else "length_controlled_noreg"]
    with tempfile.TemporaryDirectory() as tmp:
        fake = Path(tmp) / "df_gamed.csv"
        _fake_gamed(diff, spec["gamed"]).to_csv(fake, index=False)
        g.hf_hub_download = lambda *a, **k: str(fake)  # no model hub here: the local file instead
        position = {" ".join(t.split()): i for i, t in zip(diff["index"], diff["instruction"])}
        out = {}
        for f in spec["files"]:
            ann = pd.read_json(f)
            model = ann["generator_2"].iloc[0]
            res = {}
            for how in ("position", "aligned"):
                df = ann.copy()
                if how == "aligned":
                    df.index = df["instruction"].map(lambda t: position[" ".join(t.split())]).to_numpy()
                m = g.get_length_controlled_winrate(df, glm_info=glm, save_weights_dir=None,
                                                    is_add_glm_preference_inplace=False,
                                                    is_warn_extreme_changes=False)
                res[how] = {"lc": float(m["length_controlled_winrate"]), "se": float(m["lc_standard_error"])}
            out[model] = res
    print(json.dumps(out))


def arena_side(data: Path, files: list[Path], tmp: Path, gamed: list[Path]) -> dict[str, dict[str, float]]:
    """Arena through its CLI: import, then the leaderboard with the published difficulty (CSV)."""
    import io

    import pandas as pd

    run = tmp / "run"
    cmd = [sys.executable, "-m", "arena.cli"]
    if not run.exists():
        subprocess.run([*cmd, "import", "alpaca-eval", *map(str, files), "-o", str(run), "--bootstrap", "0"],
                       check=True, capture_output=True, text=True)
    extra = [a for g in gamed for a in ("--lc-gamed", str(g))]
    out = subprocess.run([*cmd, "leaderboard", str(run), "--format", "csv", "--lc-difficulty",
                          str(data / "instruction_difficulty.csv"), *extra], check=True, capture_output=True, text=True)
    table = pd.read_csv(io.StringIO(out.stdout)).set_index("model")
    return {m: {"lc": r["length_controlled_winrate"], "se": r["lc_standard_error"], "glm": r["lc_glm"]}
            for m, r in table.iterrows()}


def published_weights_lc(data: Path) -> dict[str, float]:
    """LC from AlpacaEval's published weights and the published difficulty (checks the difficulty file)."""
    import numpy as np
    import pandas as pd

    d = pd.read_csv(data / "instruction_difficulty.csv")["instruction_difficulty"].to_numpy(float)
    return {m: float(np.mean(1 / (1 + np.exp(-(w[2] + w[1] * d)))) * 100) for m, w in PUBLISHED_WEIGHTS.items()}


STAND_INS = ("gpt-3.5-turbo-1106_concise", "falcon-7b-instruct")  # complete files, playing the gamed baselines


def run_peer(python: str, spec: dict) -> dict:
    """alpaca_eval's side, in its own venv."""
    proc = subprocess.run([python, __file__, "--peer", json.dumps(spec)], check=False, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"alpaca_eval run failed ({python}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def arena_coefficients(data: Path, files: list[Path]) -> dict[str, tuple[float, float, float]]:
    """Arena's fitted (length, difficulty, model) coefficients, through the Python API, for the gap table."""
    import pandas as pd

    from arena.interop.lc_inputs import read_difficulty
    from arena.interop.lc_winrate import lc_win_rates

    rows = pd.concat([pd.read_json(f) for f in files], ignore_index=True)
    frame = pd.DataFrame({"model": rows["generator_2"], "instruction": rows["instruction"],
                          "p": rows["preference"] - 1, "len_model": rows["output_2"].str.len(),
                          "len_baseline": rows["output_1"].str.len()})
    report = lc_win_rates(frame, read_difficulty(data / "instruction_difficulty.csv"))
    return {m: (r.coef_length, r.coef_difficulty, r.coef_model) for m, r in report.results.items()}


def main() -> None:
    """Print Arena, alpaca_eval (aligned and position-joined) and published LC side by side."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--peer-python", default="/work/peers-venv/bin/python")
    ap.add_argument("--peer", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer:
        peer(json.loads(args.peer))
        return
    import pandas as pd

    files = sorted(args.data.glob("annotations/*/annotations.json"))
    difficulty = str(args.data / "instruction_difficulty.csv")
    with tempfile.TemporaryDirectory() as tmp:
        arena = arena_side(args.data, files, Path(tmp), [])
        stand = [f for name in STAND_INS for f in files if f.parent.name == name]
        arena_v1 = arena_side(args.data, files, Path(tmp), stand)
    ae = run_peer(args.peer_python, {"difficulty": difficulty, "gamed": [], "files": list(map(str, files))})
    rest = [f for f in files if f not in stand]
    ae_v1 = run_peer(args.peer_python, {"difficulty": difficulty, "gamed": list(map(str, stand)),
                                        "files": list(map(str, rest))})
    pub = pd.read_csv(args.data / "published_leaderboard_rows.csv").set_index("model")
    from_weights = published_weights_lc(args.data)
    coefs = arena_coefficients(args.data, files)
    print(f"1. Real files. Arena GLM: {next(iter(arena.values()))['glm']}; alpaca_eval 0.6.6 GLM: "
          "length_controlled_noreg; both with the published instruction difficulty\n")
    print(f"{'model':28s} {'Arena LC':>9s} {'SE':>5s} {'ae LC':>9s} {'SE':>5s} {'diff':>7s} "
          f"{'ae pos-join':>11s} {'published':>9s} {'Arena-pub':>9s} {'pub weights':>11s}")
    worst = 0.0
    for model in pub.index:
        a, e = arena[model], ae[model]
        diff = a["lc"] - e["aligned"]["lc"]
        worst = max(worst, abs(diff))
        p = pub.loc[model, "length_controlled_winrate"]
        print(f"{model:28s} {a['lc']:9.3f} {a['se']:5.2f} {e['aligned']['lc']:9.3f} {e['aligned']['se']:5.2f} "
              f"{diff:+7.3f} {e['position']['lc']:11.3f} {p:9.3f} {a['lc'] - p:+9.3f} {from_weights[model]:11.3f}")
    print(f"\nmax |Arena - alpaca_eval code| = {worst:.3f} points (target <= 0.2)")
    print("ae pos-join: alpaca_eval on the file as it is (difficulty by row position: wrong after a missing row).")
    print("pub weights: AlpacaEval's published per-model GLM weights applied to the published difficulty.\n")
    print("Why Arena differs from the published LC: the coefficients (tanh length, difficulty, model)")
    print(f"{'model':28s} {'Arena (no gamed rows)':>26s} {'published (gamed rows)':>26s}")
    for model in pub.index:
        c, w = coefs[model], PUBLISHED_WEIGHTS[model]
        print(f"{model:28s} {c[0]:8.3f} {c[1]:8.3f} {c[2]:8.3f} {w[0]:8.3f} {w[1]:8.3f} {w[2]:8.3f}")
    print(f"\n2. The gamed-baseline path (length_controlled_v1), checked with {' and '.join(STAND_INS)} standing "
          "in for the gamed baselines' files (not real gamed baselines: this checks the code path, not the "
          "published numbers)\n")
    print(f"{'model':28s} {'Arena LC':>9s} {'SE':>5s} {'ae LC':>9s} {'SE':>5s} {'diff':>7s}")
    worst_v1 = 0.0
    for model, e in ae_v1.items():
        a = arena_v1[model]
        diff = a["lc"] - e["aligned"]["lc"]
        worst_v1 = max(worst_v1, abs(diff))
        print(f"{model:28s} {a['lc']:9.3f} {a['se']:5.2f} {e['aligned']['lc']:9.3f} {e['aligned']['se']:5.2f} "
              f"{diff:+7.3f}   ({a['glm']})")
    print(f"\nmax |Arena - alpaca_eval code| with gamed rows = {worst_v1:.3f} points (target <= 0.2)")


if __name__ == "__main__":
    main()
