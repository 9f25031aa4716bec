"""Fuzzed question, answer, battle and import files: a clean error naming the file, or success.

Property-based (hypothesis, derandomized, bounded): files are written from valid records with fields
replaced by junk, dropped or added, lines that are not objects, and damaged bytes (cut, foreign bytes,
other encodings). Loaders must return or raise ArenaError naming the file; `arena rate` and `arena import`
must exit 0 or 2 with an `error:` line naming the file, never a traceback, and an import must leave the
workspace's earlier run as it was.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st

from arena.answers import read_answer_file
from arena.cli import main
from arena.errors import ArenaError
from arena.questions import load_questions

# The same examples on every run, no database in the checkout, no shrinking (a failure prints its example)
FUZZ = settings(derandomize=True, database=None, phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.function_scoped_fixture])
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from([10**19, -(10**19), 1e308, -1e308, 0.0]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
    st.lists(st.one_of(st.text(max_size=5), st.integers(-1, 3), st.none()), max_size=3),
    st.dictionaries(st.sampled_from(["role", "content", "turns", "x"]), st.text(max_size=5), max_size=2),
)
QUESTION = {"question_id": "q1", "category": "math", "turns": ["What is 2+2?", "And 3+3?"], "reference": ["4"]}
ANSWERS = [
    {"question_id": "q1", "model_id": "alpha", "choices": [{"index": 0, "turns": ["4", "6"]}]},
    {"question_id": "q1", "model": "alpha", "turns": ["4"]},
    {"uid": "u1", "model": "alpha", "messages": [{"role": "user", "content": "hi"},
                                                 {"role": "assistant", "content": {"answer": "hello"}}]},
]
BATTLE = {"question_id": "q1", "model_a": "alpha", "model_b": "bravo", "winner": "model_a",
          "judge": "gpt-4o", "category": "math", "turn": 1, "weight": 1}
WINNERS = ["model_a", "model_b", "tie", "tie (bothbad)"]


@st.composite
def mutated(draw: st.DrawFn, record: dict[str, Any]) -> Any:
    """The record with up to three fields replaced by junk, dropped or added (or a line that is no object)."""
    if draw(st.integers(0, 9)) == 0:
        return draw(VALUES)
    rec = json.loads(json.dumps(record))
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(sorted(rec) + ["extra"]))
        action = draw(st.sampled_from(["junk", "junk", "drop", "copy"]))
        if action == "drop":
            rec.pop(key, None)
        elif action == "copy" and rec:
            rec[key] = rec[draw(st.sampled_from(sorted(rec)))]  # e.g. model_b = model_a
        else:
            rec[key] = draw(VALUES)
    return rec


def line_of(value: Any) -> bytes:
    """One JSONL line (NaN and Infinity written the way Python's json writes them)."""
    return json.dumps(value).encode() + b"\n"


@st.composite
def damaged(draw: st.DrawFn, raw: bytes, intact: int = 3) -> bytes:
    """The bytes of a file, kept or (5 in intact + 5) cut short, spliced, re-encoded or replaced."""
    how = draw(st.sampled_from(["keep"] * intact + ["cut", "splice", "utf16", "latin1", "binary"]))
    if how == "cut":
        return raw[: draw(st.integers(0, len(raw)))]
    if how == "splice":
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.binary(min_size=1, max_size=16)) + raw[at:]
    if how == "utf16":
        return raw.decode().encode("utf-16")
    if how == "latin1":
        return (raw.decode() + "# caf\u00e9 na\u00efve\n").encode("latin-1", errors="replace")
    if how == "binary":
        return draw(st.binary(max_size=200))
    return raw


@st.composite
def jsonl_files(draw: st.DrawFn, records: list[dict[str, Any]]) -> bytes:
    """A JSONL file of one to four (mostly mutated) records, possibly damaged."""
    count = draw(st.integers(1, 4))
    lines = [line_of(draw(mutated(draw(st.sampled_from(records))))) for _ in range(count)]
    return draw(damaged(b"".join(lines)))


@st.composite
def battle_files(draw: st.DrawFn) -> bytes:
    """Battles between three models, a few of them mutated, possibly damaged."""
    lines = []
    for i in range(draw(st.integers(1, 6))):
        pair = draw(st.sampled_from([("alpha", "bravo"), ("bravo", "charlie"), ("alpha", "charlie")]))
        rec = {**BATTLE, "question_id": f"q{i}", "model_a": pair[0], "model_b": pair[1],
               "winner": draw(st.sampled_from(WINNERS))}
        lines.append(line_of(draw(mutated(rec)) if draw(st.integers(0, 2)) == 0 else rec))
    return draw(damaged(b"".join(lines)))


def loads_cleanly(load: Any, path: Path) -> None:
    """Call a loader: success, or an ArenaError whose message names the file."""
    try:
        load(path)
        event("loaded")
    except ArenaError as exc:
        event("clean error")
        assert path.name in str(exc), str(exc)


def run_cli(argv: list[str], named: Path, capsys: pytest.CaptureFixture[str]) -> int:
    """`arena ARGV` in-process: exit 0, or 2 with one `error:` line naming the file; never a traceback."""
    code = main(argv)
    err = capsys.readouterr().err
    event(f"exit {code}")
    assert "Traceback" not in err and "error: unexpected " not in err, err
    assert code in (0, 2), (code, err)
    if code == 2:
        first = err[err.index("error: "):].splitlines()[0]
        assert named.name in first, err
    return code


@settings(FUZZ, max_examples=80, deadline=2000)
@example(raw=b'{"question_id": "q1", "category": "math", "reference": ["4"]}\n')
@given(raw=jsonl_files([QUESTION]))
def test_fuzzed_question_file_loads_or_names_the_file(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "questions.jsonl"
    path.write_bytes(raw)
    loads_cleanly(load_questions, path)


@settings(FUZZ, max_examples=80, deadline=2000)
@example(raw=b'{"question_id": "q1", "model_id": "alpha", "choices": true}\n')
@example(raw=b'{"question_id": "q1", "model_id": "alpha", "choices": {"content": ""}}\n')
@example(raw=b'{"uid": "u1", "model": "alpha", "messages": ["hi", {"role": "assistant", "content": "x"}]}\n')
@given(raw=jsonl_files(ANSWERS))
def test_fuzzed_answer_file_loads_or_names_the_file(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "model_answer.jsonl"
    path.write_bytes(raw)
    loads_cleanly(read_answer_file, path)


@settings(FUZZ, max_examples=40, deadline=5000)
@given(raw=battle_files())
def test_fuzzed_battles_rate_or_name_the_file(
    tmp_path: Path, raw: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "battles.jsonl"
    path.write_bytes(raw)
    out = tmp_path / "ratings.json"
    if run_cli(["rate", str(path), "--bootstrap", "5", "--format", "json", "-o", str(out)], path, capsys) == 0:
        ratings = json.loads(out.read_text())
        assert all(math.isfinite(x) for x in numbers(ratings)), ratings  # weight 1e308 once gave NaN ratings


def numbers(value: Any) -> list[float]:
    """Every number inside a JSON value."""
    if isinstance(value, dict):
        return [x for v in value.values() for x in numbers(v)]
    if isinstance(value, list):
        return [x for v in value for x in numbers(v)]
    return [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else []


@pytest.fixture(scope="module")
def imported_workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[Path, bytes]]:
    """A workspace with one imported Chatbot Arena run, and its files' bytes."""
    root = tmp_path_factory.mktemp("fuzzimport")
    good = root / "good.json"
    good.write_text(json.dumps([{**BATTLE, "question_id": f"q{i}", "winner": WINNERS[i % 4]} for i in range(8)]))
    workspace = root / "ws"
    assert main(["import", "chatbot-arena", str(good), "--workspace", str(workspace), "--bootstrap", "5"]) == 0
    return workspace, {p: p.read_bytes() for p in workspace.rglob("*") if p.is_file()}


@settings(FUZZ, max_examples=25, deadline=5000)
@example(raw=b'{"question_id": "q0", "model_a": "alpha", "model_b": "bravo", "winner": "model_a", "turn": "math"}\n')
@example(raw=b"")
@given(raw=battle_files())
def test_fuzzed_import_names_the_file_and_keeps_earlier_runs(
    imported_workspace: tuple[Path, dict[Path, bytes]], raw: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace, before = imported_workspace
    path = workspace.parent / "battles.jsonl"
    path.write_bytes(raw)
    run_cli(["import", "chatbot-arena", str(path), "--workspace", str(workspace), "--bootstrap", "5"], path, capsys)
    for earlier, data in before.items():
        assert earlier.read_bytes() == data, f"{earlier} changed"
