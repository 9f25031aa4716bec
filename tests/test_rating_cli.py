"""`arena rate` run as a real subprocess on a small JSONL file."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from arena.rating.cli import register

ROOT = Path(__file__).resolve().parents[1]
ROWS = [
    ("gpt-4", "llama", "model_a"),
    ("llama", "gpt-4", "model_b"),
    ("gpt-4", "mixtral", "tie"),
    ("mixtral", "llama", "model_a"),
    ("llama", "mixtral", "tie (bothbad)"),
    ("mixtral", "gpt-4", "model_b"),
    ("gpt-4", "llama", "model_b"),
    ("mixtral", "llama", "model_b"),
]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the rating CLI in a subprocess from the repo root."""
    return subprocess.run(
        [sys.executable, "-m", "arena.rating.cli", "rate", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture()
def battles(tmp_path: Path) -> Path:
    path = tmp_path / "battles.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "model_a": a,
                    "model_b": b,
                    "winner": w,
                    "category": "chat",
                    "len_a": 100 + 10 * i,
                    "len_b": 90 + 5 * i,
                }
            )
            + "\n"
            for i, (a, b, w) in enumerate(ROWS * 3)
        )
    )
    return path


def test_table_output(battles: Path) -> None:
    proc = run(str(battles), "--bootstrap", "50", "--seed", "1")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:3] == ["rank", "model", "rating"]
    assert lines[1].split()[1] == "gpt-4"


def test_json_output_with_anchor_from_run_folder(battles: Path) -> None:
    proc = run(str(battles.parent), "--bootstrap", "30", "--anchor", "mixtral=1114", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    rows = {r["model"]: r for r in data["table"]}
    assert rows["mixtral"]["rating"] == pytest.approx(1114.0)
    assert data["options"]["anchor"] == ["mixtral", 1114.0]
    assert len(data["winrate_matrix"]["models"]) == 3


def test_csv_to_file_baseline_elo_and_category(battles: Path, tmp_path: Path) -> None:
    out = tmp_path / "lb.csv"
    proc = run(
        str(battles),
        "--bootstrap",
        "20",
        "--baseline",
        "llama",
        "--method",
        "elo",
        "--category",
        "chat",
        "--format",
        "csv",
        "-o",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    header = out.read_text().splitlines()[0].split(",")
    assert header[:5] == ["model", "rating", "ci_low", "ci_high", "rank"] and "score" in header


def test_style_control_prints_coefficients(battles: Path) -> None:
    proc = run(str(battles), "--bootstrap", "10", "--style-control")
    assert proc.returncode == 0, proc.stderr
    assert "style coefficients" in proc.stdout and "length" in proc.stdout


def test_errors_exit_2_with_message(tmp_path: Path, battles: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"model_a": "x", "model_b": "y", "winner": "model_c"}\n')
    proc = run(str(bad))
    assert proc.returncode == 2
    assert f"{bad}:1: field 'winner'" in proc.stderr and "Traceback" not in proc.stderr
    proc = run(str(battles), "--anchor", "unknown=1000", "--bootstrap", "0")
    assert proc.returncode == 2 and "anchor model 'unknown'" in proc.stderr


def test_warnings_go_to_stderr(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    path.write_text('{"model_a": "x", "model_b": "y", "winner": "tie"}\n')
    proc = run(str(path), "--bootstrap", "10")
    assert proc.returncode == 0, proc.stderr
    assert "warning: every battle is a tie" in proc.stderr


def test_register_sets_func() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["rate", "x.jsonl", "--anchor", "a=b=1114"])
    assert callable(args.func) and args.anchor == "a=b=1114" and args.bootstrap == 1000


def test_all_categories_in_one_call_equal_separate_category_calls(tmp_path: Path) -> None:
    import io

    import pandas as pd

    rows = [
        {"model_a": a, "model_b": b, "winner": w, "category": c}
        for c, shift in (("math", 0), ("code", 1))
        for i in range(60)
        for a, b, w in [(ROWS[(i + shift) % len(ROWS)])]
    ]
    path = tmp_path / "battles.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    common = [str(path), "--bootstrap", "30", "--seed", "3", "--format", "csv"]
    together = run(*common, "--all-categories")
    assert together.returncode == 0, together.stderr
    table = pd.read_csv(io.StringIO(together.stdout), keep_default_na=False)
    assert list(table.columns[:2]) == ["category", "model"]
    assert sorted(set(table["category"])) == ["", "code", "math"]
    for category in ("", "math", "code"):
        alone = run(*common, *(["--category", category] if category else []))
        assert alone.returncode == 0, alone.stderr
        expected = pd.read_csv(io.StringIO(alone.stdout), keep_default_na=False)
        got = table[table["category"] == category].drop(columns="category").reset_index(drop=True)
        pd.testing.assert_frame_equal(got[expected.columns], expected, check_dtype=False)
    payload = json.loads(run(str(path), "--bootstrap", "0", "--format", "json", "--all-categories").stdout)
    assert sorted(payload["categories"]) == ["code", "math"]
    assert payload["categories"]["math"]["n_battles"] == 60
    both = run(str(path), "--all-categories", "--category", "math")
    assert both.returncode == 2 and "not allowed with" in both.stderr


def test_without_a_bootstrap_no_interval_is_shown_and_ranks_follow_the_points(tmp_path, capsys):
    from arena.cli import main

    path = tmp_path / "near.jsonl"
    rows = [{"model_a": "a", "model_b": "b", "winner": w} for w in ["model_a"] * 11 + ["model_b"] * 10]
    rows += [{"model_a": "b", "model_b": "c", "winner": w} for w in ["model_a"] * 12 + ["model_b"] * 8]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["rate", str(path), "--bootstrap", "0", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    table = doc["table"]
    assert all(r["ci_low"] is None and r["ci_high"] is None for r in table)  # no zero-width 'certainty'
    assert [r["model"] for r in table] == ["a", "b", "c"] and [r["rank"] for r in table] == [1, 2, 3]
    assert "ranks by point rating alone" in doc["resampling"]
    assert main(["rate", str(path), "--bootstrap", "0"]) == 0
    assert "top by point rating (no intervals, so not shown to be separated): a" in capsys.readouterr().out


def test_output_format_follows_the_suffix_and_never_overwrites_the_input(tmp_path, capsys):
    from arena.cli import main

    path = tmp_path / "b.jsonl"
    rows = [{"model_a": "a", "model_b": "b", "winner": w, "category": c}
            for w, c in [("model_a", "x"), ("model_b", "x"), ("model_a", ""), ("tie", "y"), ("model_a", "y")] * 4]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = path.read_text()
    assert main(["rate", str(path), "--bootstrap", "5", "--format", "json", "-o", str(path)]) == 2
    assert "would be overwritten" in capsys.readouterr().err and path.read_text() == before
    assert main(["rate", str(path), "--bootstrap", "5", "-o", str(tmp_path / "lb.json")]) == 0
    assert json.loads((tmp_path / "lb.json").read_text())["table"][0]["model"] == "a"  # JSON, from the suffix
    assert main(["rate", str(path), "--bootstrap", "5", "--all-categories", "-o", str(tmp_path / "lb.csv")]) == 0
    import pandas as pd

    frame = pd.read_csv(tmp_path / "lb.csv", keep_default_na=False)
    assert sorted(frame["category"].unique()) == ["", "x", "y"]  # '' is overall; the ''-category battles count there
    assert len(frame[frame["category"] == ""]) == 2  # two models, once
    pairs = pd.read_csv(tmp_path / "lb_head_to_head.csv", keep_default_na=False)
    assert not pairs.duplicated(["category", "model", "opponent"]).any()  # the app reshapes it into matrices
    assert main(["rate", str(path), "--format", "csv", "-o", str(tmp_path / "lb2.json")]) == 2
    assert "does not match" in capsys.readouterr().err


def test_elo_refuses_weights_that_would_swing_the_ratings_without_bound(tmp_path, capsys):
    from arena.cli import main

    path = tmp_path / "w.jsonl"
    rows = [{"model_a": "a", "model_b": "b", "winner": "model_a", "weight": 100.0}] * 3
    rows += [{"model_a": "b", "model_b": "a", "winner": "model_a"}] * 3
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["rate", str(path), "--method", "elo", "--bootstrap", "0"]) == 2
    err = capsys.readouterr().err
    assert "largest weight, 100, times K=4 is not below the scale 400" in err and "Traceback" not in err
    assert main(["rate", str(path), "--method", "bt", "--bootstrap", "0"]) == 0  # weights are counts in BT


def test_an_interrupted_rate_says_nothing_was_written_and_keeps_the_old_output(tmp_path: Path) -> None:
    """`arena rate` writes its outputs at the end: Ctrl-C leaves an earlier output as it was and says so (not
    "finished work is saved", which is true of `arena run` only)."""
    import signal
    import time

    rng = np.random.default_rng(0)
    models = [f"m{k}" for k in range(30)]
    lines = [json.dumps({"model_a": models[a], "model_b": models[(a + 1 + rng.integers(0, 29)) % 30],
                         "winner": ["model_a", "model_b", "tie"][rng.integers(0, 3)]}) for a in rng.integers(0, 30, 20000)]
    battles = tmp_path / "b.jsonl"
    battles.write_text("\n".join(lines) + "\n")
    out = tmp_path / "board.csv"
    out.write_text("earlier output\n")
    proc = subprocess.Popen([sys.executable, "-m", "arena.cli", "rate", str(battles), "--method", "elo",
                             "--bootstrap", "100000", "-o", str(out), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted: nothing was written (an output file from before is unchanged)" in err
    assert out.read_text() == "earlier output\n"
