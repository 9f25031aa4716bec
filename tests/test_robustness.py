"""What goes wrong in practice: keys sent astray, broken replies, dead judges, reordered or added candidates."""
from __future__ import annotations

import json

import pytest

from arena.backends.openai_compat import resolve_api_key
from arena.cli import main
from arena.config import JudgeConfig, load_config
from arena.pipeline import run_pipeline
from arena.questions import Question
from conftest import read_jsonl, write_config
from judges.tasks import schedule_pairs
from openai_server import FakeOpenAI
from test_judge_stage import _cands, _judge, prefer


def _run(cfg, **kw):
    return run_pipeline(load_config(cfg), show_progress=False, log=lambda s: None, **kw)


def test_openai_key_only_goes_to_openai(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai-key")
    monkeypatch.setenv("DASHSCOPE_API_KEY", "ds-key")
    assert resolve_api_key(None, None, "x") == "sk-real-openai-key"
    assert resolve_api_key("https://api.openai.com/v1", None, "x") == "sk-real-openai-key"
    assert resolve_api_key("https://dashscope.aliyuncs.com/compatible-mode/v1", None, "x") == "ds-key"
    for url in ("http://gpu-box:8000/v1", "https://api.openai.com.evil.example/v1", "http://127.0.0.1:9/v1"):
        assert resolve_api_key(url, None, "x") == "EMPTY"


def test_key_is_not_sent_to_a_self_hosted_server(tmp_path, questions_file, fake_openai, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai-key")
    cfg = write_config(tmp_path, questions_file, _cands(fake_openai, ("m",)))
    _run(cfg)
    assert fake_openai.auth_headers and set(fake_openai.auth_headers) == {"Bearer EMPTY"}


@pytest.mark.parametrize("kind", ["truncated", "no_choices", "not_json"])
def test_broken_reply_is_retried_never_cached(tmp_path, questions_file, fake_openai, kind):
    fake_openai.break_next(kind)
    cfg = write_config(tmp_path, questions_file, _cands(fake_openai, ("m",)), generation={"concurrency": 1})
    ctx = _run(cfg)
    recs = read_jsonl(tmp_path / "ws" / "answers" / "m.jsonl")
    assert len(recs) == 4 and all(r["finish_reason"][0] == "stop" for r in recs)
    assert all(not t.endswith("is ") for r in recs for t in r["turns"])
    assert ctx.run.info["stages"]["answers"]["models"]["m"]["failed"] == 0


def test_unusable_replies_fail_one_question_not_the_run(tmp_path, questions_file, fake_openai):
    fake_openai.break_next("no_choices", times=20)  # more than the retries of one question
    cfg = write_config(tmp_path, questions_file, _cands(fake_openai, ("m",)),
                       generation={"concurrency": 1, "max_retries": 1, "stream": False})
    ctx = _run(cfg)
    s = ctx.run.info["stages"]["answers"]["models"]["m"]
    assert s["failed"] >= 1 and ctx.run.info["status"] == ("failed" if not s["generated"] else "partial")
    assert any("unusable reply" in e["message"] for e in ctx.run.info["errors"])


def test_dead_judge_is_given_up_recorded_and_exits_1(tmp_path, questions_file, fake_openai, capsys):
    judge = {"mode": "pairwise", "model": "j", "base_url": "http://127.0.0.1:9/v1", "max_retries": 0,
             "concurrency": 1, "timeout_s": 2}
    cfg = write_config(tmp_path, questions_file, _cands(fake_openai), judge=judge)
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 1
    info = json.loads(next((tmp_path / "ws" / "runs").iterdir()).joinpath("run.json").read_text())
    j = info["stages"]["judge"]
    assert j["errors"] == 5 and j["not_done"] == 5  # gave up after 5 failures in a row
    assert any("gave up on http://127.0.0.1:9/v1" in e["message"] for e in info["errors"])
    assert "no battles or scores" in capsys.readouterr().err


def test_a_judge_url_that_serves_a_web_page_is_given_up_like_a_dead_one(tmp_path, questions_file, fake_openai):
    """base_url on a web app's catch-all route: HTTP 200 with HTML every time. Retried (a proxy's error page may
    pass), but each judgment that gets only web pages counts as an endpoint failure: five in a row stop the stage,
    instead of every judgment spending all its retries."""
    with FakeOpenAI() as judge:
        judge.fault_for = lambda req: "not_json"
        cfg = write_config(tmp_path, questions_file, _cands(fake_openai),
                           judge={**_judge(judge), "max_retries": 1, "concurrency": 1})
        assert main(["run", "-c", str(cfg), "--no-progress"]) == 1
        asked = len(judge.requests)
    info = json.loads(next((tmp_path / "ws" / "runs").iterdir()).joinpath("run.json").read_text())
    assert info["stages"]["judge"]["errors"] == 5 and asked == 5 * 2  # then given up: 5 of 10 never asked
    rec = read_jsonl(tmp_path / "ws" / "judgments" / "judge-model" / "pairwise.jsonl")[0]
    assert "answered HTTP 200 with a web page" in rec["error"] and "<html>proxy error</html>" in rec["error"]
    assert any(f"gave up on {judge.base_url}" in e["message"] for e in info["errors"])


def test_a_candidate_whose_judgments_all_failed_is_named_not_dropped_quietly(tmp_path, questions_file, fake_openai):
    """Every judgment involving `lost` has no verdict: the leaderboard cannot hold it, and the run says which
    candidate is missing and why (terminal and run.json), rather than showing a board without it."""
    good = prefer("good")

    def judge_reply(req: dict) -> str:
        shown = " ".join(m["content"] for m in req["messages"])  # the follow-up too
        return "I cannot decide." if "from lost " in shown else good(req)

    with FakeOpenAI(reply=judge_reply) as judge:
        cfg = write_config(tmp_path, questions_file, _cands(fake_openai, ("good", "bad", "lost")),
                           judge=_judge(judge), rating={"bootstrap": 10})
        logged: list[str] = []
        ctx = run_pipeline(load_config(cfg), show_progress=False, log=logged.append)
    board = json.loads((ctx.run.path / "leaderboard.json").read_text())
    assert {r["model"] for r in board["overall"]["table"]} == {"good", "bad"}
    rating = ctx.run.info["stages"]["rating"]
    assert rating["unrated"] == ["lost"]
    assert any("1 candidate(s) have no battles and are not on the leaderboard: lost (no judgment with a verdict)"
               in line for line in logged)


def test_listing_candidates_the_other_way_round_reuses_every_judgment(tmp_path, questions_file, fake_openai):
    with FakeOpenAI(reply=prefer("good")) as judge:
        cfg = write_config(tmp_path, questions_file, _cands(fake_openai, ("good", "bad")), judge=_judge(judge),
                           rating={"bootstrap": 10})
        _run(cfg)
        n = len(judge.requests)
        cfg = write_config(tmp_path, questions_file, _cands(fake_openai, ("bad", "good")), judge=_judge(judge),
                           rating={"bootstrap": 10})
        ctx = _run(cfg)
        assert len(judge.requests) == n
    battles = read_jsonl(ctx.run.path / "battles.jsonl")
    assert battles and all(b["model_b"] == "good" and b["winner"] == "model_b" for b in battles)


def test_sampled_schedule_adding_a_model_only_adds_its_pairs():
    cfg = JudgeConfig(mode="pairwise", pairs="sampled", opponents_per_question=2, seed=5)
    old = [f"m{i}" for i in range(6)]
    for i in range(20):
        q = Question(f"q{i}", ["x"])
        before = {frozenset(p) for p in schedule_pairs(cfg, old, q)}
        after = {frozenset(p) for p in schedule_pairs(cfg, old + ["new"], q)}
        assert all("new" in p for p in after - before)
        assert len(after & before) >= len(before) - 6  # old pairs can drop out, none is added


def test_strict_user_files_reject_a_broken_last_line(tmp_path):
    from arena.errors import DataError
    from arena.questions import load_questions

    path = tmp_path / "q.jsonl"
    path.write_text('{"question_id": "x1", "turns": ["a"]}\n{"question_id": "x2", "turns": ["hi"]')
    with pytest.raises(DataError, match="q.jsonl:2"):
        load_questions(path)


def _cfg(tmp_path, questions_file, cands, **extra):
    return write_config(tmp_path, questions_file, cands, **extra)


DEMO2 = [{"name": "a", "backend": "demo"}, {"name": "b", "backend": "demo"}]


@pytest.mark.parametrize("extra, message", [
    ({"judge": {"mode": "pairwise"}, "cands": DEMO2[:1]}, "pairwise mode needs at least two candidates"),
    ({"judge": {"mode": "baseline", "baseline": "a"}, "cands": DEMO2[:1]}, "besides the baseline"),
    ({"run_name": "../../escape"}, "run_name may use letters"),
    ({"rating": {"percentiles": [97.5, 2.5]}}, "0 <= low < high <= 100"),
    ({"rating": {"anchor": "zz=1000"}}, "rating.anchor 'zz' is not one of the candidates"),
])
def test_config_mistakes_caught_before_any_work(tmp_path, questions_file, extra, message):
    from arena.errors import ConfigError

    cands = extra.pop("cands", DEMO2)
    with pytest.raises(ConfigError, match=message):
        load_config(_cfg(tmp_path, questions_file, cands, **extra))


def test_missing_judge_key_fails_before_answers_are_generated(tmp_path, questions_file, fake_openai, monkeypatch,
                                                               capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cfg = _cfg(tmp_path, questions_file, _cands(fake_openai), judge={"mode": "pairwise", "model": "gpt-4o"})
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 2
    assert "set OPENAI_API_KEY" in capsys.readouterr().err and fake_openai.requests == []
    assert main(["run", "-c", str(cfg), "--no-progress", "--dry-run"]) == 0  # a dry run needs no judge key


def test_vllm_env_values_and_url_credentials_stay_out_of_run_json(tmp_path, questions_file, fake_openai):
    cands = [{"name": "v", "backend": "openai", "model": "m",
              "base_url": fake_openai.base_url.replace("http://", "http://user:hunter2@")},
             {"name": "w", "backend": "vllm", "model": "/nope", "env": {"HF_TOKEN": "hf_SECRET123456"}}]
    cfg = load_config(_cfg(tmp_path, questions_file, cands))
    from arena.config import redacted_dump

    blob = json.dumps(redacted_dump(cfg))
    assert "hf_SECRET" not in blob and "hunter2" not in blob and "HF_TOKEN" in blob


def test_category_temperature_keys_ignore_case(tmp_path, questions_file):
    cfg = load_config(_cfg(tmp_path, questions_file, DEMO2, generation={"category_temperature": {"Math": 1.5}}))
    assert cfg.generation.temperature_for("math") == 1.5 and cfg.generation.temperature_for("MATH") == 1.5


def test_workspace_that_is_a_file_and_config_that_is_a_folder(tmp_path, questions_file, capsys):
    (tmp_path / "afile").write_text("x")
    cfg = _cfg(tmp_path, questions_file, DEMO2, workspace=str(tmp_path / "afile"))
    assert main(["run", "-c", str(cfg)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert main(["run", "-c", str(tmp_path)]) == 2
    assert "is not a file" in capsys.readouterr().err


def test_new_model_behind_the_same_name_gets_new_answers(tmp_path, questions_file, fake_openai):
    cands = _cands(fake_openai, ("m",))
    _run(_cfg(tmp_path, questions_file, cands))
    n = len(fake_openai.requests)
    _run(_cfg(tmp_path, questions_file, [{**cands[0], "revision": "week-48"}]))
    assert len(fake_openai.requests) == 2 * n  # all asked again
    _run(_cfg(tmp_path, questions_file, [{**cands[0], "revision": "week-48", "extra_body": {"top_k": 5}}]))
    assert len(fake_openai.requests) == 3 * n


def test_baseline_mode_reuses_pairwise_judgments_of_the_same_prompts(tmp_path, questions_file, fake_openai):
    with FakeOpenAI(reply=prefer("good")) as judge:
        cfg = _cfg(tmp_path, questions_file, _cands(fake_openai, ("good", "bad")), judge=_judge(judge),
                   rating={"bootstrap": 10})
        _run(cfg)
        n = len(judge.requests)
        cfg = _cfg(tmp_path, questions_file, _cands(fake_openai, ("good", "bad")), rating={"bootstrap": 10},
                   judge=_judge(judge, mode="baseline", baseline="good"))
        ctx = _run(cfg)
        assert len(judge.requests) == n  # the same prompts were judged already in pairwise mode
    battles = read_jsonl(ctx.run.path / "battles.jsonl")
    assert len(battles) == 5 and all(b["model_a"] == "good" and b["winner"] == "model_a" for b in battles)


def test_model_names_never_escape_their_folder(tmp_path):
    from arena.answers import AnswerStore
    from arena.records import safe_filename

    assert safe_filename("../../../escape") == "_..__..__..__escape"
    assert safe_filename("Qwen/Qwen2.5-7B") == "Qwen__Qwen2.5-7B"
    assert safe_filename(".hidden") == "_.hidden" and safe_filename("") == "_"
    store = AnswerStore(tmp_path / "answers")
    with store.appender("../../evil") as app:
        app.append({"key": "k", "model": "../../evil", "turns": ["x"]})
    assert [p.parent for p in (tmp_path / "answers").iterdir()] == [tmp_path / "answers"]
    assert not (tmp_path.parent / "evil.jsonl").exists()
    assert store.models() == ["../../evil"] and store.load("../../evil")["k"]["turns"] == ["x"]
