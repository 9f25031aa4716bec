"""Online Elo falls back to file order when some battles have no usable tstamp; it then says how many lacked
one (only when at least one battle had one). Ratings checked against a textbook Elo loop in file order."""
from __future__ import annotations

import json

from test_walkd_elo_order import _battles, _close, textbook_elo

from arena.cli import main


def _rate(path, capsys) -> tuple[dict[str, float], str]:
    assert main(["rate", str(path), "--method", "elo", "--bootstrap", "0", "--format", "json"]) == 0
    captured = capsys.readouterr()
    return {r["model"]: r["rating"] for r in json.loads(captured.out)["table"]}, captured.err


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_some_battles_without_a_usable_tstamp_say_file_order_was_used(tmp_path, capsys):
    rows = _battles()
    rows[7] = {k: v for k, v in rows[7].items() if k != "tstamp"}
    rows[9]["tstamp"] = "yesterday"
    rows[11]["tstamp"] = str(rows[11]["tstamp"])  # a number as JSON text: not read as a time either
    got, err = _rate(_write(tmp_path / "b.jsonl", rows), capsys)
    _close(got, textbook_elo(rows))
    notes = [ln for ln in err.splitlines() if "tstamp" in ln]
    assert len(notes) == 1, err
    assert f"3 of {len(rows)} battles have no usable tstamp" in notes[0] and "file order" in notes[0]


def test_no_note_when_every_battle_or_no_battle_has_a_tstamp(tmp_path, capsys):
    rows = _battles()
    _, err = _rate(_write(tmp_path / "all.jsonl", rows), capsys)
    assert "tstamp" not in err
    _, err = _rate(_write(tmp_path / "none.jsonl", [{k: v for k, v in r.items() if k != "tstamp"} for r in rows]),
                   capsys)
    assert "tstamp" not in err
    # Bradley-Terry does not depend on the order: no note there either
    partial = _write(tmp_path / "partial.jsonl", [rows[0] | {"tstamp": "x"}, *rows[1:]])
    assert main(["rate", str(partial), "--bootstrap", "0", "--format", "json"]) == 0
    assert "tstamp" not in capsys.readouterr().err
