"""`arena bench` launches a vLLM candidate for log-likelihood tasks only when something is not cached yet."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from arena.cli import main

FAKE = [sys.executable, str(Path(__file__).parent / "fake_vllm_serve.py")]
pytestmark = pytest.mark.timeout(90)
ITEMS = [("The sky is", ["blue", "green grass"], "A"), ("Two plus two is", ["four", "five hundred"], "A")]


def _config(tmp_path: Path, n_items: int, **cand: object) -> Path:
    data = tmp_path / "mc.jsonl"
    data.write_text("".join(json.dumps({"id": f"q{i}", "question": {"stem": stem, "choices": [
        {"label": "AB"[j], "text": t} for j, t in enumerate(opts)]}, "answerKey": gold}) + "\n"
        for i, (stem, opts, gold) in enumerate(ITEMS[:n_items])))
    cfg = {"workspace": str(tmp_path / "ws"),
           "candidates": [{"name": "ll", "backend": "vllm", "model": "/models/ll", "command": FAKE,
                           "health_timeout_s": 20, **cand}],
           "bench": {"tasks": [{"name": "mc", "kind": "choice", "method": "loglikelihood", "path": str(data),
                                "format": "arc"}]}}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _launches(tmp_path: Path) -> list[list[str]]:
    """Per bench run, in order: the server logs written (one per launch)."""
    runs = sorted((tmp_path / "ws" / "runs").iterdir())
    return [sorted(p.name for p in (r / "logs").glob("vllm-*.log")) for r in runs]


def _scores(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "ws" / "bench" / "ll.json").read_text())


def test_a_fully_cached_loglikelihood_task_launches_no_server(tmp_path):
    assert main(["bench", "-c", str(_config(tmp_path, 2)), "--no-progress"]) == 0
    first = _scores(tmp_path)
    assert first["n"]["mc"] == 2
    assert main(["bench", "-c", str(_config(tmp_path, 2)), "--no-progress"]) == 0  # everything cached
    second = _scores(tmp_path)
    assert _launches(tmp_path) == [["vllm-ll-ll.log"], []]
    # the same scores, from the cache: every request reused, none sent
    assert second["scores"] == first["scores"] and second["details"] == first["details"]
    run = sorted((tmp_path / "ws" / "runs").iterdir())[-1]
    cache = json.loads((run / "run.json").read_text())["stages"]["loglikelihood"]["models"]["ll"]["cache"]
    assert cache == {"reused": 4, "scored": 0}


def test_a_partly_cached_task_still_launches(tmp_path):
    assert main(["bench", "-c", str(_config(tmp_path, 1)), "--no-progress"]) == 0
    assert main(["bench", "-c", str(_config(tmp_path, 2)), "--no-progress"]) == 0  # one new item
    assert _launches(tmp_path) == [["vllm-ll-ll.log"], ["vllm-ll-ll.log"]]
    assert _scores(tmp_path)["n"]["mc"] == 2


def test_a_fully_cached_task_needs_no_launcher_or_key(tmp_path):
    """Scored on a GPU box, re-scored on a box without vLLM and without the server's key: all from the cache."""
    assert main(["bench", "-c", str(_config(tmp_path, 2)), "--no-progress"]) == 0
    first = _scores(tmp_path)
    cpu_box = _config(tmp_path, 2, command=["no-such-vllm-anywhere", "serve"], api_key_env="UNSET_VLLM_KEY_NAME")
    assert main(["bench", "-c", str(cpu_box), "--no-progress"]) == 0
    assert _scores(tmp_path)["scores"] == first["scores"]
    assert main(["bench", "-c", str(_config(tmp_path, 1, command=["no-such-vllm-anywhere", "serve"])),
                 "--no-progress"]) == 0  # a subset of the cached items: still nothing to launch


def test_a_missing_launcher_with_work_to_do_is_exit_2_before_any_work(tmp_path, capsys):
    """One item cached, one not: the server is needed, so a missing launcher stops arena bench before a run
    folder exists (a review found it stopping only after the other candidates were scored)."""
    assert main(["bench", "-c", str(_config(tmp_path, 1)), "--no-progress"]) == 0
    before = sorted((tmp_path / "ws" / "runs").iterdir())
    assert main(["bench", "-c", str(_config(tmp_path, 2, command=["no-such-vllm-anywhere", "serve"])),
                 "--no-progress"]) == 2
    assert "no-such-vllm-anywhere" in capsys.readouterr().err
    assert sorted((tmp_path / "ws" / "runs").iterdir()) == before  # no new run folder


def _ppl_config(tmp_path: Path, docs: list[str], **cand: object) -> Path:
    data = tmp_path / "docs.jsonl"
    data.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
    cfg = {"workspace": str(tmp_path / "ws"),
           "candidates": [{"name": "ll", "backend": "vllm", "model": "/models/ll", "command": FAKE,
                           "health_timeout_s": 20, **cand}],
           "bench": {"tasks": [{"name": "ppl", "kind": "perplexity", "path": str(data)}]}}
    path = tmp_path / "ppl.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


DOCS = ["The quick brown fox jumps over the lazy dog, then naps in the warm afternoon sun.", "Short one."]


def _expected_logprob(doc: str) -> float:
    """The fake server's log-probability of a document: every character is a token, each scored once (BOS first,
    windows of 32 tokens), -0.01 x (code mod 7 + 1) per token."""
    return sum(-0.01 * (ord(c) % 7 + 1) for c in doc)


def test_a_fully_cached_perplexity_task_launches_no_server(tmp_path):
    """The server's tokenization and window size are cached with the windows: a re-run needs no server, no
    launcher and no key (it used to launch vLLM for every perplexity task)."""
    assert main(["bench", "-c", str(_ppl_config(tmp_path, DOCS)), "--no-progress"]) == 0
    first = _scores(tmp_path)
    docs = first["details"]["ppl"]
    assert [round(d["loglikelihood"], 9) for d in docs] == [round(_expected_logprob(d), 9) for d in DOCS]
    assert [d["tokens"] for d in docs] == [len(d) for d in DOCS]
    assert docs[0]["windows"] == 3  # 81 characters in windows of 32 tokens (max_model_len 34 less 2)
    cpu_box = _ppl_config(tmp_path, DOCS, command=["no-such-vllm-anywhere", "serve"],
                          api_key_env="UNSET_VLLM_KEY_NAME")
    assert main(["bench", "-c", str(cpu_box), "--no-progress"]) == 0
    assert _launches(tmp_path) == [["vllm-ll-ll.log"], []]
    assert _scores(tmp_path)["scores"] == first["scores"]
    run = sorted((tmp_path / "ws" / "runs").iterdir())[-1]
    cache = json.loads((run / "run.json").read_text())["stages"]["loglikelihood"]["models"]["ll"]["cache"]
    assert cache == {"reused": 4, "scored": 0}  # 3 + 1 windows; tokenizations are not counted as requests


def test_a_new_document_still_launches_the_server(tmp_path):
    assert main(["bench", "-c", str(_ppl_config(tmp_path, DOCS[:1])), "--no-progress"]) == 0
    assert main(["bench", "-c", str(_ppl_config(tmp_path, DOCS)), "--no-progress"]) == 0
    assert _launches(tmp_path) == [["vllm-ll-ll.log"], ["vllm-ll-ll.log"]]
