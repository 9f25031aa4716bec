"""`arena export`: Chatbot Arena rows carry the `tstamp` FastChat sorts by; an export that can hold none of a
run's data, or not its verdicts faithfully, is an error naming the formats that can."""
from __future__ import annotations

import json
import random
import time

import pytest
from interop_fixtures import native_pairwise_run, read_jsonl, run_main, write_jsonl

from arena.errors import ArenaError


def test_chatbot_arena_export_writes_battle_order_not_judgment_time_as_tstamp(tmp_path):
    run = native_pairwise_run(tmp_path / "run", n_questions=4)
    judgments = read_jsonl(run / "judgments.jsonl")
    rng = random.Random(3)
    for j in judgments:  # judged out of battle order, several in the same second
        j["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_720_000_000 + rng.randrange(8)))
    write_jsonl(run / "judgments.jsonl", judgments)
    assert run_main("export", run, "--format", "chatbot-arena", "-o", tmp_path / "out") == 0
    rows = json.loads((tmp_path / "out" / "clean_battle.json").read_text())
    battles = read_jsonl(run / "battles.jsonl")
    assert len(rows) == len(battles) and all(r["anony"] is True for r in rows)
    # time order is battle order, the order the run's online Elo was played in (tests/test_rev2_export_tstamp)
    assert [r["tstamp"] for r in rows] == [float(i) for i in range(len(rows))]


def test_chatbot_arena_export_without_recorded_times_counts_up_in_battle_order(tmp_path, capsys):
    run = native_pairwise_run(tmp_path / "run", n_questions=3)  # judgments without a `created` time
    assert run_main("export", run, "--format", "chatbot-arena", "-o", tmp_path / "out") == 0
    rows = json.loads((tmp_path / "out" / "clean_battle.json").read_text())
    stamps = [r["tstamp"] for r in rows]
    assert all(isinstance(t, float) for t in stamps) and stamps == sorted(stamps) and len(set(stamps)) == len(rows)
    assert "tstamp" in capsys.readouterr().out  # says what the values are


def _judgments_only_arena_hard_run(tmp_path):
    from interop_fixtures import arena_hard_v01_files

    data = arena_hard_v01_files(tmp_path / "arena-hard-v0.1")
    assert run_main("import", "arena-hard", data / "model_judgment", "-o", tmp_path / "run", "--bootstrap", "0") == 0
    return tmp_path / "run"


def test_an_export_that_can_hold_none_of_the_run_is_an_error_naming_formats_that_can(tmp_path, capsys):
    run = _judgments_only_arena_hard_run(tmp_path)  # judgments and battles, no answer texts
    capsys.readouterr()
    with pytest.raises(ArenaError, match="none of") as info:
        run_main("export", run, "--format", "alpaca-eval", "-o", tmp_path / "ae")
    assert "chatbot-arena" in (info.value.hint or "")
    assert not (tmp_path / "ae").exists() or not any((tmp_path / "ae").iterdir())
    from interop_fixtures import arena

    done = arena("export", run, "--format", "alpaca-eval", "-o", tmp_path / "ae2")
    assert done.returncode == 2 and "chatbot-arena" in done.stderr


def test_mt_bench_export_of_per_game_battles_states_what_was_written_and_lost(tmp_path, capsys):
    from interop_fixtures import AH_V01_GAMES

    run = _judgments_only_arena_hard_run(tmp_path)
    n_battles = len(read_jsonl(run / "battles.jsonl"))
    capsys.readouterr()
    assert run_main("export", run, "--format", "mt-bench", "-o", tmp_path / "mt") == 0
    printed = capsys.readouterr().out
    (pair_file,) = (tmp_path / "mt" / "model_judgment").glob("*_pair.jsonl")
    rows = read_jsonl(pair_file)
    strong = sum(label in ("A>>B", "B>>A") for games in AH_V01_GAMES.values() for label in games)
    assert len(rows) == len(AH_V01_GAMES) + 1  # m-x: one pair row per question; m-y: one
    assert f"{len(rows)} pair rows" in printed and f"{strong} strong verdicts" in printed
    assert f"not these {n_battles}" in printed
    assert run_main("import", "mt-bench", tmp_path / "mt", "-o", tmp_path / "again", "--bootstrap", "0") == 0
    again = len(read_jsonl(tmp_path / "again" / "battles.jsonl"))
    assert f"importing this export gives {again} battles" in printed  # what the import really gives
    assert f"{n_battles} of {n_battles} battles do not come" not in printed  # no contradiction with the rows written
