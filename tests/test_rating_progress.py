"""`arena rate` shows a running count of bootstrap rounds on a terminal; library callers see nothing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from test_rating_bt import make_battles
from test_rating_style_refit import styled_arrays

from arena.rating import RatingOptions, rate_battles
from arena.rating.bootstrap import bootstrap_bt
from arena.rating.bt import fit_point
from arena.rating.cli import main
from arena.rating.counts import aggregate
from arena.rating.elo import bootstrap_elo
from arena.rating.progress import reporting_rounds
from arena.rating.style import style_control


def test_bt_and_style_bootstraps_report_every_round_in_batches() -> None:
    counts = aggregate(make_battles(400, [0, 40, 90, -30], 1))
    s, n = counts.pair_stats()
    theta = fit_point(counts.pair_i, counts.pair_j, s, n, counts.n_models, 0.0)
    seen: list[int] = []
    with reporting_rounds(seen.append):
        bootstrap_bt(counts, theta, 130, seed=0, prior_weight=0.01)
    assert sum(seen) == 130 and len(seen) >= 3  # batches of at most 50 rounds
    seen.clear()
    a, b, x, s, w = styled_arrays(300, 4, 2)
    with reporting_rounds(seen.append):
        style_control(a, b, x, ["f1", "f2"], s, w, 4, n_rounds=70, seed=1, prior_weight=0.01)
    assert sum(seen) == 70 and len(seen) >= 2
    seen.clear()
    battles = make_battles(600, [0, 40, 90, -30], 2)
    codes = {m: k for k, m in enumerate(sorted(set(battles["model_a"]) | set(battles["model_b"])))}
    with reporting_rounds(seen.append):  # rounds advance together: credited as their battles are played
        bootstrap_elo(battles["model_a"].map(codes).to_numpy(), battles["model_b"].map(codes).to_numpy(),
                      battles["score"].to_numpy(float), np.ones(len(battles)), len(codes), 30, seed=0, chunk=20,
                      window=64, lanes=256)
    assert sum(seen) == 30 and len(seen) >= 4 and max(seen) < 20  # two chunks, each over several blocks
    seen.clear()
    rate_battles(make_battles(200, [0, 50], 3), RatingOptions(bootstrap=40))  # outside the block: nobody hears
    assert seen == []


def _battles_file(tmp_path: Path) -> Path:
    path = tmp_path / "b.jsonl"
    rows = make_battles(300, [0, 40, 90], 4)[["model_a", "model_b", "winner"]].to_dict(orient="records")
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_rate_counts_rounds_on_a_terminal_only_and_output_is_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _battles_file(tmp_path)
    assert main(["rate", str(path), "--bootstrap", "120", "--format", "csv"]) == 0
    plain = capsys.readouterr()
    assert "rounds" not in plain.err  # not a terminal
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    import tqdm

    class EveryBatch(tqdm.tqdm):  # redraw on every batch (tqdm's own rate limit would skip fast ones)
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **{**kwargs, "mininterval": 0, "miniters": 1})

    monkeypatch.setattr(tqdm, "tqdm", EveryBatch)
    assert main(["rate", str(path), "--bootstrap", "120", "--format", "csv"]) == 0
    shown = capsys.readouterr()
    assert "bootstrap: 0 rounds" in shown.err and "bootstrap: 120 rounds" in shown.err and shown.out == plain.out
    assert main(["rate", str(path), "--bootstrap", "120", "--format", "csv", "--method", "elo"]) == 0
    elo = capsys.readouterr().err
    assert "bootstrap: 0 rounds" in elo and "bootstrap: 120 rounds" in elo
    assert main(["rate", str(path), "--bootstrap", "120", "--format", "csv", "--no-progress"]) == 0
    quiet = capsys.readouterr()
    assert "rounds" not in quiet.err and quiet.out == plain.out
    assert np.isfinite([float(line.split(",")[1]) for line in plain.out.splitlines()[1:]]).all()
