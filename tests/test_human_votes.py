"""The human vote log (locked appends, withdrawal), the access token check and the sampling strategies."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

import pytest
from filelock import FileLock

from arena.errors import ArenaError
from arena.human.access import TOKEN_ENV, is_loopback, may_vote, token_matches
from arena.human.items import battle_items, battle_key, shown_swapped
from arena.human.sampling import (
    human_judge_gap,
    judge_doubt,
    next_items,
    order_stratified,
    remaining,
    votes_left,
)
from arena.human.votes import (
    LOCK_NAME,
    VoteLog,
    append_record,
    load_log,
    read_log,
    vote_record,
    votes_path,
    winner_of,
    withdraw_record,
)

ITEM = {"battle": "k1", "question_id": "q1", "turn": 1, "category": "math", "model_a": "m-a", "model_b": "m-b",
        "judgments": ["j1", "j2"]}


def test_winner_is_derandomised_from_the_shown_order() -> None:
    assert winner_of("1", swapped=False) == "model_a"
    assert winner_of("1", swapped=True) == "model_b"
    assert winner_of("2", swapped=False) == "model_b"
    assert winner_of("2", swapped=True) == "model_a"
    assert winner_of("tie", True) == "tie" and winner_of("bothbad", False) == "tie (bothbad)"
    with pytest.raises(ArenaError):
        winner_of("3", False)


def test_vote_record_fields_and_required_voter() -> None:
    rec = vote_record("  Ann  Lee ", ITEM, swapped=True, choice="1", comment="ok")
    assert rec["voter"] == "Ann Lee" and rec["shown"] == ["m-b", "m-a"] and rec["winner"] == "model_b"
    assert rec["battle"] == "k1" and rec["judgments"] == ["j1", "j2"] and rec["kind"] == "vote"
    assert rec["time"].endswith("Z") and rec["vote_id"]
    for bad in ("", "   ", "x" * 65, "a\x07b"):
        with pytest.raises(ArenaError):
            vote_record(bad, ITEM, False, "1")


def test_withdrawal_is_a_later_record_and_only_by_the_voter(tmp_path: Path) -> None:
    path = votes_path(tmp_path, "run1")
    first, second = vote_record("ann", ITEM, False, "1"), vote_record("bob", ITEM, False, "2")
    for rec in (first, second):
        append_record(path, rec)
    before = path.read_bytes()
    append_record(path, withdraw_record("ann", first["vote_id"]))
    append_record(path, withdraw_record("ann", second["vote_id"]))  # not ann's vote: ignored
    assert path.read_bytes().startswith(before)  # never an edit
    log = load_log(tmp_path, "run1")
    assert [r["vote_id"] for r in log.active()] == [second["vote_id"]]
    assert log.counts("ann") == {} and log.counts("bob") == {"k1": 1}
    assert len(read_log(path)) == 4


def _append_many(args: tuple[str, int, int]) -> None:
    """Child process: append n votes with long comments (each line over PIPE_BUF, 4096 bytes)."""
    path, worker, n = args
    for i in range(n):
        rec = vote_record(f"voter{worker}", {**ITEM, "battle": f"b{worker}-{i}"}, False, "tie",
                          comment=f"{worker}:{i}:" + "x" * 3_900)
        append_record(Path(path), rec)


def _append_when_told(path: str, ready: object) -> None:
    """Child process: say it is about to append, then append one vote."""
    ready.set()  # type: ignore[attr-defined]
    _append_many((path, 0, 1))


# "spawn", not "fork": pytest's process has threads (tqdm's monitor, servers of other tests), and a forked child
# can inherit a lock one of them held and hang (seen once in a full run)
def test_concurrent_appends_from_several_processes_lose_and_interleave_nothing(tmp_path: Path) -> None:
    path = votes_path(tmp_path, "run1")
    workers, each = 4, 12
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        pool.map(_append_many, [(str(path), w, each) for w in range(workers)])
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == workers * each
    records = [json.loads(line) for line in lines]  # every line is one whole record
    assert {r["battle"] for r in records} == {f"b{w}-{i}" for w in range(workers) for i in range(each)}
    assert all(r["comment"].endswith("x" * 3_900) for r in records)


def test_an_append_waits_for_the_lock(tmp_path: Path) -> None:
    path = votes_path(tmp_path, "run1")
    path.parent.mkdir(parents=True)
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    with FileLock(str(path.with_name(LOCK_NAME))):
        child = ctx.Process(target=_append_when_told, args=(str(path), ready))
        child.start()
        assert ready.wait(60)  # started and about to append
        time.sleep(0.5)
        assert child.is_alive() and not path.exists()  # blocked on the lock
    child.join(10)
    assert child.exitcode == 0 and len(path.read_text().splitlines()) == 1


@pytest.mark.parametrize("host,local", [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                        ("127.0.0.2", True), ("0.0.0.0", False), ("", False), (None, False),
                                        ("192.168.1.5", False), ("myhost", False), ("::", False)])
def test_loopback_hosts(host: str | None, local: bool) -> None:
    assert is_loopback(host) is local


def test_token_check_local_and_network() -> None:
    env = {TOKEN_ENV: "s3cret-token"}
    assert may_vote("127.0.0.1", None, {})[0]  # local: no token needed
    assert may_vote("127.0.0.1", "wrong", env)[0]
    allowed, why = may_vote("0.0.0.0", None, {})
    assert not allowed and TOKEN_ENV in why  # shared without a token configured: nobody votes
    assert not may_vote("0.0.0.0", "anything", {})[0]
    assert not may_vote("0.0.0.0", None, env)[0]
    assert not may_vote("0.0.0.0", "s3cret-toke", env)[0]
    assert may_vote("0.0.0.0", "s3cret-token", env) == (True, "")
    assert not token_matches("", {TOKEN_ENV: ""})
    assert "s3cret" not in may_vote("0.0.0.0", "wrong", env)[1]


def _items(n: int = 12) -> list[dict]:
    cats = ["math", "writing", "coding"]
    return [{"battle": f"k{i}", "category": cats[i % 3], "model_a": "a", "model_b": "b", "judge_scores": {"j": 1.0}}
            for i in range(n)]


def test_random_order_is_seeded_per_voter() -> None:
    items = _items()
    ann = next_items("random", items, "ann", {})
    assert [i["battle"] for i in ann] == [i["battle"] for i in next_items("random", items, "ann", {})]
    assert sorted(i["battle"] for i in ann) == sorted(i["battle"] for i in items)
    assert [i["battle"] for i in ann] != [i["battle"] for i in next_items("random", items, "bob", {})]


def test_stratified_prefixes_cover_categories_evenly() -> None:
    items = _items(12)[:10]  # 4 math, 3 writing, 3 coding
    ordered = order_stratified(items, "ann")
    for n in range(1, len(ordered) + 1):
        counts = {c: sum(i["category"] == c for i in ordered[:n]) for c in ("math", "writing", "coding")}
        assert max(counts.values()) - min(counts.values()) <= 1, (n, counts)


def test_k_votes_per_voter_and_votes_left() -> None:
    items = _items(3)
    assert [i["battle"] for i in remaining(items, {"k0": 1}, 1)] == ["k1", "k2"]
    assert len(remaining(items, {"k0": 1}, 2)) == 3
    assert votes_left(items, {"k0": 1, "k1": 2}, 2) == 1 + 0 + 2
    with pytest.raises(ArenaError):
        remaining(items, {}, 0)


def test_least_sure_ranks_ties_inconsistency_and_close_pairs_first() -> None:
    sure = {"battle": "sure", "model_a": "a", "model_b": "d", "judge_scores": {"j": 1.0}}
    tie = {"battle": "tie", "model_a": "a", "model_b": "d", "judge_scores": {"j": 0.5}}
    flipped = {**sure, "battle": "flip", "inconsistent": True}
    split = {"battle": "split", "model_a": "a", "model_b": "d", "judge_scores": {"j": 1.0, "k": 0.0}}
    close = {"battle": "close", "model_a": "b", "model_b": "c", "judge_scores": {"j": 1.0}}
    ratings = {"a": 1200.0, "d": 800.0, "b": 1001.0, "c": 1000.0}
    assert judge_doubt(tie) == pytest.approx(1.0) and judge_doubt(sure) == 0.0
    assert judge_doubt(split) == pytest.approx(0 + 2 * 0.5)  # mean(1-|2s-1|)=0, spread 2*0.5
    assert judge_doubt(close, ratings) == pytest.approx(1 - abs(2 / (1 + 10 ** (-1 / 400)) - 1))
    order = next_items("least_sure", [sure, close, tie, flipped], "ann", {}, ratings=ratings)
    assert [i["battle"] for i in order][-1] == "sure" and order[0]["battle"] in ("tie", "flip")


def test_disagreement_item_gap_then_pair_gap() -> None:
    items = [{"battle": "x", "model_a": "a", "model_b": "b", "judge_scores": {"j": 1.0}},
             {"battle": "y", "model_a": "a", "model_b": "b", "judge_scores": {"j": 1.0}},
             {"battle": "z", "model_a": "c", "model_b": "d", "judge_scores": {"j": 0.0}},
             {"battle": "w", "model_a": "c", "model_b": "d", "judge_scores": {"j": 0.0}}]
    votes = [{"battle": "x", "model_a": "b", "model_b": "a", "winner": "model_a"},  # human: b beats a, judge: a
             {"battle": "z", "model_a": "c", "model_b": "d", "winner": "tie"}]
    gaps = human_judge_gap(items, votes)
    assert gaps == {"x": 1.0, "y": 1.0, "z": 0.5, "w": 0.5}
    order = next_items("disagreement", items, "ann", {"x": 1}, votes=votes)
    assert [i["battle"] for i in order] == ["y", "z", "w"] or [i["battle"] for i in order] == ["y", "w", "z"]


def test_battle_items_merge_judges_and_orient_scores() -> None:
    battles = [{"question_id": 1, "turn": 1, "model_a": "a", "model_b": "b", "winner": "model_a", "judge": "j1",
                "games": ["g1", "g2"], "category": "math"},
               {"question_id": 1, "turn": 1, "model_a": "b", "model_b": "a", "winner": "model_a", "judge": "j2",
                "games": ["g3"], "consistent": False}]
    (item,) = battle_items(battles)
    assert item["battle"] == battle_key("1", 1, "b", "a") and item["judgments"] == ["g1", "g2", "g3"]
    assert item["judge_scores"] == {"j1": 1.0, "j2": 0.0} and item["inconsistent"]


def test_shown_order_is_seeded_and_balanced() -> None:
    draws = [shown_swapped("ann", f"k{i}") for i in range(400)]
    assert draws == [shown_swapped("ann", f"k{i}") for i in range(400)]
    assert 150 < sum(draws) < 250
    assert draws != [shown_swapped("bob", f"k{i}") for i in range(400)]


def test_votelog_is_a_value() -> None:
    assert VoteLog(()).active() == []


def test_shared_note_never_shows_the_token() -> None:
    from arena.human.access import shared_note

    assert "voting is off" in shared_note({}) and TOKEN_ENV in shared_note({})
    note = shared_note({TOKEN_ENV: "abc-secret"})
    assert "abc-secret" not in note and "access token" in note


def test_a_damaged_line_is_skipped_and_appends_stay_whole(tmp_path: Path) -> None:
    path = votes_path(tmp_path, "run1")
    append_record(path, vote_record("ann", ITEM, False, "1"))
    with open(path, "ab") as fh:
        fh.write(b'{"kind": "vote", "voter": "cut sh')  # a write killed half way
    append_record(path, vote_record("bob", ITEM, False, "2"))
    assert [r["voter"] for r in load_log(tmp_path, "run1").active()] == ["ann", "bob"]
    assert path.read_text().endswith("\n")


def test_human_package_uses_only_files_and_math() -> None:
    """arena.human sits beside the records layer: the app may import it, so it never imports a backend or judge."""
    import ast

    allowed = ("arena.errors", "arena.records", "arena.human", "arena.cli")
    for path in (Path(__file__).resolve().parents[1] / "arena" / "human").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                if name.split(".")[0] in ("arena", "judges", "viz"):
                    assert name.startswith(allowed), f"{path.name} imports {name}"
