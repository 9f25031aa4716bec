"""`arena perf -c CONFIG` takes its prompts from the config's question set as `arena run` reads it: its
`questions.limit` and `questions.categories` apply (README: "Prompts come from ... the config's question
set")."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import QUESTIONS, write_config
from openai_server import FakeOpenAI

from arena.cli import main


def _doc(ws: Path) -> dict:
    (path,) = sorted((ws / "perf").glob("*.json"))
    return json.loads(path.read_text())


MATH_STEM = {"math", "stem"}


@pytest.mark.parametrize("questions, expected", [
    ({"limit": 2}, [q["turns"][0] for q in QUESTIONS[:2]]),
    ({"categories": ["math", "stem"]}, [q["turns"][0] for q in QUESTIONS if q["category"] in MATH_STEM]),
])
def test_config_question_limit_and_categories_pick_the_prompts(tmp_path, questions_file, questions, expected):
    with FakeOpenAI(reply=lambda body: "a b") as srv:
        cfg = write_config(tmp_path, questions_file, [
            {"name": "cand", "backend": "openai", "model": "fake", "base_url": srv.base_url}])
        data = yaml.safe_load(cfg.read_text())
        data["questions"].update(questions)
        cfg.write_text(yaml.safe_dump(data))
        assert main(["perf", "--no-progress", "-c", str(cfg), "--candidate", "cand", "--concurrency", "1",
                     "--requests", "6", "--warmup", "0"]) == 0
        sent = [r["messages"][-1]["content"] for r in srv.requests[1:]]  # minus the one preflight request
    assert len(sent) == 6 and set(sent) == set(expected)  # every prompt of the set, none from outside it
    prompts = _doc(tmp_path / "ws")["settings"]["prompts"]
    assert prompts.startswith(f"questions from {questions_file} ({len(expected)} distinct prompts")
    if "limit" in questions:
        assert "questions.limit 2" in prompts
    else:
        assert "questions.categories math, stem" in prompts
