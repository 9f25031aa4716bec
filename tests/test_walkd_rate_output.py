"""`arena rate` output details: a model whose battles all weigh 0 forms no group (no `group` number); a battle
without a winner says the field is missing."""
from __future__ import annotations

import csv
import io
import json

from arena.cli import main


def _battles(tmp_path):
    rows = [{"model_a": "a1", "model_b": "a2", "winner": w} for w in ["model_a", "model_b", "model_a"] * 6]
    rows += [{"model_a": "b1", "model_b": "b2", "winner": w} for w in ["model_a", "tie"] * 8]
    rows += [{"model_a": "z0", "model_b": "a1", "winner": "model_a", "weight": 0}] * 5
    path = tmp_path / "groups.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_weightless_model_has_no_group_number(tmp_path, capsys):
    path = _battles(tmp_path)
    for extra in ([], ["--method", "elo"]):
        assert main(["rate", str(path), "--bootstrap", "20", "--format", "json", *extra]) == 0
        doc = json.loads(capsys.readouterr().out)
        groups = {r["model"]: r.get("group") for r in doc["table"]}
        assert doc["groups"] == 2
        assert groups["z0"] is None
        assert groups["a1"] == groups["a2"] != groups["b1"] == groups["b2"]
        assert {groups["a1"], groups["b1"]} == {1, 2}  # numbered 1..groups, the groups the count names
    assert main(["rate", str(path), "--bootstrap", "0", "--format", "csv"]) == 0
    rows = {r["model"]: r["group"] for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert rows["z0"] == "" and {rows["a1"], rows["b1"]} == {"1", "2"}


def test_a_battle_without_winner_says_the_field_is_missing(tmp_path, capsys):
    rows = [{"model_a": "a", "model_b": "b", "winner": "model_a"}] * 3 + [{"model_a": "a", "model_b": "b"}]
    for name, text in (("b.jsonl", "".join(json.dumps(r) + "\n" for r in rows)), ("b.json", json.dumps(rows)),
                       ("b.csv", "model_a,model_b,winner\n" + "a,b,model_a\n" * 3 + "a,b,\n")):
        (tmp_path / name).write_text(text)
        assert main(["rate", str(tmp_path / name), "--bootstrap", "0"]) == 2
        err = capsys.readouterr().err
        where = {"b.jsonl": "b.jsonl:4", "b.json": "b.json: record 4", "b.csv": "b.csv:5"}[name]
        assert f"{where}: field 'winner' is missing" in err and "nan" not in err, err
