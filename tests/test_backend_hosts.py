"""Keys and OpenAI account headers stay with their hosts (issue 9, item 9): requests to a real local server."""
from __future__ import annotations

import pytest
from conftest import write_config

from arena.backends.openai_compat import host_headers, resolve_api_key
from arena.config import load_config
from arena.pipeline import run_pipeline

OPENAI_KEY = "sk-openai-secret-0123456789abcdef"
DASHSCOPE_KEY = "sk-dashscope-secret-0123456789abcdef"


@pytest.fixture
def openai_env(monkeypatch):
    """A user's shell set up for OpenAI and DashScope."""
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("DASHSCOPE_API_KEY", DASHSCOPE_KEY)
    monkeypatch.setenv("OPENAI_ORG_ID", "org-team-secret")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj_team_secret")
    monkeypatch.setenv("OPENAI_CUSTOM_HEADERS", f"X-Team: team-7\nAuthorization: Bearer {OPENAI_KEY}")


@pytest.mark.parametrize("stream", [True, False])
def test_a_local_server_gets_no_openai_account_headers_and_no_key(tmp_path, questions_file, fake_openai,
                                                                  openai_env, stream):
    cands = [{"name": n, "backend": "openai", "model": n, "base_url": fake_openai.base_url} for n in ("a", "b")]
    judge = {"mode": "pairwise", "model": "judge-model", "base_url": fake_openai.base_url}
    fake_openai.reply = lambda body: "Fine. [[A>B]]" if body["model"] == "judge-model" else "an answer"
    cfg = write_config(tmp_path, questions_file, cands, judge=judge, rating={"bootstrap": 10},
                       generation={"stream": stream})
    run_pipeline(load_config(cfg), show_progress=False, log=lambda s: None)
    models = {r["model"] for r in fake_openai.requests}
    assert models == {"a", "b", "judge-model"}  # answers and judgments
    for headers in fake_openai.headers:
        assert "openai-organization" not in headers and "openai-project" not in headers
        assert "x-team" not in headers
        assert headers["authorization"] == "Bearer EMPTY"  # a host with no api_key_env gets no key
    blob = repr(fake_openai.headers)
    assert "team" not in blob and OPENAI_KEY not in blob and DASHSCOPE_KEY not in blob


def test_a_named_key_variable_goes_to_its_own_server_only(tmp_path, questions_file, fake_openai, openai_env,
                                                          monkeypatch):
    monkeypatch.setenv("LOCAL_VLLM_KEY", "local-vllm-key-42")
    cand = {"name": "a", "backend": "openai", "model": "a", "base_url": fake_openai.base_url,
            "api_key_env": "LOCAL_VLLM_KEY"}
    cfg = write_config(tmp_path, questions_file, [cand])
    run_pipeline(load_config(cfg), show_progress=False, log=lambda s: None)
    assert {h["authorization"] for h in fake_openai.headers} == {"Bearer local-vllm-key-42"}


@pytest.mark.parametrize("url, key", [
    (None, OPENAI_KEY),
    ("https://api.openai.com/v1", OPENAI_KEY),
    ("https://API.OpenAI.com:443/v1/", OPENAI_KEY),
    ("https://dashscope.aliyuncs.com/compatible-mode/v1", DASHSCOPE_KEY),
    ("https://dashscope-intl.aliyuncs.com/compatible-mode/v1", DASHSCOPE_KEY),
    ("http://127.0.0.1:8000/v1", "EMPTY"),
    ("https://api.openai.com.evil.example/v1", "EMPTY"),
    ("https://evil.example/api.openai.com/v1", "EMPTY"),
    ("http://api.openai.com@evil.example/v1", "EMPTY"),
    ("https://eu.api.openai.com.proxy.example/v1", "EMPTY"),
    ("https://my-vllm.internal:8000/v1", "EMPTY"),
])
def test_unknown_hosts_get_no_key(openai_env, url, key):
    assert resolve_api_key(url, None, "candidate 'x'") == key


@pytest.mark.parametrize("url", ["https://api.openai.com.evil.example/v1", "http://api.openai.com@evil.example/v1",
                                 "https://dashscope.aliyuncs.com/compatible-mode/v1", "http://localhost:8000/v1"])
def test_only_the_openai_api_gets_the_account_headers(openai_env, url):
    at_openai = host_headers("https://api.openai.com/v1", "k")  # as the openai client sends them
    assert at_openai["OpenAI-Organization"] == "org-team-secret" and at_openai["OpenAI-Project"] == "proj_team_secret"
    assert at_openai["Authorization"] == "Bearer k" and "X-Team" not in at_openai
    elsewhere = host_headers(url, "k")
    assert not {"OpenAI-Organization", "OpenAI-Project", "X-Team"} & set(elsewhere)
    assert elsewhere["Authorization"] == "Bearer k"


@pytest.mark.parametrize("value, kind", [("local-key-42\r", "a carriage return"), ("local-key-42\n", "a line break"),
                                         (" local-key-42", "a space"), ("local-kéy-42", "cannot go into an HTTP header")])
def test_a_key_that_cannot_be_a_header_is_named_before_any_request(tmp_path, questions_file, fake_openai,
                                                                   monkeypatch, capsys, value, kind):
    # A key pasted from a Windows .env file: the HTTP client refuses it as a header, which used to surface
    # as "the server sent an unusable reply" after retries.
    from arena.cli import main

    monkeypatch.setenv("LOCAL_VLLM_KEY", value)
    cand = {"name": "a", "backend": "openai", "model": "a", "base_url": fake_openai.base_url,
            "api_key_env": "LOCAL_VLLM_KEY"}
    cfg = write_config(tmp_path, questions_file, [cand])
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "LOCAL_VLLM_KEY" in err and kind in err
    assert "local-k" not in err  # the message describes the value, never shows it
    assert fake_openai.requests == []
