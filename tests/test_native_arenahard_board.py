"""`arena leaderboard` on a native baseline run: the arena-hard score counts every judged game, as
arena-hard's show_result does, whatever `judge.inconsistent` made of the battles the ratings use."""
from __future__ import annotations

import pytest
from conftest import write_config
from openai_server import FakeOpenAI
from test_judge_stage import _between

from arena.config import load_config
from arena.interop.leaderboard import run_boards
from arena.pipeline import run_pipeline


def _biased(req: dict) -> str:
    """Shown first, 'good' wins strongly; shown second, the judge calls it a tie (position bias)."""
    user = req["messages"][-1]["content"]
    first = "from good " in _between(user, "<<<ANSWER A START>>>", "<<<ANSWER A END>>>")
    return "Verdict: [[A>>B]]" if first else "Verdict: [[A=B]]"


@pytest.mark.parametrize("inconsistent", ["tie", "separate"])
def test_the_arena_hard_score_counts_every_game(tmp_path, questions_file, fake_openai, inconsistent):
    cands = [{"name": n, "backend": "openai", "model": n, "base_url": fake_openai.base_url} for n in ("base", "good")]
    with FakeOpenAI(reply=_biased) as judge:
        cfg = write_config(tmp_path, questions_file, cands, rating={"bootstrap": 10},
                           judge={"mode": "baseline", "baseline": "base", "model": "j", "base_url": judge.base_url,
                                  "verdict": "5way", "inconsistent": inconsistent})
        ctx = run_pipeline(load_config(cfg), show_progress=False, log=lambda s: None)
    board = next(b for b in run_boards(ctx.run.path) if "arena-hard" in b.title.lower())
    row = board.table.set_index("model").loc["good"]
    # by hand, per judged turn: shown first, a strong win (3 games); shown second, a tie (1 game): 3.5 of 4
    assert row["score"] == pytest.approx(100 * 3.5 / 4)
    assert row["games"] == 5 * 2  # 5 judged turns, two games each
