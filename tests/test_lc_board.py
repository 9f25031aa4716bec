"""The LC columns of `arena leaderboard`: difficulty joined by instruction text, labels and notes for what was
(not) supplied, the config key, bad input."""
from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pandas as pd
import pytest
from interop_fixtures import run_main, write_json

from arena.errors import ArenaError
from arena.interop.lc_board import LCOptions
from arena.interop.lc_inputs import read_difficulty
from arena.interop.lc_winrate import lc_win_rates
from arena.interop.leaderboard import run_boards

N = 30
NOREG = "length_controlled_noreg (no gamed-baseline annotations)"


def _inst(i: int) -> str:
    return f"Task {i}: explain item {i} briefly."


def _difficulty(seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1, N)


def _annotations(model: str, strength: float, verbose: float, seed: int, drop: int | None = None) -> list[dict]:
    """AlpacaEval annotations of one model against 'ref' on N instructions, soft preferences in [1, 2]."""
    rng = np.random.default_rng(seed)
    d = _difficulty()
    out = []
    for i in range(N):
        if i == drop:
            continue
        extra = max(0, int(rng.normal(200 * verbose, 150)))
        pref = 1 / (1 + np.exp(-(strength + 0.9 * d[i] + 0.004 * extra + rng.normal(0, 0.3))))
        out.append({"instruction": _inst(i), "output_1": "r" * 400, "generator_1": "ref",
                    "output_2": "m" * (300 + extra), "generator_2": model, "preference": 1 + float(pref)})
    return out


def _difficulty_csv(path, order=None, skip=None, messy=False):
    """The difficulty file, rows in `order`, one instruction optionally left out, text re-spaced if messy."""
    d = _difficulty()
    rows = [{"index": i, "instruction": _inst(i).replace(" ", "  \n") if messy else _inst(i),
             "instruction_difficulty": d[i]} for i in (order if order is not None else range(N)) if i != skip]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture
def lc_run(tmp_path):
    """An imported AlpacaEval run: a verbose model (one annotation missing) and a plain one."""
    write_json(tmp_path / "ae" / "long" / "annotations.json", _annotations("long", -0.5, 1.5, 2, drop=7))
    write_json(tmp_path / "ae" / "plain" / "annotations.json", _annotations("plain", 0.2, 0.0, 3))
    assert run_main("import", "alpaca-eval", tmp_path / "ae", "-o", tmp_path / "run", "--bootstrap", "0") == 0
    return tmp_path / "run"


def _lc(run, **lc) -> tuple[pd.DataFrame, list[str]]:
    (board,) = run_boards(run, lc=LCOptions(**lc))
    return board.table.set_index("model"), board.notes


def test_difficulty_joined_by_text_not_position(lc_run, tmp_path):
    aligned, _ = _lc(lc_run, difficulty=_difficulty_csv(tmp_path / "a.csv"))
    order = np.random.default_rng(0).permutation(N)
    shuffled, _ = _lc(lc_run, difficulty=_difficulty_csv(tmp_path / "s.csv", order=order, messy=True))
    cols = ["length_controlled_winrate", "lc_standard_error"]
    assert np.allclose(aligned[cols].to_numpy(float), shuffled[cols].to_numpy(float), rtol=0, atol=1e-10)
    assert aligned.loc["long", "lc_glm"] == NOREG


def test_text_join_beats_position_join_on_a_missing_row():
    # 'long' misses instruction 7: its rows, shuffled, give exactly the aligned result; joined by position
    # (AlpacaEval's default) the rows after the gap get their neighbour's difficulty and the LC moves
    rows = pd.DataFrame(_annotations("long", -0.5, 1.5, 2, drop=7))
    frame = pd.DataFrame({"model": "long", "instruction": rows["instruction"], "p": rows["preference"] - 1,
                          "len_model": rows["output_2"].str.len(), "len_baseline": rows["output_1"].str.len()})
    diff = pd.Series(_difficulty(), index=[_inst(i) for i in range(N)])
    aligned = lc_win_rates(frame, diff, C=10.0).results["long"]
    shuffled = lc_win_rates(frame.sample(frac=1, random_state=4), diff, C=10.0).results["long"]
    assert shuffled.lc_win_rate == pytest.approx(aligned.lc_win_rate, abs=1e-6)
    assert shuffled.lc_standard_error == pytest.approx(aligned.lc_standard_error, abs=1e-6)
    by_position = pd.Series(_difficulty()[: len(frame)], index=frame["instruction"].to_numpy())
    moved = lc_win_rates(frame, by_position, C=10.0).results["long"]
    assert abs(moved.lc_win_rate - aligned.lc_win_rate) > 0.5


def test_missing_difficulty_is_counted_and_left_out(lc_run, tmp_path):
    table, notes = _lc(lc_run, difficulty=_difficulty_csv(tmp_path / "d.csv", skip=3))
    assert any("plain: 1 of 30 instructions have no difficulty" in n and "left out" in n for n in notes)
    assert any("long: 1 of 29 instructions have no difficulty" in n for n in notes)
    assert np.isfinite(table.loc["plain", "length_controlled_winrate"])


def test_labels_without_gamed_annotations_and_with_fitted_difficulty(lc_run, tmp_path):
    table, notes = _lc(lc_run)
    assert "length_controlled_winrate" not in table
    assert np.isfinite(table.loc["long", "length_controlled_winrate_fitted_difficulty"])
    assert np.isfinite(table.loc["long", "lc_standard_error_fitted_difficulty"])
    assert (table["lc_glm"] == NOREG).all()
    assert any("FITTED" in n for n in notes) and any("no gamed-baseline annotations supplied" in n for n in notes)
    out = tmp_path / "out.csv"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        run_main("leaderboard", lc_run, "--format", "json")
    (board,) = json.loads(buf.getvalue())
    assert any("no gamed-baseline" in n for n in board["notes"])
    assert board["table"][0]["lc_glm"] == NOREG
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        run_main("leaderboard", lc_run, "--format", "csv")
    out.write_text(buf.getvalue())
    assert {"length_controlled_winrate_fitted_difficulty", "lc_glm"} <= set(pd.read_csv(out).columns)


def test_gamed_annotations_regularise_and_relabel(lc_run, tmp_path):
    verbose = write_json(tmp_path / "gv.json", _annotations("ref_verbose", 0.3, 2.0, 8))
    concise = write_json(tmp_path / "gc.json", _annotations("ref_concise", -0.3, -1.0, 9))
    d = _difficulty_csv(tmp_path / "d.csv")
    noreg, _ = _lc(lc_run, difficulty=d)
    v1, notes = _lc(lc_run, difficulty=d, gamed=(verbose, concise))
    assert (v1["lc_glm"] == "length_controlled_v1").all()
    assert not any("no gamed-baseline" in n for n in notes)
    assert abs(v1.loc["long", "length_controlled_winrate"] - noreg.loc["long", "length_controlled_winrate"]) > 1e-3


def test_config_key_supplies_the_difficulty(lc_run, tmp_path):
    info = json.loads((lc_run / "run.json").read_text())
    info.setdefault("config", {}).setdefault("rating", {})["lc_difficulty"] = str(_difficulty_csv(tmp_path / "c.csv"))
    (lc_run / "run.json").write_text(json.dumps(info))
    table, notes = _lc(lc_run)
    assert np.isfinite(table.loc["long", "length_controlled_winrate"])
    assert any(str(tmp_path / "c.csv") in n for n in notes)


def test_bad_difficulty_files(tmp_path, lc_run):
    pd.DataFrame({"index": [0], "instruction_difficulty": [0.1]}).to_csv(tmp_path / "pos.csv", index=False)
    with pytest.raises(ArenaError, match=r"pos.csv: instruction-difficulty file lacks the column\(s\) \['instruction'\]"):
        read_difficulty(tmp_path / "pos.csv")
    pd.DataFrame({"instruction": ["a", "a"], "instruction_difficulty": [0.1, 0.2]}).to_csv(tmp_path / "two.csv",
                                                                                           index=False)
    with pytest.raises(ArenaError, match="two.csv: the instruction 'a' has two different difficulties"):
        read_difficulty(tmp_path / "two.csv")
    with pytest.raises(ArenaError, match="nope.csv: no such file"):
        run_main("leaderboard", lc_run, "--lc-difficulty", tmp_path / "nope.csv")


def test_config_keys_load_and_resolve(tmp_path):
    from arena.config import load_config

    (tmp_path / "d.csv").write_text("instruction,instruction_difficulty\na,0.1\n")
    cfg = tmp_path / "run.yaml"
    cfg.write_text("candidates:\n  - {name: a, backend: demo}\n  - {name: b, backend: demo}\n"
                   "rating:\n  lc_difficulty: d.csv\n  lc_gamed: [d.csv]\n")
    rating = load_config(cfg).rating
    assert rating.lc_difficulty == tmp_path / "d.csv" and rating.lc_gamed == [tmp_path / "d.csv"]


def test_bad_gamed_file(tmp_path, lc_run):
    bad = write_json(tmp_path / "g.json", [{"instruction": "i", "output_1": "a", "output_2": "b", "preference": 3}])
    with pytest.raises(ArenaError, match=r"g.json: record 1: field 'preference' must be in \[1, 2\]"):
        run_main("leaderboard", lc_run, "--lc-gamed", bad)
    bad.write_text('[{"instruction": "i", "output_1": "a"}]')
    with pytest.raises(ArenaError, match="g.json: record 1: field 'output_2' is missing or not text"):
        run_main("leaderboard", lc_run, "--lc-gamed", bad)
