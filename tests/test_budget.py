"""The judge budget against a real local OpenAI-compatible server: used up, never passed, honest, remembered."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from arena.config import load_config
from arena.pipeline import run_pipeline
from arena.report import judge_report
from conftest import read_jsonl, write_config
from judges.budget import SpendLedger
from openai_server import FakeOpenAI

PRICE = {"input_per_mtok": 1000.0, "output_per_mtok": 1000.0}  # $0.001 a token: ~$0.4 a judgment here


def verdict(req: dict) -> str:
    return "A is better. [[A>B]]"


def long_verdict(req: dict) -> str:
    return " ".join(["reasons"] * 1000) + " [[A>B]]"  # ~1000 tokens of the 1100 allowed: ~$1.4 a judgment


def _run(tmp_path: Path, questions_file: Path, cands: FakeOpenAI, judge: FakeOpenAI, names=("good", "bad"), **kw):
    """One pairwise run; returns the judge stage's summary and the run's errors."""
    candidates = [{"name": n, "backend": "openai", "model": n, "base_url": cands.base_url} for n in names]
    j = {"mode": "pairwise", "model": "judge-model", "base_url": judge.base_url, "price": PRICE, "max_tokens": 100,
         **kw}
    cfg = write_config(tmp_path, questions_file, candidates, judge=j, rating={"bootstrap": 10})
    info = run_pipeline(load_config(cfg), show_progress=False, log=lambda s: None).run.info
    return info["stages"]["judge"], [e["message"] for e in info["errors"] if e.get("stage") == "judge"]


def _paid(tmp_path: Path) -> list[dict]:
    return read_jsonl(tmp_path / "ws" / "judgments" / "judge-model" / "pairwise.jsonl")


def test_budget_is_used_up_while_calls_are_in_flight(tmp_path, questions_file, fake_openai):
    with FakeOpenAI(reply=long_verdict, delay_s=0.02) as judge:
        j, errors = _run(tmp_path, questions_file, fake_openai, judge, concurrency=4, max_cost_usd=20.0,
                         max_tokens=1100)
        assert judge.max_in_flight > 1
    b = j["budget"]
    worst = b["next_worst_case_usd"]
    spent = j["spent_now_usd"]
    # stopping at the first reservation that did not fit made 2 of 10 calls; waiting uses the budget up
    assert j["budget_stopped"] and 0 < j["new_calls"] < 10 and b["stopped_by"] == "max_cost_usd"
    assert 20.0 - worst < spent <= 20.0 and b["passed_by_usd"] == 0
    assert abs(spent - sum(r["cost_usd"] for r in _paid(tmp_path))) < 1e-5
    assert errors == [f"judge judge-model: stopped before passing max_cost_usd=20 with ${spent:.4f} spent in this "
                      f"run; the next judgment could cost up to ${worst:.4f}, which does not fit; "
                      f"{10 - j['new_calls']} judgments left for the next run"]
    assert (f"stopped at the budget (max_cost_usd): spent ${spent:.4f} in this run, the next judgment could cost up "
            f"to ${worst:.4f}") in judge_report({"stages": {"judge": j}})


def test_endpoint_reporting_more_tokens_than_estimated_cannot_pass_the_budget(tmp_path, questions_file, fake_openai):
    with FakeOpenAI(reply=verdict, delay_s=0.02) as judge:
        # one token per byte of prompt and the whole max_tokens: far above the 4-characters-a-token estimate
        judge.usage = lambda body, text: {"prompt_tokens": sum(len(m["content"].encode()) for m in body["messages"]),
                                          "completion_tokens": body["max_tokens"]}
        j, errors = _run(tmp_path, questions_file, fake_openai, judge, concurrency=8, max_cost_usd=15.0)
        assert judge.max_in_flight > 1
    spent = j["spent_now_usd"]
    assert spent <= 15.0 and j["budget_stopped"] and 0 < j["new_calls"] < 10
    assert 15.0 - j["budget"]["next_worst_case_usd"] < spent
    assert len(errors) == 1 and errors[0].startswith("judge judge-model: stopped before passing max_cost_usd=15")


def test_endpoint_passing_max_tokens_is_reported_as_passing_the_limit(tmp_path, questions_file, fake_openai):
    with FakeOpenAI(reply=verdict, delay_s=0.02) as judge:
        judge.usage = lambda body, text: {"prompt_tokens": 10, "completion_tokens": 100 * body["max_tokens"]}
        j, errors = _run(tmp_path, questions_file, fake_openai, judge, concurrency=2, max_cost_usd=15.0)
    spent = j["spent_now_usd"]  # each call costs $10: more than its worst case (~$5), which trusts max_tokens=100
    over = spent - 15.0
    assert over > 0 and j["budget"]["passed_by_usd"] == round(over, 6) and j["budget_stopped"]
    assert j["new_calls"] < 10  # once past the limit no new judgment starts
    assert any(e.startswith(f"judge judge-model: passed the budget by ${over:.4f}: spent ${spent:.4f} in this run "
                            "against max_cost_usd=15; the endpoint reported more tokens than the worst case")
               for e in errors)
    assert not any("stopped before passing" in e for e in errors)
    assert f"budget PASSED by ${over:.4f}" in judge_report({"stages": {"judge": j}})
    assert any(f"judge judge-model: passed max_cost_usd=15 with ${spent:.4f} spent" in e for e in errors)


def test_workspace_total_is_remembered_across_runs(tmp_path, questions_file, fake_openai):
    with FakeOpenAI(reply=verdict) as judge:
        first, _ = _run(tmp_path, questions_file, fake_openai, judge, concurrency=2, max_total_cost_usd=9.0)
        assert first["budget_stopped"] and first["budget"]["stopped_by"] == "max_total_cost_usd"
        n = len(judge.requests)
        second, errors = _run(tmp_path, questions_file, fake_openai, judge, concurrency=2, max_total_cost_usd=9.0)
        assert len(judge.requests) == n and second["new_calls"] == 0  # the workspace remembers the first run
        assert second["budget"]["workspace_total_before_usd"] == first["budget"]["workspace_total_usd"]
        assert any("max_total_cost_usd=9 with" in e and "in this workspace over all runs" in e for e in errors)
        # a re-run cannot help until the limit is raised: the messages say so, not "left for the next run"
        assert any("left until max_total_cost_usd is raised" in e for e in errors)
        assert not any("left for the next run" in e for e in errors)
        report = judge_report({"stages": {"judge": second}})
        assert "left until judge.max_total_cost_usd is raised" in report and "next run" not in report
        from arena.report import workspace_budget_spent

        assert workspace_budget_spent({"stages": {"judge": second}})
        third, _ = _run(tmp_path, questions_file, fake_openai, judge, concurrency=2, max_total_cost_usd=100.0)
    assert not third["budget_stopped"] and third["not_done"] == 0
    ledger = read_jsonl(tmp_path / "ws" / "judgments" / "judge-model" / "spent.jsonl")
    paid = _paid(tmp_path)
    assert len(ledger) == len(paid) == 10
    assert abs(sum(e["cost_usd"] for e in ledger) - sum(r["cost_usd"] for r in paid)) < 1e-6
    assert abs(third["budget"]["workspace_total_usd"] - sum(e["cost_usd"] for e in ledger)) < 1e-6


def test_ledger_appends_from_two_processes_all_count(tmp_path):
    path = tmp_path / "judgments" / "j" / "spent.jsonl"
    code = ("import sys; from pathlib import Path; from judges.budget import SpendLedger\n"
            "led = SpendLedger(Path(sys.argv[1]))\n"
            "for i in range(300): led.append({'key': sys.argv[2] + str(i), 'cost_usd': 0.5, 'pad': 'x' * 3000})\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), tag]) for tag in ("a", "b")]
    reader = SpendLedger(path)
    seen = [0.0]
    while any(p.poll() is None for p in procs):  # reading while both write never sees half a line
        seen.append(reader.total())
        assert seen[-1] >= seen[-2] and seen[-1] % 0.5 == 0
    assert all(p.returncode == 0 for p in procs)
    lines = path.read_text().splitlines()
    assert len(lines) == 600 and all(json.loads(line)["cost_usd"] == 0.5 for line in lines)
    assert reader.total() == 300.0 == SpendLedger(path).total()


def test_empty_judge_replies_are_billed_and_charged_to_the_budget(tmp_path, questions_file, fake_openai):
    """A reasoning judge that spends its tokens and gives no text: providers bill it, so the budget must too
    (its usage was dropped with the failed attempt: $0 recorded while each call cost about $0.1)."""
    with FakeOpenAI(reply=lambda body: "", delay_s=0.01) as judge:
        judge.usage = lambda body, text: {"prompt_tokens": 10, "completion_tokens": 90}
        judge.finish_reason = lambda body: "length"
        j, errors = _run(tmp_path, questions_file, fake_openai, judge, concurrency=1, max_cost_usd=20.0)
        sent = len(judge.requests)
    assert j["new_calls"] == 10 and sent == 20  # each judgment: its reply and one follow-up, no retries
    assert j["spent_now_usd"] == round(sent * 100 * 0.001, 6)  # every billed request charged: $0.1 each
    assert j["budget"]["spent_usd"] == j["spent_now_usd"] and j["budget"]["passed_by_usd"] == 0
    ledger = sum(r["cost_usd"] for r in _paid(tmp_path))
    assert abs(ledger - j["spent_now_usd"]) < 1e-9



def test_a_panels_max_cost_usd_bounds_the_whole_panel(tmp_path, questions_file, fake_openai):
    """Each member used to get the whole max_cost_usd: three members spent up to three times the limit."""
    with FakeOpenAI(reply=long_verdict) as judge:
        panel = [{"name": f"j{k}", "model": "judge-model", "base_url": judge.base_url} for k in range(3)]
        candidates = [{"name": n, "backend": "openai", "model": n, "base_url": fake_openai.base_url}
                      for n in ("good", "bad")]
        section = {"mode": "pairwise", "name": "trio", "aggregate": "majority", "panel": panel, "price": PRICE,
                   "max_tokens": 1100, "max_cost_usd": 20.0}
        cfg = write_config(tmp_path, questions_file, candidates, judge=section, rating={"bootstrap": 10})
        info = run_pipeline(load_config(cfg), show_progress=False, log=lambda s: None).run.info
    spent = {name: m["spent_now_usd"] for name, m in info["stages"]["judge"]["members"].items()}
    assert spent["j0"] > 20.0 / 2  # members judge in turn: the first is not held to an equal share
    assert sum(spent.values()) <= 20.0  # the panel as a whole stays within the section's limit
    assert spent["j2"] < spent["j0"]  # the later members got what was left
    # a later member stopped at what the panel's limit left it: said so, and not "raise it or a re-run stops here"
    stops = [e["message"] for e in info["errors"] if "the panel's max_cost_usd left this member" in e["message"]]
    assert stops and not any("max_cost_usd=" in m for m in stops)
    assert all("left for the next run" in m or "a re-run leaves it more" in m for m in stops)
    member = info["stages"]["judge"]["members"]["j2"]["budget"]
    assert member["panel_member"] is True


def test_without_usage_reports_the_spend_is_said_to_be_an_upper_bound(tmp_path, questions_file, fake_openai):
    with FakeOpenAI(reply=verdict) as judge:
        judge.stream_usage = False
        judge.usage = lambda body, text: {}
        cands = [{"name": n, "backend": "openai", "model": n, "base_url": fake_openai.base_url} for n in ("a", "b")]
        cfg = write_config(tmp_path, questions_file, cands, rating={"bootstrap": 10},
                           judge={"mode": "pairwise", "model": "judge-model", "base_url": judge.base_url,
                                  "price": PRICE, "max_tokens": 100})
        info = run_pipeline(load_config(cfg), show_progress=False, log=lambda s: None).run.info
    j = info["stages"]["judge"]
    assert j["usage_bounded"] == 10
    assert "10 judgment(s) without a usage report" in judge_report(info)


def test_calls_cut_off_by_an_interrupt_are_charged_at_their_worst_case(tmp_path, questions_file, fake_openai):
    """Ctrl-C while judge calls are in flight: the provider may bill what it received, so each cut-off call's
    reserved worst case goes to the ledger (marked cut_off); every request the judge saw is in the ledger."""
    import signal
    import time

    with FakeOpenAI(reply=verdict, delay_s=2.0) as judge:
        candidates = [{"name": n, "backend": "openai", "model": n, "base_url": fake_openai.base_url}
                      for n in ("good", "bad")]
        j = {"mode": "pairwise", "model": "judge-model", "base_url": judge.base_url, "price": PRICE, "max_tokens": 100,
             "concurrency": 3}
        cfg = write_config(tmp_path, questions_file, candidates, judge=j, rating={"bootstrap": 10})
        proc = subprocess.Popen([sys.executable, "-m", "arena.cli", "run", "-c", str(cfg), "--no-progress"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        deadline = time.monotonic() + 30
        while len(judge.requests) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130, proc.stderr.read()
        seen = len(judge.requests)
    ledger = read_jsonl(tmp_path / "ws" / "judgments" / "judge-model" / "spent.jsonl")
    cut = [e for e in ledger if e.get("cut_off")]
    assert cut and all(e["estimate"] == "worst case" and e["cost_usd"] > 0 for e in cut)
    assert len(ledger) >= seen  # nothing the judge received goes uncharged
    stored = {r["key"] for r in _paid(tmp_path)} if (tmp_path / "ws" / "judgments" / "judge-model").exists() else set()
    assert not stored & {e["key"] for e in cut}  # a cut-off judgment is not stored: it is asked again next run


def _attempt_worst(req: dict, followup: str, max_tokens: int = 100) -> tuple[float, float]:
    """Worked by hand from a request the judge server saw: one token per prompt byte plus 16 per message and 16,
    `max_tokens` out; the follow-up resends the prompt with a reply of `max_tokens` and the follow-up text."""
    first = sum(len(m["content"].encode()) for m in req["messages"]) + 16 * (len(req["messages"]) + 1)
    second = first + max_tokens + len(followup.encode()) + 16 * 2
    return (first + max_tokens) * 0.001, (second + max_tokens) * 0.001


def test_timed_out_judge_calls_are_charged_and_retried_only_within_the_budget(tmp_path, questions_file, fake_openai):
    """A reply cut off by timeout_s reached the provider, which may bill it: each such attempt is charged at its
    worst case; a retry needs room for another attempt in the budget, else the judgment fails and the cap holds."""
    from judges.templates import render

    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    with FakeOpenAI(reply=verdict, delay_s=1.5) as judge:
        j, errors = _run(tmp_path / "a", questions_file, fake_openai, judge, timeout_s=0.6, max_retries=1,
                         concurrency=10)
        seen = list(judge.requests)
    recs = _paid(tmp_path / "a")
    assert len(recs) == 10 and {r["status"] for r in recs} == {"error"}
    followup = render("followup", {}, verdict_kind=recs[0]["verdict_kind"]).user
    per_attempt = {}
    for req in seen:  # the same prompt twice per judgment: keyed by its text
        per_attempt[req["messages"][-1]["content"]] = _attempt_worst(req, followup)
    assert len(per_attempt) == 10 and len(seen) <= 20  # two attempts each (one may be cut before the server reads it)
    ledger = read_jsonl(tmp_path / "a" / "ws" / "judgments" / "judge-model" / "spent.jsonl")
    assert len(ledger) == 10 and all(e["cut_off_attempts"] == 2 for e in ledger)
    assert sorted(round(e["cost_usd"], 6) for e in ledger) == \
        sorted(round(2 * second, 6) for _, second in per_attempt.values())
    assert sorted(r["cost_usd"] for r in recs) == sorted(round(e["cost_usd"], 6) for e in ledger)
    assert abs(j["spent_now_usd"] - sum(e["cost_usd"] for e in ledger)) < 1e-5

    # room for one judgment's worst case (its request and follow-up) but not for a retry on top of it
    limit = max(first + second for first, second in per_attempt.values()) + 1e-4
    with FakeOpenAI(reply=verdict, delay_s=1.5) as judge:
        j, errors = _run(tmp_path / "b", questions_file, fake_openai, judge, timeout_s=0.6, max_retries=3,
                         concurrency=1, max_cost_usd=limit)
        seen = list(judge.requests)
    assert len(seen) == 1  # cut off once, not retried
    ledger = read_jsonl(tmp_path / "b" / "ws" / "judgments" / "judge-model" / "spent.jsonl")
    charged = per_attempt[seen[0]["messages"][-1]["content"]][1]
    assert len(ledger) == 1 and abs(ledger[0]["cost_usd"] - charged) < 1e-6 and ledger[0]["cut_off_attempts"] == 1
    assert j["budget"]["passed_by_usd"] == 0 and j["spent_now_usd"] <= limit
    failed = [r for r in _paid(tmp_path / "b") if r["status"] == "error"]
    assert len(failed) == 1 and "no room for another attempt" in failed[0]["error"]


def test_a_per_run_budget_below_one_judgments_worst_case_says_it_must_be_raised(tmp_path, questions_file, fake_openai):
    """max_cost_usd smaller than a single judgment's worst case: nothing can start, now or in a re-run; the
    message says so and by how much to raise it, instead of 'left for the next run'."""
    with FakeOpenAI(reply=verdict) as judge:
        j, errors = _run(tmp_path, questions_file, fake_openai, judge, max_cost_usd=0.01)
        assert judge.requests == []
    worst = j["budget"]["next_worst_case_usd"]
    assert worst > 0.01 and j["new_calls"] == 0
    left = (f"10 judgments left: one judgment's worst case (${worst:.4f}) is more than the $0.0100 this judge may "
            "spend in a run; raise max_cost_usd")
    assert errors == [f"judge judge-model: stopped before passing max_cost_usd=0.01 with $0.0000 spent in this run; "
                      f"the next judgment could cost up to ${worst:.4f}, which does not fit; {left}"]
    assert left in judge_report({"stages": {"judge": j}})  # the terminal says the same


def test_a_web_page_instead_of_a_reply_is_not_charged(tmp_path, questions_file, fake_openai):
    """HTTP 200 with a web page (a gateway or a wrong base_url), or a stream of text events, never reached the
    model: not billed, so nothing goes to the ledger, whatever the retries (a dropped reply is charged)."""
    (tmp_path / "not_json").mkdir(), (tmp_path / "bad_events").mkdir()
    for kind, said in (("not_json", "web page"), ("bad_events", "events are not JSON")):
        with FakeOpenAI() as judge:
            judge.fault_for = lambda req, kind=kind: kind
            j, errors = _run(tmp_path / kind, questions_file, fake_openai, judge, max_retries=1, concurrency=1)
            assert len(judge.requests) == 10  # five judgments, two attempts each, then given up
        assert j["spent_now_usd"] == 0
        assert not (tmp_path / kind / "ws" / "judgments" / "judge-model" / "spent.jsonl").exists()
        assert all(r["cost_usd"] == 0 and said in r["error"] for r in _paid(tmp_path / kind))


@pytest.mark.parametrize("stream", [True, False])
def test_a_reply_cut_inside_its_json_is_charged_like_any_dropped_reply(tmp_path, questions_file, fake_openai, stream):
    """The connection closes in the middle of a stream event, or of a whole JSON body sent without a length: the
    model was generating, so the attempt may be billed (unlike a web page, which never reached it)."""
    with FakeOpenAI(reply=verdict) as judge:
        judge.fault_for = lambda req: "cut_event"
        j, errors = _run(tmp_path, questions_file, fake_openai, judge, max_retries=1, concurrency=1, stream=stream)
    ledger = read_jsonl(tmp_path / "ws" / "judgments" / "judge-model" / "spent.jsonl")
    assert ledger and all(e["cut_off_attempts"] == 2 and e["cost_usd"] > 0 for e in ledger)
    assert all("cut in the middle of an event" in r["error"] or "ended before its JSON did" in r["error"]
               for r in _paid(tmp_path))
