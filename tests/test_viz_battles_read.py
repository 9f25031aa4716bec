"""The battle browser reads battles.jsonl with pyarrow when it can: the same table as the line-by-line
reader, and the line reader whenever pyarrow cannot take the file as it is."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
import pytest

from viz.data import GAMES_SEP, _battles_arrow, _battles_cached, _battles_lines, battle_games

warnings.filterwarnings("ignore", message=".*No runtime found.*")


def write(path: Path, records: list[dict], extra: bytes = b"") -> str:
    path.write_bytes(b"\n".join(json.dumps(r).encode() for r in records) + b"\n" + extra)
    return str(path)


def battles(n: int) -> list[dict]:
    out = []
    for i in range(n):
        rec = {"question_id": i % 7, "model_a": f"m{i % 3}", "model_b": f"m{(i + 1) % 3}",
               "winner": ["model_a", "model_b", "tie", "tie (bothbad)"][i % 4], "turn": 1 + i % 2,
               "weight": 1 if i % 5 else 0.5, "games": [f"{i}-AB", f"{i}-BA"] if i % 6 else None,
               "consistent": None if i % 9 == 0 else bool(i % 2), "mode": "pairwise"}
        if i % 4:
            rec["category"] = ["math", "coding", "writing"][i % 3]
        if i % 3:
            rec["judge"] = "judge-<b>"
            rec["len_a"], rec["len_b"] = 100 + i, 200 - i
        out.append(rec)
    return out


def test_pyarrow_read_equals_the_line_reader(tmp_path: Path) -> None:
    path = write(tmp_path / "battles.jsonl", battles(500))
    fast = _battles_arrow(path)
    assert fast is not None  # this file is one pyarrow takes
    pd.testing.assert_frame_equal(fast, _battles_lines(path))
    assert fast["question_id"].iloc[3] == "3"  # integer ids become text, as the line reader makes them
    assert battle_games(fast["games"].iloc[1]) == ["1-AB", "1-BA"] and fast["games"].iloc[0] == ""
    assert GAMES_SEP not in "".join(battle_games(fast["games"].iloc[7]))


@pytest.mark.parametrize(
    "extra",
    [b"{not json\n", b'{"question_id": "q-text", "model_a": "m1", "model_b": "m2", "winner": "tie"}\n',
     b'{"question_id": 3, "model_a": "m\xff", "model_b": "m2", "winner": "tie"}\n'],
    ids=["malformed line", "id changes type", "not UTF-8"],
)
def test_files_pyarrow_cannot_take_fall_back_to_the_line_reader(tmp_path: Path, extra: bytes) -> None:
    path = write(tmp_path / "battles.jsonl", battles(50), extra)
    assert _battles_arrow(path) is None
    got = _battles_cached((path, 1.0, 1))
    want = _battles_lines(path)
    pd.testing.assert_frame_equal(got, want)
    assert len(got) == 50 + (extra.startswith(b'{"question_id": "q-text"'))


def test_judgments_are_found_by_key_as_the_full_reader_finds_them(tmp_path: Path) -> None:
    from viz.data import Judgments, _judgment_spans, _records

    lines = []
    for i in range(300):
        lines.append(json.dumps({"key": f"k{i % 250}", "judge": "j", "raw": f"verdict {i} " + "é<b>" * 50}))
    lines.append(json.dumps({"judge": "j2", "key": "late-key", "raw": "key written last"}))  # not first
    lines.append('{"key": "broken", "raw": "unterminated')  # damaged: never returned
    lines.append(json.dumps({"key": 'with "quote"', "raw": "escaped key"}))
    path = tmp_path / "judgments.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    full = {str(rec.get("key")): rec for rec in _records(str(path))}  # the last record of a key wins
    spans = _judgment_spans((str(path), 1.0, 1))
    assert len(full) == 252 and set(full) <= set(spans)
    found = Judgments((str(path), 1.0, 1))
    for key, record in full.items():  # "late-key" and the quoted key are found by parsing their lines
        assert found.get(key) == record
        line = path.read_bytes()[spans[key][0]:spans[key][0] + spans[key][1]]
        assert json.loads(line) == record  # the index agrees
    assert found.get("k3")["raw"].startswith("verdict 253 ")  # the later of two records
    assert found.get("broken") is None and found.get("absent") is None
    quoting = tmp_path / "quoting.jsonl"  # a judge's text that quotes another key is not that key's record
    quoting.write_text(json.dumps({"key": "a", "raw": 'x {"key": "b"} y'}) + "\n" + json.dumps({"key": "b", "raw": "real"})
                       + "\n" + json.dumps({"key": "c", "raw": '\n{"key": "b"}'}) + "\n", encoding="utf-8")
    assert Judgments((str(quoting), 1.0, 1)).get("b") == {"key": "b", "raw": "real"}
    assert Judgments(None).get("a") is None
