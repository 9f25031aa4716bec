"""What `arena rate` reads: a folder of Parquet files is rated whatever else the folder holds (its own
outputs, dataset metadata), with one note naming what was left out; -o is refused only for a file read as
battles."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from interop_fixtures import write_jsonl

from arena.cli import main

ROWS = [{"model_a": "a", "model_b": "b", "winner": w} for w in ["model_a", "tie", "model_b", "model_a"] * 3]


def _folder(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    pd.DataFrame(ROWS[:6]).to_parquet(folder / "part-0.parquet")
    pd.DataFrame(ROWS[6:]).to_parquet(folder / "part-1.parquet")
    write_jsonl(tmp_path / "all.jsonl", ROWS)  # the reference: the same battles in one file
    return folder


@pytest.mark.parametrize("engine", ["pyarrow", "duckdb"])
def test_a_parquet_folder_beside_its_own_rate_outputs_and_metadata_is_rated(tmp_path, capsys, engine):
    if engine == "duckdb":
        pytest.importorskip("duckdb")
    folder = _folder(tmp_path)
    (folder / "_metadata.json").write_text("{}")
    (folder / "dataset_info.json").write_text('{"features": {}}')
    (folder / "README.md").write_text("# logs\n")
    assert main(["rate", str(tmp_path / "all.jsonl"), "--bootstrap", "0", "--format", "json"]) == 0
    reference = json.loads(capsys.readouterr().out)["table"]
    lb = folder / "lb.csv"
    assert main(["rate", str(folder), "--bootstrap", "0", "--engine", engine, "-o", str(lb)]) == 0
    capsys.readouterr()
    assert (folder / "lb.csv").is_file() and (folder / "lb_head_to_head.csv").is_file()
    for _ in range(2):  # again, now beside lb.csv and lb_head_to_head.csv: the same board, one note
        assert main(["rate", str(folder), "--bootstrap", "0", "--engine", engine, "--format", "json"]) == 0
        captured = capsys.readouterr()
        assert json.loads(captured.out)["table"] == reference
        notes = [ln for ln in captured.err.splitlines() if "left out" in ln]
        assert len(notes) == 1, captured.err
        for name in ("_metadata.json", "dataset_info.json", "lb.csv", "lb_head_to_head.csv"):
            assert name in notes[0]
        assert "README.md" not in notes[0] and "2 Parquet files" in notes[0]


def test_a_glob_that_matches_other_files_is_still_an_error(tmp_path, capsys):
    folder = _folder(tmp_path)
    write_jsonl(folder / "more.jsonl", ROWS)
    assert main(["rate", f"{folder}/*", "--bootstrap", "0", "--engine", "pyarrow"]) == 2
    err = capsys.readouterr().err
    assert "not Parquet" in err and "more.jsonl" in err
    assert main(["rate", f"{folder}/*.parquet", "--bootstrap", "0", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_battles"] == len(ROWS)


def test_rate_run_output_inside_the_run_folder_can_be_written_twice(tmp_path, capsys):
    run = tmp_path / "run"
    write_jsonl(run / "battles.jsonl", ROWS)
    (run / "run.json").write_text(json.dumps({"run_id": "run", "status": "completed"}))
    for _ in range(2):
        code = main(["rate", str(run), "--bootstrap", "0", "-o", str(run / "lb2.json")])
        assert code == 0, capsys.readouterr()
        assert json.loads((run / "lb2.json").read_text())["n_battles"] == len(ROWS)
    capsys.readouterr()
    # the battles file itself (and the head-to-head name beside it) are still refused
    assert main(["rate", str(run), "--bootstrap", "0", "-o", str(run / "battles.jsonl")]) == 2
    assert "-o names the battles file being rated" in capsys.readouterr().err
    folder = _folder(tmp_path)
    (folder / "lb.json").write_text("{}")
    assert main(["rate", str(folder), "--bootstrap", "0", "-o", str(folder / "part-1.parquet")]) == 2
    assert "-o names the battles file being rated" in capsys.readouterr().err
    assert main(["rate", str(folder), "--bootstrap", "0", "-o", str(folder / "lb.json")]) == 0
