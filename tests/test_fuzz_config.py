"""Fuzzed run configs: a clean one-line-per-problem error naming the file, or a run; never a traceback.

Property-based (hypothesis, bounded examples and deadlines): a valid config is mutated (a value replaced by
junk, a key dropped, an unknown key added) or its bytes are damaged (cut, foreign bytes, UTF-16), then
loaded, and a few are run end to end with `arena run --dry-run` on a workspace that already holds a run,
whose files must stay as they were (caches may only grow).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_fuzz_files import damaged

from arena.cli import main
from arena.config import load_config
from arena.errors import ArenaError

QUESTIONS = (
    '{"question_id": "q1", "category": "math", "turns": ["What is 2+2?"]}\n'
    '{"question_id": "q2", "category": "writing", "turns": ["Write a haiku."]}\n'
)
BASE: dict[str, Any] = {
    "run_name": "fuzz",
    "questions": {"path": "questions.jsonl", "format": "auto", "categories": [], "limit": None},
    "generation": {"temperature": None, "max_tokens": 64, "concurrency": 2, "timeout_s": 10, "max_retries": 1},
    "candidates": [
        {"name": "alpha", "backend": "demo", "quality": 0.8, "verbosity": 0.5},
        {"name": "bravo", "backend": "demo", "quality": 0.3, "seed": 1},
    ],
    "judge": {"mode": "pairwise", "kind": "llm", "model": "gpt-4o", "verdict": "5way", "order": "both",
              "price": {"input_per_mtok": 2.5, "output_per_mtok": 10.0}, "max_cost_usd": 5},
    "rating": {"bootstrap": 10, "seed": 0, "percentiles": [2.5, 97.5]},
}
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 30),
    st.sampled_from([10**12, 2**63, -(2**63), 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.one_of(st.integers(-2, 5), st.text(max_size=4)), max_size=3),
    st.dictionaries(st.text(max_size=6), st.integers(-2, 5), max_size=2),
)
# Derandomized (the same examples on every CI run) and no example database written into the checkout
FUZZ = settings(derandomize=True, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FAST = settings(FUZZ, max_examples=100, deadline=2000)


def key_paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (keys and list indices) to a value inside the config."""
    paths = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            paths += key_paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            paths += key_paths(value, prefix + (i,))
    return paths


@st.composite
def mutated_configs(draw: st.DrawFn) -> dict[str, Any]:
    """BASE with one to three mutations: a value replaced by junk, a key deleted or an unknown key added."""
    cfg = yaml.safe_load(yaml.safe_dump(BASE))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(key_paths(cfg)))
        parent = cfg
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["junk", "junk", "delete", "unknown"]))
        if action == "junk":
            parent[path[-1]] = draw(JUNK)
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(JUNK)
        if not key_paths(cfg):
            break
    return cfg


def dump(cfg: Any) -> str:
    """YAML text of a config (values YAML cannot write, like 10**400, go out as they are written)."""
    return yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False)


def load_cleanly(path: Path) -> None:
    """Load a config: success, or an ArenaError whose message names the file (anything else fails the test)."""
    try:
        load_config(path)
        event("loaded")
    except ArenaError as exc:
        event("clean error")
        assert path.name in str(exc).splitlines()[0], str(exc)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the question file the configs name."""
    root = tmp_path_factory.mktemp("fuzzcfg")
    (root / "questions.jsonl").write_text(QUESTIONS)
    return root


@FAST
@given(cfg=mutated_configs())
def test_mutated_config_loads_or_names_the_file(folder: Path, cfg: dict[str, Any]) -> None:
    path = folder / "cfg.yaml"
    path.write_text(dump(cfg), encoding="utf-8")
    load_cleanly(path)


@FAST
@given(raw=damaged(dump(BASE).encode(), intact=0))
def test_damaged_config_bytes_load_or_name_the_file(folder: Path, raw: bytes) -> None:
    path = folder / "damaged.yaml"
    path.write_bytes(raw)
    load_cleanly(path)


RESULTS = ("runs", "answers", "judgments")


def snapshot(workspace: Path) -> dict[Path, bytes]:
    """Every result file of the workspace (runs and caches) with its bytes."""
    return {p: p.read_bytes() for d in RESULTS for p in (workspace / d).rglob("*") if p.is_file()}


def assert_kept(workspace: Path, before: dict[Path, bytes]) -> None:
    """Earlier runs' files are unchanged; cache files only grew (their old bytes are a prefix)."""
    for path, data in before.items():
        now = path.read_bytes()
        if path.relative_to(workspace).parts[0] == "runs":
            assert now == data, f"{path} changed"
        else:
            assert now.startswith(data), f"{path} lost or rewrote records"


@pytest.fixture(scope="module")
def done_workspace(folder: Path) -> tuple[Path, dict[Path, bytes]]:
    """A workspace holding one finished dry run of BASE, and its files' bytes."""
    (folder / "base.yaml").write_text(dump(BASE))
    workspace = folder / "ws"
    assert main(["run", "-c", str(folder / "base.yaml"), "--dry-run", "--no-progress", "--out", str(workspace)]) == 0
    return workspace, snapshot(workspace)


@settings(FUZZ, max_examples=15, deadline=10_000)
@given(cfg=mutated_configs())
def test_fuzzed_config_run_fails_cleanly_and_keeps_earlier_results(
    done_workspace: tuple[Path, dict[Path, bytes]], cfg: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    workspace, before = done_workspace
    path = workspace.parent / "run.yaml"
    path.write_text(dump(cfg), encoding="utf-8")
    code = main(["run", "-c", str(path), "--dry-run", "--no-progress", "--out", str(workspace)])
    err = capsys.readouterr().err
    event(f"exit {code}")
    assert "Traceback" not in err and "error: unexpected " not in err, err
    if code == 2:
        assert err.startswith("error: ") and path.name in err.splitlines()[0], err
    else:
        assert code in (0, 1), (code, err)  # 1: a run that finished without what it was asked for
    assert_kept(workspace, before)
