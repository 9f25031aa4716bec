"""`arena compare` on real run folders: two dry runs of the quick start, a baseline-mode pair, template hashes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_compare import STRENGTH, _battles, _write_run

from arena.cli import main
from arena.compare.result import compare_runs
from arena.compare.runs import load_run

ROOT = Path(__file__).resolve().parents[1]


def test_two_dry_runs_of_the_quick_start_show_no_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = tmp_path / "ws"
    for _ in range(2):
        code = main(["run", "-c", str(ROOT / "configs" / "cfg_pairwise.yaml"), "--dry-run", "--out", str(ws),
                     "--limit", "4", "--no-progress"])
        assert code == 0
    capsys.readouterr()
    assert main(["compare", str(ws), "--rounds", "50", "--format", "json", "--fail-on-regression", "demo-alpha"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["comparable"], out["reasons"]
    assert len(out["models"]) == 4 and out["better"] == [] and out["worse"] == []
    # identical verdicts: the paired style-controlled draws cancel exactly, as the raw ones do
    assert out["style"]["available"] and len(out["style"]["models"]) == 4
    assert all(abs(r["ci_high"]) < 1e-6 and abs(r["ci_low"]) < 1e-6 for r in out["style"]["models"].values())
    assert out["template_hash"]["old"] and out["template_hash"]["old"] == out["template_hash"]["new"]
    runs = sorted(p.name for p in (ws / "runs").iterdir())
    assert [out["old_run"]["run_id"], out["new_run"]["run_id"]] == runs
    assert (ws / "runs" / runs[1] / "compare.json").is_file()
    md, html = (ws / "runs" / runs[1] / "report.md").read_text(), (ws / "runs" / runs[1] / "report.html").read_text()
    assert "- significantly better: none\n- significantly worse: none" in md
    assert "No significant change, so nothing to explain." in md and "### " not in md
    assert "<li>significantly better: none</li><li>significantly worse: none</li>" in html
    assert "class='better'" not in html and "class='worse'" not in html


def _baseline_rows(strength: dict[str, float], n_questions: int, seed: int) -> list[dict]:
    """Baseline-mode battles: every candidate against `base` only."""
    rows = _battles({**strength, "base": 0.0}, n_questions, seed)
    return [r for r in rows if "base" in (r["model_a"], r["model_b"]) and r["model_a"] != r["model_b"]]


def _set_mode(run: Path, mode: str, baseline: str | None = None) -> None:
    """Rewrite a fixture run's judge mode (and judge baseline)."""
    info = json.loads((run / "run.json").read_text())
    info["config"]["judge"].update(mode=mode, baseline=baseline)
    (run / "run.json").write_text(json.dumps(info))


def test_baseline_mode_fixes_the_scale_at_the_baseline(tmp_path: Path) -> None:
    old_rows = _baseline_rows(STRENGTH, 60, seed=1)
    new_rows = [r for r in old_rows if "m-e" not in (r["model_a"], r["model_b"])] + [
        r for r in _baseline_rows({**STRENGTH, "m-e": 1.5}, 60, seed=2) if "m-e" in (r["model_a"], r["model_b"])]
    old, new = _write_run(tmp_path, "r1", old_rows), _write_run(tmp_path, "r2", new_rows)
    for run in (old, new):
        _set_mode(run, "baseline", "base")
    result = compare_runs(load_run(old), load_run(new), rounds=100)
    verdicts = {r["model"]: r["verdict"] for r in result["models"]}
    assert verdicts["base"] == "reference (fixed)" and verdicts["m-e"] == "better"
    assert [m for m, v in verdicts.items() if v in ("better", "worse")] == ["m-e"]
    assert "base fixed" in result["scale"]
    # unchanged models: identical battles against a fixed baseline, so exactly no change
    assert all(abs(r["change"]) < 1e-6 for r in result["models"] if r["model"] not in ("m-e",))


def _judgments(run: Path, template_hash: str) -> None:
    """A judgments.jsonl with one template hash."""
    rec = {"judge_model": "judge-x", "template_hash": template_hash, "status": "ok"}
    (run / "judgments.jsonl").write_text(json.dumps(rec) + "\n")


def test_changed_template_or_mode_is_named(tmp_path: Path) -> None:
    rows = _battles(STRENGTH, 8, seed=1)
    old, new = _write_run(tmp_path, "r1", rows), _write_run(tmp_path, "r2", rows)
    _judgments(old, "aaaa")
    _judgments(new, "bbbb")
    _set_mode(new, "pairwise-sampled")
    info = json.loads((new / "run.json").read_text())
    (new / "run.json").write_text(json.dumps({**info, "status": "partial"}))
    result = compare_runs(load_run(old), load_run(new))
    assert any("new run's status is 'partial'" in n for n in result["notes"])
    assert not result["comparable"]
    assert any("template hash" in r and "aaaa" in r and "bbbb" in r for r in result["reasons"])
    assert any("judge mode" in r for r in result["reasons"])


def test_entered_and_left_models(tmp_path: Path) -> None:
    rows = _battles(STRENGTH, 20, seed=1)
    swapped = _battles({**{m: s for m, s in STRENGTH.items() if m != "m-e"}, "m-new": 0.2}, 20, seed=1)
    result = compare_runs(load_run(_write_run(tmp_path, "r1", rows)), load_run(_write_run(tmp_path, "r2", swapped)),
                          rounds=30)
    assert [e["model"] for e in result["entered"]] == ["m-new"]
    assert [e["model"] for e in result["left"]] == ["m-e"]
    assert {r["model"] for r in result["models"]} == {"m-a", "m-b", "m-c", "m-d"}


def test_shared_anchor_fixes_the_scale_at_its_rating(tmp_path: Path) -> None:
    rows = _battles(STRENGTH, 30, seed=1)
    new_rows = _battles({**STRENGTH, "m-c": 1.0}, 30, seed=2)
    old, new = _write_run(tmp_path, "r1", rows), _write_run(tmp_path, "r2", new_rows)
    for run in (old, new):
        (run / "leaderboard.json").write_text(json.dumps({"options": {"anchor": ["m-b", 1200.0], "init": 1000.0}}))
    result = compare_runs(load_run(old), load_run(new), rounds=40, categories=False)
    anchor = next(r for r in result["models"] if r["model"] == "m-b")
    assert anchor["verdict"] == "reference (fixed)" and anchor["change"] == 0.0
    assert anchor["old_rating"] == pytest.approx(1200.0) and anchor["new_rating"] == pytest.approx(1200.0)
    for row in result["models"]:
        assert row["new_rating"] - row["old_rating"] == pytest.approx(row["change"])
    assert result["scale"].startswith("m-b fixed")


def test_two_models_only_says_changes_cannot_be_attributed(tmp_path: Path) -> None:
    two = {"m-a": 0.0, "m-b": 0.3}
    result = compare_runs(load_run(_write_run(tmp_path, "r1", _battles(two, 20, seed=1))),
                          load_run(_write_run(tmp_path, "r2", _battles(two, 20, seed=2))), rounds=20)
    assert any("cannot be attributed" in n for n in result["notes"])


def _facts_line_by_line(path: Path) -> tuple[list[str], list[str]]:
    """The judge facts by the textbook loop over every record (the reference for the pyarrow reader)."""
    from arena.records import iter_jsonl

    hashes, models = set(), set()
    for _, rec in iter_jsonl(path, strict=False):
        if rec.get("template_hash"):
            hashes.add(str(rec["template_hash"]))
        if rec.get("judge_model") or rec.get("judge"):
            models.add(str(rec.get("judge_model") or rec.get("judge")))
    return sorted(hashes), sorted(models)


@pytest.mark.parametrize("tail", ["", '{"key": "torn", "judge": "late-judge", "templ', '{"judge_model": 5}'],
                         ids=["clean", "torn last line", "field of another type"])
def test_judge_facts_of_a_judgments_file_match_a_full_read(tmp_path: Path, tail: str) -> None:
    from arena.compare.runs import _judgment_facts, _judgment_facts_arrow

    rows = [{"key": f"k{i}", "judge": ["j1", "j2", ""][i % 3], "judge_model": ["", None, "model-x", "m<y>"][i % 4],
             "template_hash": [None, "", "h1", "h2"][i % 4], "raw": "text " * 20} for i in range(200)]
    rows.append({"key": "bare"})  # no judge fields at all
    path = tmp_path / "judgments.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + tail, encoding="utf-8")
    assert _judgment_facts(path) == _facts_line_by_line(path)
    assert (_judgment_facts_arrow(path) is None) == bool(tail)  # the line reader takes what pyarrow cannot
    assert {"j1", "j2", "m<y>", "model-x"} <= set(_judgment_facts(path)[1])
