"""Chatbot Arena export: a battle's own tstamp is written only when every battle has one; otherwise every
row's tstamp is its position, so FastChat's time order (and `arena rate --method elo` after import) is
battle order and export -> import keeps the BT and the online Elo ratings."""
from __future__ import annotations

import json
import random
import time
from pathlib import Path

from interop_fixtures import native_pairwise_run, read_jsonl, run_main, write_jsonl

from arena.rating import RatingOptions, load_battles, rate_battles


def _ratings(run: Path, method: str) -> dict[str, float]:
    t = rate_battles(load_battles(run), RatingOptions(method=method, bootstrap=0, seed=3)).table
    return {m: round(float(r), 6) for m, r in zip(t["model"], t["rating"])}


def test_export_import_keeps_bt_and_online_elo_of_a_run_judged_out_of_order(tmp_path, capsys):
    run = native_pairwise_run(tmp_path / "run", n_questions=10)
    judgments = read_jsonl(run / "judgments.jsonl")
    rng = random.Random(5)
    for j in judgments:  # judged out of battle order: these times are not the order the run was rated in
        j["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_720_000_000 + rng.randrange(600)))
    write_jsonl(run / "judgments.jsonl", judgments)
    assert run_main("export", run, "--format", "chatbot-arena", "-o", tmp_path / "exp") == 0
    printed = capsys.readouterr().out
    rows = json.loads((tmp_path / "exp" / "clean_battle.json").read_text())
    assert [r["tstamp"] for r in rows] == [float(i) for i in range(len(rows))]
    n = len(rows)
    assert f"{n} of {n} battles have no tstamp of their own: every row's tstamp is its position" in printed
    assert run_main("import", "chatbot-arena", tmp_path / "exp" / "clean_battle.json", "-o", tmp_path / "imp",
                    "--bootstrap", "0") == 0
    for method in ("bt", "elo"):
        assert _ratings(tmp_path / "imp", method) == _ratings(run, method), method
    # the order matters for Elo: the judgment times would have given other ratings
    decided = {j["key"]: j["created"] for j in judgments}
    battles = read_jsonl(run / "battles.jsonl")
    by_time = sorted(range(len(battles)), key=lambda i: (max(decided[k] for k in battles[i]["games"]), i))
    write_jsonl(tmp_path / "by_time.jsonl", [battles[i] for i in by_time])
    assert _ratings(tmp_path / "by_time.jsonl", "elo") != _ratings(run, "elo")


def _cba(path: Path, stamps: list[float | None]) -> Path:
    pairs = [("a", "b", "model_a"), ("b", "c", "model_b"), ("a", "c", "tie"), ("c", "a", "model_a"),
             ("b", "a", "model_b"), ("c", "b", "model_a")]
    rows = []
    for (a, b, w), t in zip(pairs, stamps):
        rows.append({"model_a": a, "model_b": b, "winner": w, "anony": True, "turn": 1,
                     **({"tstamp": t} if t is not None else {})})
    path.write_text(json.dumps(rows))
    return path


def test_some_battles_timed_every_row_gets_its_position_and_the_note_says_so(tmp_path, capsys):
    src = _cba(tmp_path / "partial.json",
               [1_700_000_050.5, None, 1_700_000_010.0, None, 1_700_000_020.0, None])
    assert run_main("import", "chatbot-arena", src, "-o", tmp_path / "imp", "--bootstrap", "0") == 0
    capsys.readouterr()
    assert run_main("export", tmp_path / "imp", "--format", "chatbot-arena", "-o", tmp_path / "exp") == 0
    printed = capsys.readouterr().out
    rows = json.loads((tmp_path / "exp" / "clean_battle.json").read_text())
    assert [r["tstamp"] for r in rows] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert "3 of 6 battles have no tstamp of their own: every row's tstamp is its position" in printed
    assert "the 3 recorded tstamps are not written" in printed
    assert [(r["model_a"], r["model_b"], r["winner"]) for r in rows] == \
        [(r["model_a"], r["model_b"], r["winner"]) for r in json.loads(src.read_text())]


def test_every_battle_timed_keeps_its_own_tstamp_without_a_note(tmp_path, capsys):
    stamps = [1_700_000_050.5, 1_700_000_001.0, 1_700_000_010.0, 1_700_000_002.0, 1_700_000_020.0,
              1_700_000_003]
    src = _cba(tmp_path / "timed.json", stamps)
    assert run_main("import", "chatbot-arena", src, "-o", tmp_path / "imp", "--bootstrap", "0") == 0
    capsys.readouterr()
    assert run_main("export", tmp_path / "imp", "--format", "chatbot-arena", "-o", tmp_path / "exp") == 0
    assert "tstamp" not in capsys.readouterr().out
    rows = json.loads((tmp_path / "exp" / "clean_battle.json").read_text())
    assert [r["tstamp"] for r in rows] == stamps
