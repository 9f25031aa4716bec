"""`arena human battles -o` into the runs folder itself names what it is refused for: the runs folder holds
run folders, and a file there is not a run's. Real CLI on real files."""
from __future__ import annotations

from pathlib import Path

import pytest
from test_walkb_human_output import OTHER, RUN, refused, snapshot, ws  # noqa: F401 - ws is a fixture

from arena.cli import main


def test_a_file_directly_in_the_runs_folder_is_not_called_a_run(
    ws: Path, capsys: pytest.CaptureFixture  # noqa: F811 - the fixture imported above
) -> None:
    before = snapshot(ws)
    run = ws / "runs" / RUN
    err = refused(["human", "battles", str(run), "-o", str(ws / "runs" / "x.jsonl")], capsys)
    assert "of run x.jsonl" not in err
    assert "-o would write x.jsonl into the runs folder (runs/ holds run folders only)" in err
    (ws / "runs" / "stray.jsonl").write_text("kept\n")
    before["runs/stray.jsonl"] = b"kept\n"
    err = refused(["human", "battles", str(run), "-o", str(ws / "runs" / "stray.jsonl")], capsys)
    assert "-o would overwrite stray.jsonl in the runs folder (runs/ holds run folders only)" in err
    err = refused(["human", "battles", str(run), "-o", str(ws / "runs" / OTHER / "new.jsonl")], capsys)
    assert f"-o would overwrite a file of run {OTHER}" in err  # inside a run folder: as before
    assert snapshot(ws) == before
    assert main(["human", "battles", str(run), "-o", str(ws.parent / "fine.jsonl")]) == 0
