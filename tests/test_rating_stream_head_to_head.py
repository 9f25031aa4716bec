"""Head-to-head tables written beside the leaderboard equal what the app computed from every battle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt

from arena.cli import main
from arena.rating import RatingOptions, write_leaderboard
from arena.rating.head_to_head import HEAD_TO_HEAD_CSV, head_to_head_table, matrices, read_head_to_head
from arena.rating.io import validate_battles
from viz.derive import observed_matrices


def raw_battles(n: int = 600, seed: int = 8) -> pd.DataFrame:
    """Raw battles (as in a battles file) with categories, weights, probabilities and self-battles."""
    rng = np.random.default_rng(seed)
    models = np.array(["ant", "bee", "cat", "dog"], dtype=object)
    return pd.DataFrame({
        "model_a": models[rng.integers(0, 4, n)], "model_b": models[rng.integers(0, 4, n)],
        "winner": rng.choice(["model_a", "model_b", "tie", "tie (bothbad)"], n),
        "weight": rng.choice([1.0, 3.0], n), "prob_a": np.where(rng.random(n) < 0.2, 0.75, np.nan),
        "category": rng.choice(["math", "prose"], n),
    })


def test_tables_equal_the_matrices_from_every_battle() -> None:
    raw = raw_battles()
    table = head_to_head_table(validate_battles(raw))
    models = ["dog", "ant", "cat", "bee"]
    for category in (None, "math", "prose"):
        subset = raw if category is None else raw[raw["category"] == category]
        share_ref, counts_ref = observed_matrices(subset, models)
        share, counts = matrices(table, category, models)
        pdt.assert_frame_equal(share, share_ref, check_names=False, rtol=1e-12)
        pdt.assert_frame_equal(counts, counts_ref, check_names=False)
    # worked by hand: ant's row against bee holds both orientations of their battles
    pair = raw[(raw["model_a"] == "ant") & (raw["model_b"] == "bee")]
    row = table[(table["category"] == "") & (table["model"] == "ant") & (table["opponent"] == "bee")]
    flipped = raw[(raw["model_a"] == "bee") & (raw["model_b"] == "ant")]
    assert int(row["battles"].iloc[0]) == len(pair) + len(flipped)


def test_rating_stage_and_rate_o_write_the_table(tmp_path: Path) -> None:
    raw = raw_battles(200)
    battles = tmp_path / "battles.jsonl"
    raw.to_json(battles, orient="records", lines=True)
    write_leaderboard(battles, tmp_path, RatingOptions(bootstrap=5))
    written = read_head_to_head(tmp_path / HEAD_TO_HEAD_CSV)
    assert written is not None and set(written["category"]) == {"", "math", "prose"}
    own = raw["model_a"] == raw["model_b"]  # a self-battle is one row, counted once; any other battle two
    assert written.loc[written["category"] == "", "battles"].sum() == 2 * int((~own).sum()) + int(own.sum())
    selfs = written[(written["category"] == "") & (written["model"] == written["opponent"])].set_index("model")
    counted = raw[own].groupby("model_a").size()
    assert own.any() and selfs["battles"].to_dict() == counted.to_dict()
    assert (selfs["points"] * 2 == selfs["weight"]).all()  # a model against itself is even
    out = tmp_path / "out" / "board.json"
    assert main(["rate", str(battles), "--bootstrap", "5", "--format", "json", "-o", str(out)]) == 0
    beside = read_head_to_head(out.with_name("board_head_to_head.csv"))
    pdt.assert_frame_equal(beside, written)
    assert json.loads(out.read_text())["n_battles"] == int((raw["model_a"] != raw["model_b"]).sum())


def test_app_page_draws_observed_matrices_from_the_table_alone(tmp_path: Path, monkeypatch) -> None:
    from streamlit.testing.v1 import AppTest
    from viz_fixture import RUN2, build_workspace

    ws = build_workspace(tmp_path / "ws")
    run = ws / "runs" / RUN2
    table = read_head_to_head(run / HEAD_TO_HEAD_CSV)
    (run / "battles.jsonl").unlink()  # only the precomputed table is left to draw from
    monkeypatch.setenv("ARENA_WORKSPACE", str(ws))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "viz" / "app.py"), default_timeout=60)
    at.query_params["page"] = "head-to-head"
    at.query_params["run"] = RUN2
    at.run()
    assert not at.exception
    assert any("head_to_head.csv" in c.value for c in at.caption)
    counts = json.loads(at.get("plotly_chart")[1].proto.spec)["data"][0]
    gamma, beta = counts["y"].index("model-gamma"), counts["x"].index("model-beta")
    row = table[(table["category"] == "") & (table["model"] == "model-gamma") & (table["opponent"] == "model-beta")]
    assert counts["z"][gamma][beta] == int(row["battles"].iloc[0]) == 10


def test_observed_matrices_of_battles_that_give_prob_a_only() -> None:
    """Battles may give prob_a instead of winner (no winner field at all): the raw-battle matrices read them
    as the table does."""
    raw = raw_battles(300).drop(columns="winner").assign(prob_a=lambda f: np.linspace(0.0, 1.0, len(f)))
    models = ["ant", "bee", "cat", "dog"]
    share_ref, counts_ref = matrices(head_to_head_table(validate_battles(raw)), None, models)
    share, counts = observed_matrices(raw, models)
    pdt.assert_frame_equal(share, share_ref, check_names=False, rtol=1e-12)
    pdt.assert_frame_equal(counts, counts_ref, check_names=False)
