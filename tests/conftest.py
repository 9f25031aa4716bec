"""Shared fixtures: a real OpenAI-compatible server on 127.0.0.1 and small question/config files."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from openai_server import FakeOpenAI  # noqa: E402

QUESTIONS = [
    {"question_id": "q1", "category": "writing", "turns": ["Write a haiku about rain.", "Now make it sadder."]},
    {"question_id": "q2", "category": "math", "turns": ["What is 2+2?"], "reference": ["4"]},
    {"question_id": "q3", "category": "coding", "turns": ["Reverse a string in Python."]},
    {"question_id": "q4", "category": "stem", "turns": ["Why is the sky blue?"]},
]


@pytest.fixture(autouse=True)
def _votes_count_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """App tests click a vote button as soon as the page is drawn: no minimum time on screen (a test of that
    minimum sets ARENA_VOTE_MIN_SECONDS itself)."""
    monkeypatch.setenv("ARENA_VOTE_MIN_SECONDS", "0")


@pytest.fixture
def fake_openai():
    """A live fake OpenAI server for the duration of one test."""
    with FakeOpenAI() as srv:
        yield srv


@pytest.fixture
def questions_file(tmp_path: Path) -> Path:
    """A 4-question Arena-format file, one of them two-turn."""
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    return path


def write_config(tmp_path: Path, questions: Path, candidates: list[dict], **extra) -> Path:
    """Write a run config into tmp_path and return its path."""
    cfg = {"workspace": str(tmp_path / "ws"), "questions": {"path": str(questions)},
           "candidates": candidates, **extra}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def read_jsonl(path: Path) -> list[dict]:
    """All records of a JSONL file."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
