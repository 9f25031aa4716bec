"""`arena human battles -o` and `arena agreement -o` never write into a workspace's data folders (another
run's files, the answer and judgment caches, vote logs, bench and perf results), whatever path, symlink or
hard link names them: exit 2, one line with a hint, nothing written. Through the real CLI on real files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from test_human_agreement import RUN, VOTES, judged_run

from arena.cli import main
from arena.human.votes import append_record, votes_path

OTHER = "20240102-000000-other"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A workspace with the judged run (votes cast), another run with its own files and votes, and the shared
    caches and result folders filled the way runs fill them."""
    run = judged_run(tmp_path)
    workspace = run.parent.parent
    for rec in VOTES:
        append_record(votes_path(workspace, RUN), rec)
    other = workspace / "runs" / OTHER
    other.mkdir()
    (other / "run.json").write_text(json.dumps({"run_id": OTHER, "status": "completed"}))
    (other / "battles.jsonl").write_text('{"model_a": "x", "model_b": "y", "winner": "tie"}\n')
    append_record(votes_path(workspace, OTHER), VOTES[0])
    for rel in ("answers/c1.jsonl", "judgments/gpt/pairwise.jsonl", "bench/c1.json", "perf/p1.json",
                "logprobs/c1.jsonl", ".arena.lock"):
        (workspace / rel).parent.mkdir(parents=True, exist_ok=True)
        (workspace / rel).write_text(f"precious {rel}\n")
    return workspace


def snapshot(workspace: Path) -> dict[str, bytes]:
    """Every file under the workspace and its bytes."""
    return {str(p.relative_to(workspace)): p.read_bytes()
            for p in sorted(workspace.rglob("*")) if p.is_file()}


def refused(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    """Run the CLI, expect exit 2 with one error line and one hint line; returns stderr."""
    assert main(argv) == 2, argv
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].strip().startswith("hint: "), err
    return err


@pytest.mark.parametrize("command", [["human", "battles"], ["human", "battles", "--pool"], ["agreement"]])
def test_output_into_any_workspace_data_folder_is_refused(
    ws: Path, tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture
) -> None:
    run = ws / "runs" / RUN
    before = snapshot(ws)
    targets = [ws / "runs" / OTHER / "battles.jsonl", ws / "runs" / OTHER / "run.json",
               ws / "runs" / OTHER / "new.jsonl",  # not there yet: still the other run's folder
               ws / "answers" / "c1.jsonl", ws / "answers" / "new-model.jsonl",
               ws / "judgments" / "gpt" / "pairwise.jsonl", votes_path(ws, OTHER), ws / "human" / "x.jsonl",
               ws / "bench" / "c1.json", ws / "perf" / "p1.json", ws / "logprobs" / "c1.jsonl",
               ws / ".arena.lock", ws / "runs" / RUN / ".." / ".." / "answers" / "c1.jsonl"]
    for target in targets:
        err = refused([*command[:1], *command[1:2], str(run), *command[2:], "-o", str(target)], capsys)
        assert str(target) in err and "-o would overwrite" in err
    assert snapshot(ws) == before  # nothing written, nothing created


@pytest.mark.parametrize("command", [["human", "battles"], ["agreement"]])
def test_links_to_workspace_files_are_refused(
    ws: Path, tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture
) -> None:
    run = ws / "runs" / RUN
    before = snapshot(ws)
    outside = tmp_path / "out"
    outside.mkdir()
    (outside / "sym.jsonl").symlink_to(ws / "answers" / "c1.jsonl")
    os.link(ws / "answers" / "c1.jsonl", outside / "hard.jsonl")
    os.link(ws / "runs" / OTHER / "battles.jsonl", outside / "hard-battles.jsonl")
    os.link(votes_path(ws, RUN), outside / "hard-votes.jsonl")
    (outside / "dirlink").symlink_to(ws / "judgments")
    for name in ("sym.jsonl", "hard.jsonl", "hard-battles.jsonl", "hard-votes.jsonl",
                 "dirlink/gpt/pairwise.jsonl", "dirlink/gpt/new.jsonl"):
        err = refused([*command, str(run), "-o", str(outside / name)], capsys)
        assert "-o would overwrite" in err
    assert snapshot(ws) == before


def test_output_outside_the_data_folders_is_written(
    ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = ws / "runs" / RUN
    before = snapshot(ws)
    for target in (tmp_path / "human.jsonl", ws / "human-battles.jsonl"):  # the workspace root itself is fine
        assert main(["human", "battles", str(run), "-o", str(target)]) == 0
        assert len(target.read_text().splitlines()) == len(VOTES)
    plain = tmp_path / "plain.jsonl"
    plain.write_text("old\n")
    os.link(plain, tmp_path / "plain-link.jsonl")  # a hard link between two files of the user's is no concern
    assert main(["agreement", str(run), "--format", "json", "-o", str(plain)]) == 0
    assert json.loads(plain.read_text())["run"] == RUN
    after = snapshot(ws)
    assert after.pop("human-battles.jsonl") and after == before
