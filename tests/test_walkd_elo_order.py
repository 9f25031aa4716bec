"""Online Elo plays the battles in time order when every battle has a `tstamp` (FastChat sorts by it before its
online Elo), else in file order; checked against a textbook Elo loop."""
from __future__ import annotations

import csv
import json
import random

import pytest

from arena.cli import main


def textbook_elo(battles: list[dict], k: float = 4.0, scale: float = 400.0, base: float = 10.0,
                 init: float = 1000.0) -> dict[str, float]:
    """FastChat's compute_online_elo, written out: one pass in the given order."""
    rating: dict[str, float] = {}
    for b in battles:
        ra, rb = rating.setdefault(b["model_a"], init), rating.setdefault(b["model_b"], init)
        ea = 1 / (1 + base ** ((rb - ra) / scale))
        sa = {"model_a": 1.0, "model_b": 0.0}.get(b["winner"], 0.5)
        rating[b["model_a"]] = ra + k * (sa - ea)
        rating[b["model_b"]] = rb + k * ((1 - sa) - (1 - ea))
    return rating


def _battles(n: int = 300, seed: int = 5) -> list[dict]:
    """Battles whose time order is far from their file order (an early strong streak moves the ratings)."""
    rng = random.Random(seed)
    models = ["m0", "m1", "m2", "m3"]
    rows = []
    for i in range(n):
        a, b = rng.sample(models, 2)
        strong = a == "m0" if i < n // 2 else b == "m0"
        winner = "model_a" if strong else rng.choice(["model_a", "model_b", "tie", "tie (bothbad)"])
        rows.append({"model_a": a, "model_b": b, "winner": winner, "tstamp": 1_700_000_000 + rng.randrange(40)})
    return rows


def _rate(path, capsys) -> dict[str, float]:
    assert main(["rate", str(path), "--method", "elo", "--bootstrap", "0", "--format", "json"]) == 0
    return {r["model"]: r["rating"] for r in json.loads(capsys.readouterr().out)["table"]}


def _close(got: dict[str, float], want: dict[str, float]) -> None:
    assert got.keys() == want.keys()
    for model, value in want.items():
        assert got[model] == pytest.approx(value, abs=1e-9), model


def test_in_order_elo_follows_tstamp_when_every_battle_has_one(tmp_path, capsys):
    rows = _battles()
    want = textbook_elo(sorted(rows, key=lambda r: r["tstamp"]))  # sorted() is stable: file order among equals
    assert want != pytest.approx(textbook_elo(rows))  # the order matters on these battles
    path = tmp_path / "b.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _close(_rate(path, capsys), want)
    blank = tmp_path / "blank.jsonl"  # a blank line: read row by row instead of by the columnar fast path
    blank.write_text("\n" + path.read_text())
    _close(_rate(blank, capsys), want)
    table = tmp_path / "b.csv"  # CSV cells are text: the same times
    with table.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    _close(_rate(table, capsys), want)


def test_in_order_elo_keeps_file_order_unless_every_battle_has_a_tstamp(tmp_path, capsys):
    rows = _battles()
    rows[7] = {k: v for k, v in rows[7].items() if k != "tstamp"}
    rows[9]["tstamp"] = "yesterday"  # not a number: no time either
    path = tmp_path / "b.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _close(_rate(path, capsys), textbook_elo(rows))
