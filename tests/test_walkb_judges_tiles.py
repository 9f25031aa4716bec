"""The Judges page's tiles say what they count: this run's judge calls and what they cost (the terminal's
"spent in this run"), and separately the tokens and cost of all the judgments the run uses (cached ones
included). Two real runs against local OpenAI-compatible servers; in run 2 one candidate changes, so most
judgments come from the cache."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from openai_server import FakeOpenAI
from streamlit.testing.v1 import AppTest

from arena.cli import main

APP = Path(__file__).resolve().parents[1] / "viz" / "app.py"
PRICE = {"input_per_mtok": 2.5, "output_per_mtok": 10.0}
USAGE = {"prompt_tokens": 1000, "completion_tokens": 100}  # every judge call: 0.0025 + 0.001 = $0.0035
PER_CALL = (USAGE["prompt_tokens"] * PRICE["input_per_mtok"]
            + USAGE["completion_tokens"] * PRICE["output_per_mtok"]) / 1e6


def _config(tmp_path: Path, questions: Path, cand: FakeOpenAI, judge: FakeOpenAI, revision: str) -> Path:
    """A pairwise config with a priced judge; c3's revision forces its answers (and their judgments) anew."""
    cands = [{"name": n, "backend": "openai", "model": n, "base_url": cand.base_url} for n in ("c1", "c2")]
    cands.append({"name": "c3", "backend": "openai", "model": "c3", "base_url": cand.base_url,
                  "revision": revision})
    cfg = {"workspace": str(tmp_path / "ws"), "run_name": "weekly", "questions": {"path": str(questions)},
           "candidates": cands, "rating": {"bootstrap": 10},
           "judge": {"mode": "pairwise", "model": "judge-model", "base_url": judge.base_url,
                     "verdict": "3way", "price": PRICE}}
    path = tmp_path / f"cfg-{revision}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_judges_page_tiles_match_the_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps({"question_id": f"q{k}", "turns": [f"Question {k}?"]}) + "\n"
                                 for k in range(5)))
    version = {"c3": "v1"}
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-tiles")
    def answer(req: dict) -> str:
        return f"{req['model']}-{version['c3']}: {req['messages'][-1]['content']}"

    with FakeOpenAI(reply=answer) as cand, FakeOpenAI(reply=lambda req: "Final verdict: [[A]]") as judge:
        judge.usage = lambda body, text: dict(USAGE)
        assert main(["run", "-c", str(_config(tmp_path, questions, cand, judge, "v1")), "--no-progress"]) == 0
        before = len(judge.requests)
        version["c3"] = "v2"
        capsys.readouterr()
        assert main(["run", "-c", str(_config(tmp_path, questions, cand, judge, "v2")), "--no-progress"]) == 0
        calls = len(judge.requests) - before
    terminal = capsys.readouterr().out
    run = sorted((tmp_path / "ws" / "runs").iterdir())[-1]
    used = [json.loads(line) for line in (run / "judgments.jsonl").read_text().splitlines()]
    cached = len(used) - calls
    assert calls > 0 and cached > 0  # c3's pairs judged anew, c1-c2 from the cache
    spent = re.search(r"spent in this run \$([\d.]+); all judgments this run uses: tokens in ([\d,]+), "
                      r"out ([\d,]+), cost \$([\d.]+)", terminal)
    assert spent, terminal
    assert float(spent[1]) == pytest.approx(calls * PER_CALL)  # by hand: what the server was asked, priced
    assert float(spent[4]) == pytest.approx(len(used) * PER_CALL)

    monkeypatch.setenv("ARENA_WORKSPACE", str(tmp_path / "ws"))
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params["page"], at.query_params["run"] = "judges", run.name
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.exception]
    tiles = {m.label: m.value for m in at.metric}
    assert tiles == {
        "Judge calls in this run": f"{calls:,}",
        "Cost of this run's calls": f"${calls * PER_CALL:.4f}",
        f"Tokens, all {len(used):,} judgments used":
            f"{sum(r['prompt_tokens'] + r['completion_tokens'] for r in used):,}",
        f"Cost, all {len(used):,} judgments used": f"${len(used) * PER_CALL:.4f}",
    }
    # the terminal's figure, same rounding
    assert f"${float(spent[1]):.4f}" == tiles["Cost of this run's calls"]
    helps = {m.label: m.proto.help for m in at.metric}
    assert f"{cached:,} more judgment(s) came from the judgment cache" in helps["Judge calls in this run"]
