"""`arena bench` end to end against a real local OpenAI-compatible server (tests/openai_server.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import read_jsonl
from openai_server import FakeOpenAI

from arena.bench.cli import main as bench_main
from arena.bench.config import BenchConfig
from arena.bench.configfile import load_bench_config
from arena.bench.runner import run_bench
from arena.errors import ConfigError

MATH = [  # (question, gold, reply the fake model gives)
    ("Ann has 3 bags of 4 apples. How many apples?", 12, "3 * 4 = 12\nAnswer: 12"),                 # right
    ("A shop sells 1,000 pens and 200 more. How many pens?", 1200, "The answer is 1,200."),       # right
    ("Tom walks 2.5 km twice. How far?", 5, "2.5 + 2.5 = 5.0 km\nAnswer: 5.0"),                    # right
    ("Sue has 10 sweets and eats 4. How many are left?", 6, "10 - 4 = 7\nAnswer: 7"),             # wrong
    ("A box holds 6 eggs. How many eggs in 5 boxes?", 30, "I am not sure."),                      # wrong
]
CHOICE = [  # (stem, options, gold letter, reply)
    ("Which is a mammal?", ["shark", "whale", "trout", "eel"], "B", "The answer is (B)."),        # right
    ("Which is a gas at room temperature?", ["iron", "salt", "oxygen", "wax"], "C", "**C**"),    # right
    ("Which planet is largest?", ["Mars", "Venus", "Earth", "Jupiter"], "D", "D."),             # right
    ("Which is a liquid?", ["water", "sand", "wood", "glass"], "A", "Answer: C"),                # wrong
]
HAND_COUNT = {"math": 3 / 5, "sci": 3 / 4}


def _reply(request: dict) -> str:
    prompt = request["messages"][-1]["content"]
    for q, _, reply in MATH:
        if q in prompt:
            return reply
    for stem, _, _, reply in CHOICE:
        if stem in prompt:
            return reply
    return "unexpected prompt"


def _files(tmp_path: Path) -> tuple[Path, Path]:
    math = tmp_path / "math.jsonl"
    math.write_text("".join(json.dumps({"id": f"m{i}", "question": q, "answer": f"work\n#### {g}"}) + "\n"
                            for i, (q, g, _) in enumerate(MATH)))
    sci = tmp_path / "sci.jsonl"
    sci.write_text("".join(json.dumps({"id": f"s{i}", "question": {"stem": s, "choices": [
        {"text": t, "label": "ABCD"[j]} for j, t in enumerate(opts)]}, "answerKey": gold}) + "\n"
        for i, (s, opts, gold, _) in enumerate(CHOICE)))
    return math, sci


def _config(tmp_path: Path, srv: FakeOpenAI, **cand) -> Path:
    math, sci = _files(tmp_path)
    cfg = {"workspace": str(tmp_path / "ws"),
           "generation": {"temperature": 0.9, "max_tokens": 300},
           "candidates": [{"name": "m1", "backend": "openai", "model": "fake", "base_url": srv.base_url, **cand}],
           "bench": {"max_tokens": 256,
                     "tasks": [{"name": "math", "kind": "numeric", "path": str(math), "format": "gsm8k"},
                               {"name": "sci", "path": str(sci)}]}}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_bench_scores_equal_hand_count_files_written_and_rerun_is_free(tmp_path):
    with FakeOpenAI(reply=_reply) as srv:
        cfg_path = _config(tmp_path, srv, generation={"temperature": 0.7})
        ws = tmp_path / "ws"
        (ws / "bench").mkdir(parents=True)
        (ws / "bench" / "m1.json").write_text(json.dumps({"model": "m1", "scores": {"mmlu": 0.5}, "n": {"mmlu": 10}}))
        cfg, bench = load_bench_config(cfg_path)
        out = run_bench(cfg, bench, show_progress=False, log=lambda s: None)
        assert len(srv.requests) == 9
        assert {r["temperature"] for r in srv.requests} == {0.0}  # greedy, whatever the config says
        assert {r["max_tokens"] for r in srv.requests} == {256}
        res = out.results["m1"]
        assert res["scores"] == pytest.approx(HAND_COUNT) and res["n"] == {"math": 5, "sci": 4}
        saved = json.loads((ws / "bench" / "m1.json").read_text())
        assert saved["scores"] == pytest.approx({**HAND_COUNT, "mmlu": 0.5})  # merged with what was there
        assert saved["n"]["mmlu"] == 10 and saved["updated"]
        by_id = {d["id"]: d for d in saved["details"]["math"]}
        assert by_id["m1"] == {"id": "m1", "correct": True, "extracted": "1200", "expected": "1200"}
        assert by_id["m3"]["extracted"] == "7" and not by_id["m3"]["correct"]
        assert [d["extracted"] for d in saved["details"]["sci"]] == ["B", "C", "D", "C"]
        per_run = json.loads((out.run.path / "bench" / "m1.json").read_text())
        assert per_run["scores"] == pytest.approx(HAND_COUNT) and "mmlu" not in per_run["scores"]
        answers = read_jsonl(ws / "answers" / "m1.jsonl")
        assert len(answers) == 9 and {a["category"] for a in answers} == {"bench:math", "bench:sci"}
        info = json.loads((out.run.path / "run.json").read_text())
        assert info["status"] == "completed" and info["stages"]["bench"]["models"]["m1"]["math"]["n"] == 5
        assert info["config"]["bench"]["tasks"][0]["name"] == "math"

        again = run_bench(*load_bench_config(cfg_path), show_progress=False, log=lambda s: None)
        assert len(srv.requests) == 9  # everything came from the answer cache
        assert again.results["m1"]["scores"] == pytest.approx(HAND_COUNT)
        assert again.run.info["stages"]["answers"]["models"]["m1"]["cached"] == 9


def test_cli_tasks_and_limit_select_work(tmp_path, capsys):
    with FakeOpenAI(reply=_reply) as srv:
        cfg_path = _config(tmp_path, srv)
        rc = bench_main(["-c", str(cfg_path), "--tasks", "sci", "--limit", "2", "--no-progress"])
        assert rc == 0 and len(srv.requests) == 2
        assert "sci" in capsys.readouterr().out
        saved = json.loads((tmp_path / "ws" / "bench" / "m1.json").read_text())
        assert saved["scores"] == {"sci": 1.0} and saved["n"] == {"sci": 2}
        assert bench_main(["-c", str(cfg_path), "--tasks", "nope"]) == 2
        assert "unknown bench task(s) nope" in capsys.readouterr().err


def test_config_errors_name_the_key_and_line(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("candidates:\n  - {name: d, backend: demo}\nbench:\n  tasks:\n    - name: x\n      pth: a.jsonl\n")
    with pytest.raises(ConfigError) as err:
        load_bench_config(path)
    assert "bench.tasks.0" in str(err.value) and "did you mean 'path'" in str(err.value) and "line 6" in str(err.value)
    path.write_text("candidates:\n  - {name: d, backend: demo}\n")
    with pytest.raises(ConfigError, match="no 'bench:' section"):
        load_bench_config(path)
    with pytest.raises(ValueError, match="unique"):
        BenchConfig.model_validate({"tasks": [{"name": "a", "path": "x"}, {"name": "a", "path": "y"}]})


def test_shipped_bench_config_runs_offline_with_demo_candidates(tmp_path, monkeypatch):
    root = Path(__file__).resolve().parent.parent
    monkeypatch.chdir(root)
    rc = bench_main(["-c", "configs/cfg_bench.yaml", "--out", str(tmp_path / "ws"), "--no-progress"])
    assert rc == 0
    files = sorted(p.name for p in (tmp_path / "ws" / "bench").glob("*.json"))
    assert files == ["demo-alpha.json", "demo-bravo.json", "demo-charlie.json"]
    data = json.loads((tmp_path / "ws" / "bench" / "demo-alpha.json").read_text())
    assert {"math_numeric": 20, "science_choice": 20}.items() <= data["n"].items()
    assert data["n"]["science_choice_ll"] == 20 and data["n"]["domain_perplexity"] == 6  # log-likelihood kinds
    assert data["sources"]["domain_perplexity"]["demo"]  # placeholder log-probabilities are labelled


def test_missing_task_file_names_config_key_and_places_looked(tmp_path, monkeypatch):
    conf_dir = tmp_path / "configs"
    conf_dir.mkdir()
    path = conf_dir / "cfg.yaml"
    path.write_text("candidates:\n  - {name: d, backend: demo}\nbench:\n  tasks:\n"
                    "    - {name: ok, path: ok.jsonl}\n    - {name: gone, path: data/missing.jsonl}\n")
    (conf_dir / "ok.jsonl").write_text(json.dumps({"id": "1", "prompt": "2+2?", "answer": "4"}) + "\n")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    cfg, bench = load_bench_config(path)
    assert bench.tasks[0].path == conf_dir / "ok.jsonl"      # found next to the config
    with pytest.raises(ConfigError) as err:
        run_bench(cfg, bench, show_progress=False, log=lambda s: None)
    msg = str(err.value)
    assert str(path) in msg and "bench.tasks[1].path" in msg and "data/missing.jsonl" in msg
    looked = [str(work / "data/missing.jsonl"), str(conf_dir / "data/missing.jsonl"),
              str(tmp_path / "data/missing.jsonl")]
    assert all(p in msg for p in looked)
    assert msg.index(looked[0]) < msg.index(looked[1]) < msg.index(looked[2])   # the order they are tried
    assert not (tmp_path / "work" / "arena-workspace").exists()                # failed before starting a run
    # only the selected tasks are checked
    out = run_bench(cfg, bench, task_names=["ok"], show_progress=False, log=lambda s: None)
    assert out.results["d"]["n"] == {"ok": 1}


def test_task_path_resolution_order_current_directory_first(tmp_path, monkeypatch):
    conf_dir = tmp_path / "configs"
    (conf_dir / "data").mkdir(parents=True)
    (tmp_path / "data").mkdir()
    for folder in (tmp_path / "data", conf_dir / "data"):
        (folder / "t.jsonl").write_text(json.dumps({"id": "1", "prompt": "x", "answer": "y"}) + "\n")
    path = conf_dir / "cfg.yaml"
    path.write_text("candidates:\n  - {name: d, backend: demo}\n"
                    "bench:\n  tasks:\n    - {name: t, path: data/t.jsonl}\n")
    monkeypatch.chdir(tmp_path)
    _, bench = load_bench_config(path)
    assert bench.tasks[0].path == Path("data/t.jsonl")           # the current directory wins, as in arena.config
    monkeypatch.chdir(conf_dir / "data")
    _, bench = load_bench_config(path)
    assert bench.tasks[0].path == conf_dir / "data" / "t.jsonl"  # then the config's folder
    absent = BenchConfig.model_validate({"tasks": [{"name": "a", "path": str(tmp_path / "nope.jsonl")}]})
    msg = absent.missing_path_error(absent.tasks[0])
    assert msg and "bench.tasks[0].path" in msg and str(tmp_path / "nope.jsonl") in msg


def scored_once_without_retries(tmp_path: Path, srv: FakeOpenAI) -> Path:
    """The bench config of `_config` with retries off, run once (every item answered); its path."""
    cfg_path = _config(tmp_path, srv)
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["generation"]["max_retries"] = 0
    cfg_path.write_text(yaml.safe_dump(cfg))
    assert bench_main(["-c", str(cfg_path), "--no-progress"]) == 0
    return cfg_path


def test_a_rescore_that_fails_keeps_the_old_measurement_whole(tmp_path, capsys):
    with FakeOpenAI(reply=_reply) as srv:
        cfg_path = scored_once_without_retries(tmp_path, srv)
        before = json.loads((tmp_path / "ws" / "bench" / "m1.json").read_text())
        assert before["scores"]["sci"] == 0.75 and before["details"]["sci"]
        for f in (tmp_path / "ws" / "answers").glob("*.jsonl"):
            f.unlink()  # nothing cached: every sci item (the same items and prompts) is asked again
        srv.fail_next(500, times=100)
        assert bench_main(["-c", str(cfg_path), "--tasks", "sci", "--no-progress"]) == 1
    saved = json.loads((tmp_path / "ws" / "bench" / "m1.json").read_text())
    # no item scored: the old score, n, details and missing stay together (nothing of the failed run
    # beside them)
    for key in ("scores", "stderr", "n", "details"):
        assert saved[key]["sci"] == before[key]["sci"], key
    assert saved["sources"]["sci"]["missing"] == 0 and saved["sources"]["sci"]["kept"]["reason"]
    assert saved["scores"]["math"] == before["scores"]["math"]  # the task not rescored is kept as it was
    from arena.bench.results import score_rows

    row = next(r for r in score_rows(saved, breakdown=False) if r["task"] == "sci")
    assert row["value"] == 0.75 and row["n"] == 4 and row["kept"]


def test_a_limited_run_says_so_in_the_files_the_table_and_the_leaderboard(tmp_path, capsys):
    with FakeOpenAI(reply=_reply) as srv:
        cfg_path = _config(tmp_path, srv)
        assert bench_main(["-c", str(cfg_path), "--limit", "2", "--no-progress"]) == 0
        out = capsys.readouterr().out
        saved = json.loads((tmp_path / "ws" / "bench" / "m1.json").read_text())
        assert saved["sources"]["sci"]["limit"] == 2 and saved["sources"]["math"]["limit"] == 2
        assert out.count("first 2 items only") == 2
        assert bench_main(["-c", str(cfg_path), "--tasks", "sci", "--no-progress"]) == 0  # the whole task
        saved = json.loads((tmp_path / "ws" / "bench" / "m1.json").read_text())
        assert "limit" not in saved["sources"]["sci"] and saved["sources"]["math"]["limit"] == 2
        assert "items only" not in capsys.readouterr().out.split("sci", 1)[1].splitlines()[0]
    from arena.board_columns import objective_section

    tasks = objective_section(tmp_path / "ws", ["m1"])["models"]["m1"]["tasks"]
    assert tasks["math"]["limit"] == 2 and "limit" not in tasks["sci"]


@pytest.mark.parametrize("finish", ["stop", "length"])
def test_an_empty_reply_is_scored_wrong_not_left_out(tmp_path, finish):
    """lm-eval and evalscope score an empty reply wrong; leaving it out raised the accuracy of a model that
    answers hard items with nothing (or a reasoning model that ran out of tokens)."""
    def reply(request: dict) -> str:
        return "" if MATH[0][0] in request["messages"][-1]["content"] else _reply(request)

    with FakeOpenAI(reply=reply) as srv:
        srv.finish_reason = lambda body: finish if MATH[0][0] in body["messages"][-1]["content"] else "stop"
        cfg_path = _config(tmp_path, srv)
        assert bench_main(["-c", str(cfg_path), "--tasks", "math", "--no-progress"]) == 0
        assert len(srv.requests) == 5  # asked once: not retried as a failure
        saved = json.loads((tmp_path / "ws" / "bench" / "m1.json").read_text())
        assert saved["n"]["math"] == 5 and saved["sources"]["math"]["missing"] == 0
        assert saved["scores"]["math"] == pytest.approx(2 / 5)  # the hand count 3/5 less the emptied right answer
        by_id = {d["id"]: d for d in saved["details"]["math"]}
        assert by_id["m0"]["extracted"] is None and not by_id["m0"]["correct"]
        assert bench_main(["-c", str(cfg_path), "--tasks", "math", "--no-progress"]) == 0
        assert len(srv.requests) == 5  # the empty answer is cached like any other


def test_the_recorded_prompt_hash_follows_the_system_prompt(tmp_path):
    with FakeOpenAI(reply=_reply) as srv:
        cfg_path = _config(tmp_path, srv)
        assert bench_main(["-c", str(cfg_path), "--tasks", "sci", "--no-progress"]) == 0
        first = json.loads((tmp_path / "ws" / "bench" / "m1.json").read_text())["sources"]["sci"]["prompt_hash"]
        cfg = yaml.safe_load(cfg_path.read_text())
        cfg["bench"]["system_prompt"] = "Answer briefly."
        cfg_path.write_text(yaml.safe_dump(cfg))
        assert bench_main(["-c", str(cfg_path), "--tasks", "sci", "--no-progress"]) == 0
        assert len(srv.requests) == 8 and srv.requests[-1]["messages"][0]["content"] == "Answer briefly."
    second = json.loads((tmp_path / "ws" / "bench" / "m1.json").read_text())["sources"]["sci"]["prompt_hash"]
    assert second != first  # new answers under a new system prompt, and the record says it changed
