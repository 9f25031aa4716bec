"""arena-hard imports keep the answers' conv_metadata: style features of battles files, and avg_tokens."""
from __future__ import annotations

import pandas as pd
import pytest
from interop_fixtures import read_jsonl, run_main, write_jsonl

from arena.interop.common import text_stats
from arena.interop.leaderboard import run_boards
from arena.rating import RatingOptions, load_battles, rate_battles

BASE = "gpt-4-0314"
# question -> (model wins?, header count in m's conv_metadata, in the baseline's). The texts say the
# opposite: the answer whose metadata has no headers is the one whose text starts with "# " lines.
GAMES = {"q1": (1, 4, 0), "q2": (1, 4, 0), "q3": (1, 4, 0), "q4": (0, 4, 0),
         "q5": (0, 0, 4), "q6": (0, 0, 4), "q7": (0, 0, 4), "q8": (1, 0, 4)}


def _text(headers_in_metadata: int) -> str:
    """Answer text whose markdown headers contradict its conv_metadata."""
    body = "plain words here and more words to read"
    return body if headers_in_metadata else "# One\n# Two\n# Three\n# Four\n" + body


def _answers(root, model: str, side: int, token_len=lambda q: 100) -> None:
    """A v0.1 answers file with conv_metadata (side 1: the candidate's header counts, 2: the baseline's)."""
    write_jsonl(root / "model_answer" / f"{model}.jsonl", [
        {"question_id": q, "answer_id": f"{model}-{q}", "model_id": model, "tstamp": 1.0,
         "choices": [{"index": 0, "turns": [{"content": _text(g[side]), "token_len": token_len(q)}]}],
         "conv_metadata": {"token_len": token_len(q), "header_count": {"h1": g[side], "h2": 0},
                           "list_count": {"ordered": 0, "unordered": 0}, "bold_count": {"**": 0, "__": 0}}}
        for q, g in GAMES.items()])


@pytest.fixture
def battles_run(tmp_path):
    """Answers of m and the baseline (with conv_metadata) imported together with a battles file."""
    _answers(tmp_path, "m", 1)
    _answers(tmp_path, BASE, 2)
    write_jsonl(tmp_path / "arena_hard_battles.jsonl", [
        {"question_id": q, "model_a": "m", "model_b": BASE, "winner": "model_a" if g[0] else "model_b"}
        for q, g in GAMES.items()])
    assert run_main("import", "arena-hard", tmp_path / "model_answer", tmp_path / "arena_hard_battles.jsonl",
                    "-o", tmp_path / "run", "--bootstrap", "0") == 0
    return tmp_path / "run"


def _header_coefficient(battles: pd.DataFrame) -> float:
    """The header-density coefficient of Arena's style-controlled BT fit."""
    style = rate_battles(battles, RatingOptions(bootstrap=0, style_control=True)).style.set_index("feature")
    return float(style.loc["header_density", "coefficient"])


def test_battles_file_takes_style_from_conv_metadata(battles_run):
    rows = {b["question_id"]: b for b in read_jsonl(battles_run / "battles.jsonl")}
    for q, (_, h_model, h_base) in GAMES.items():
        assert (rows[q]["header_a"], rows[q]["header_b"]) == (h_model, h_base)
        assert (rows[q]["len_a"], rows[q]["len_b"]) == (100, 100)
    battles = load_battles(battles_run / "battles.jsonl")
    # conv_metadata: the answer with more headers tends to win -> positive coefficient
    assert _header_coefficient(battles) > 0.5
    # what the text counts would say (the old behaviour): the sign flips
    recount = battles.copy()
    for side in ("a", "b"):
        model = recount[f"model_{side}"]
        recount[f"header_{side}"] = [text_stats(_text(GAMES[q][1 if m == "m" else 2]))["header"]
                                     for q, m in zip(recount["question_id"], model)]
    assert _header_coefficient(recount) < -0.5


def test_avg_tokens_over_all_answers_of_the_model(tmp_path):
    """arena-hard averages token_len over every answer of the model, judged or not (v0.1 show_result)."""
    lens = {q: 10 * (i + 1) for i, q in enumerate(GAMES)}  # 10..80, mean 45
    _answers(tmp_path, "m", 1, token_len=lens.get)
    _answers(tmp_path, BASE, 2, token_len=lambda q: 2 * lens[q])  # mean 90
    # battles only on q1 and q2: a per-battle mean would be 15 for m and 30 for the baseline
    write_jsonl(tmp_path / "arena_hard_battles.jsonl", [
        {"question_id": q, "model_a": BASE, "model_b": "m", "winner": "model_b"} for q in ("q1", "q2")])
    assert run_main("import", "arena-hard", tmp_path / "model_answer", tmp_path / "arena_hard_battles.jsonl",
                    "-o", tmp_path / "run", "--bootstrap", "0") == 0
    board = next(b for b in run_boards(tmp_path / "run") if b.convention == "arena-hard")
    t = board.table.set_index("model")
    assert t.loc["m", "avg_tokens"] == pytest.approx(45.0)
    assert t.loc[BASE, "avg_tokens"] == pytest.approx(90.0)
    assert any("avg_tokens" in n and "every answer" in n for n in board.notes)


def test_2025_answers_metadata_gives_style_and_avg_tokens(tmp_path):
    """2025 answers carry `metadata` (token_len, header/list/bold counts) instead of conv_metadata."""
    for model, tokens, headers in (("o3-mini-base", 300, {"h1": 2, "h2": 1}), ("m", 100, {"h1": 0})):
        write_jsonl(tmp_path / "model_answer" / f"{model}.jsonl", [
            {"uid": u, "ans_id": f"{model}-{u}", "model": model, "tstamp": 1.0,
             "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": {"answer": "# a"}}],
             "metadata": {"token_len": tokens + i, "header_count": headers, "list_count": {"ordered": 1},
                          "bold_count": {"**": 0}}} for i, u in enumerate(("u1", "u2", "u3"))])
    write_jsonl(tmp_path / "arena_hard_battles.jsonl", [
        {"question_id": "u1", "model_a": "o3-mini-base", "model_b": "m", "winner": "model_a"}])
    assert run_main("import", "arena-hard", tmp_path / "model_answer", tmp_path / "arena_hard_battles.jsonl",
                    "-o", tmp_path / "run", "--bootstrap", "0", "--baseline", "o3-mini-base") == 0
    b = read_jsonl(tmp_path / "run" / "battles.jsonl")[0]
    assert (b["len_a"], b["len_b"], b["header_a"], b["header_b"], b["list_a"]) == (300, 100, 3, 0, 1)
    t = next(x for x in run_boards(tmp_path / "run") if x.convention == "arena-hard").table.set_index("model")
    assert (t.loc["m", "avg_tokens"], t.loc["o3-mini-base", "avg_tokens"]) == (101.0, 301.0)


def test_avg_tokens_note_without_answers(tmp_path):
    write_jsonl(tmp_path / "arena_hard_battles.jsonl", [
        {"question_id": "q1", "model_a": BASE, "model_b": "m", "winner": "model_b"}])
    assert run_main("import", "arena-hard", tmp_path / "arena_hard_battles.jsonl", "-o", tmp_path / "run",
                    "--bootstrap", "0") == 0
    board = next(b for b in run_boards(tmp_path / "run") if b.convention == "arena-hard")
    assert board.table["avg_tokens"].isna().all()
    assert any(n.startswith("avg_tokens: no answer lengths") for n in board.notes)
