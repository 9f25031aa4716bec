"""The app's Compare page on hand-built run folders (streamlit.testing, no browser): the default pair, a pair from
the URL, the same verdicts as `compare_runs`, links to the battle browser, and a workspace with one judged run."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from streamlit.testing.v1 import AppTest
from test_compare import STRENGTH, _battles, _changed, _write_run

from arena.compare.result import compare_runs
from arena.compare.runs import load_run

APP = Path(__file__).resolve().parents[1] / "viz" / "app.py"
OLD, MID, NEW = "20260101-000000-weekly", "20260108-000000-weekly", "20260115-000000-weekly"


def _open(ws: Path, monkeypatch: pytest.MonkeyPatch, **params: str) -> AppTest:
    monkeypatch.setenv("ARENA_WORKSPACE", str(ws))
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params["page"] = "compare"
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception and not at.error, ([e.value for e in at.exception], [e.value for e in at.error])
    return at


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three weekly runs: m-a improves in week 2, m-e gets worse in week 3."""
    root = tmp_path_factory.mktemp("cmppage")
    week1 = _battles(STRENGTH, 40, seed=1)
    week2 = _changed(week1, _battles({**STRENGTH, "m-a": 1.8}, 40, seed=2), "m-a")
    week3 = _changed(week2, _battles({**STRENGTH, "m-a": 1.8, "m-e": -2.5}, 40, seed=3), "m-e")
    for name, rows in ((OLD, week1), (MID, week2), (NEW, week3)):
        _write_run(root, name, rows)
    return root


def _verdicts(at: AppTest) -> dict[str, str]:
    """Model -> verdict of the page's overall table."""
    table = at.dataframe[0].value
    return dict(zip(table["model"], table["verdict"]))


def test_default_pair_is_latest_against_previous(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(workspace, monkeypatch)
    assert at.selectbox(key="cmp_old").value == MID and at.selectbox(key="cmp_new").value == NEW
    expected = compare_runs(load_run(workspace / "runs" / MID), load_run(workspace / "runs" / NEW))
    assert _verdicts(at) == {r["model"]: r["verdict"] for r in expected["models"]}
    assert _verdicts(at)["m-e"] == "worse"
    flips = next(df.value for df in at.dataframe if "new run" in df.value.columns)
    query = parse_qs(urlsplit(flips["new run"].iloc[0]).query)
    assert query["page"] == ["battles"] and query["run"] == [NEW] and query["model"] == ["m-e"]


def test_pair_from_the_url(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(workspace, monkeypatch, old=OLD, new=MID)
    assert _verdicts(at)["m-a"] == "better"
    assert any(m.value.startswith("#### m-a: better") for m in at.markdown)
    assert at.query_params["old"] == OLD and at.query_params["new"] == MID


def test_one_judged_run_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_run(tmp_path, OLD, _battles(STRENGTH, 5, seed=1))
    at = _open(tmp_path, monkeypatch)
    assert "needs two judged runs" in at.info[0].value and not at.dataframe


def test_a_newest_run_alone_in_its_series_defaults_to_the_newest_comparable_pair(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After two weekly runs, a run of another series (another run name) is newest: the page opens on the two
    weekly runs, not on a pair that is not comparable."""
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(workspace, ws)
    _write_run(ws, "20260201-000000-other", _battles(STRENGTH, 10, seed=9), run_name="other")
    at = _open(ws, monkeypatch)
    assert at.selectbox(key="cmp_old").value == MID and at.selectbox(key="cmp_new").value == NEW
    assert not any("not comparable" in str(w.value) for w in at.warning)
