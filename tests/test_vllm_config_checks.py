"""vLLM candidate mistakes are found when the config loads (exit 2, naming the file and the field), before any
other candidate generates; flags Arena sets itself are refused in extra_args; one port is never shared."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from arena.cli import main
from conftest import read_jsonl, write_config

FAKE = [sys.executable, str(Path(__file__).parent / "fake_vllm_serve.py")]
pytestmark = pytest.mark.timeout(60)


def _api(fake_openai) -> dict:
    return {"name": "api", "backend": "openai", "model": "m", "base_url": fake_openai.base_url}


def _vllm(name: str = "served", **kw) -> dict:
    return {"name": name, "backend": "vllm", "model": f"/models/{name}", "command": FAKE,
            "health_timeout_s": 20, "generation": {"stream": False}, **kw}


def _refused(tmp_path, questions_file, fake_openai, capsys, cand: dict, at_load: bool = True) -> str:
    """Run a config with an API candidate first and `cand`; it must stop with exit 2 before any request (and,
    `at_load`, before a run folder exists: a config error)."""
    cfg = write_config(tmp_path, questions_file, [_api(fake_openai), cand])
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 2
    assert fake_openai.requests == []  # the API candidate did not generate first
    assert not (tmp_path / "ws" / "runs").exists() or not at_load
    err = capsys.readouterr().err
    assert err.startswith("error:")
    return err


@pytest.mark.parametrize(("settings", "field", "words"), [
    ({"gpus": [0, 0]}, ".gpus", "more than once"),
    ({"gpus": [-1]}, ".gpus", "non-negative"),
    ({"gpus": ["0"]}, ".gpus", "whole numbers"),
    ({"gpus": [1.0]}, ".gpus", "whole numbers"),
    ({"gpus": [True]}, ".gpus", "whole numbers"),
    ({"gpus": []}, ".gpus", "leave gpus unset"),
    ({"gpus": [0], "tensor_parallel_size": 2}, "", "tensor_parallel_size=2 needs at least 2 GPUs"),
    ({"command": []}, ".command", "launcher"),
    ({"command": [""]}, ".command", "launcher"),
])
def test_bad_vllm_settings_stop_before_anything_runs(tmp_path, questions_file, fake_openai, capsys, settings,
                                                     field, words):
    err = _refused(tmp_path, questions_file, fake_openai, capsys, _vllm(**settings))
    assert str(tmp_path / "cfg.yaml") in err and f"candidates.1{field}" in err and words in err


def test_good_gpu_lists_are_taken_as_they_are(tmp_path, questions_file):
    from arena.config import load_config

    cfg = load_config(write_config(tmp_path, questions_file, [_vllm(gpus=[3, 1, 2], tensor_parallel_size=2),
                                                              _vllm("plain")]))
    assert cfg.candidates[0].gpus == [3, 1, 2] and cfg.candidates[1].gpus is None


@pytest.mark.parametrize("where", ["absolute", "on PATH"])
def test_a_launcher_that_does_not_exist_stops_before_anything_runs(tmp_path, questions_file, fake_openai,
                                                                    capsys, where):
    launcher = str(tmp_path / "no-such-vllm") if where == "absolute" else "no-such-vllm-anywhere"
    # checked for a candidate with answers to make, before any request and before a run folder exists
    err = _refused(tmp_path, questions_file, fake_openai, capsys, _vllm(command=[launcher, "serve"]))
    assert "candidate 'served'" in err and launcher in err and "command" in err
    assert "pip install -e '.[vllm]'" in err  # the hint


def test_a_fully_cached_vllm_candidate_needs_no_launcher(tmp_path, questions_file, capsys):
    """Answers made on a GPU box, judged again on a CPU box without vLLM: every answer is cached, so no server,
    launcher or key is needed (a review found this refused with exit 2)."""
    cfg = write_config(tmp_path, questions_file, [_vllm()])
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 0
    cpu_box = write_config(tmp_path, questions_file, [_vllm(command=["no-such-vllm-anywhere", "serve"],
                                                            api_key_env="UNSET_VLLM_KEY_NAME")])
    assert main(["run", "-c", str(cpu_box), "--no-progress"]) == 0
    assert "cached" in capsys.readouterr().out
    assert len(read_jsonl(tmp_path / "ws" / "answers" / "served.jsonl")) == 4


@pytest.mark.parametrize(("args", "flag", "key"), [
    (["--port", "8001"], "--port", "'port'"),
    (["--port=8001"], "--port", "'port'"),
    (["--served-model-name", "x"], "--served-model-name", "'name'"),
    (["--served_model_name=x"], "--served-model-name", "'name'"),
    (["--host", "10.1.2.3"], "--host", "connects to 127.0.0.1"),
    (["--host=192.168.0.7"], "--host", "connects to 127.0.0.1"),
    (["--host", "::1"], "--host", "connects to 127.0.0.1"),  # IPv6 loopback only: not 127.0.0.1
    (["-tp", "2"], "-tp", "'tensor_parallel_size'"),
    (["--tensor-parallel-size=2"], "--tensor-parallel-size", "'tensor_parallel_size'"),
    (["--max-model-len", "512", "--api-key", "sk-flag-secret-0123456789"], "--api-key", "'api_key_env'"),
    (["--api-key=sk-flag-secret-0123456789"], "--api-key", "'api_key_env'"),
])
def test_flags_arena_sets_itself_are_refused_in_extra_args(tmp_path, questions_file, fake_openai, capsys,
                                                           args, flag, key):
    err = _refused(tmp_path, questions_file, fake_openai, capsys, _vllm(extra_args=args))
    assert "candidates.1.extra_args" in err and flag in err and key in err and "served" in err
    assert "sk-flag-secret" not in err


def test_the_key_itself_in_env_is_refused(tmp_path, questions_file, fake_openai, capsys):
    err = _refused(tmp_path, questions_file, fake_openai, capsys,
                   _vllm(env={"VLLM_API_KEY": "sk-env-secret-0123456789"}))
    assert "candidates.1.env" in err and "api_key_env" in err and "sk-env-secret" not in err


def test_two_candidates_on_one_explicit_port_each_get_their_own_server(tmp_path, questions_file, capsys):
    from arena.backends.vllm_server import find_free_port

    port = find_free_port()
    cands = [_vllm("a", port=port, gpus=[0]), _vllm("b", port=port, gpus=[1])]
    cfg = write_config(tmp_path, questions_file, cands)
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 0, capsys.readouterr().err
    for name in ("a", "b"):  # GPUs apart, yet one after the other: each answered by its own model
        recs = read_jsonl(tmp_path / "ws" / "answers" / f"{name}.jsonl")
        assert len(recs) == 4 and all(r["turns"][0].startswith(f"{name} says: ") for r in recs)


def test_plan_waves_keeps_candidates_of_one_port_apart():
    from arena.backends.vllm_server import plan_waves

    assert plan_waves([{0}, {1}, {2}], ports=[8000, 8000, None]) == [[0, 2], [1]]
    assert plan_waves([{0}, {1}, {2}], ports=[8000, 8001, None]) == [[0, 1, 2]]
    assert plan_waves([{0}, {1}]) == [[0, 1]]


def test_a_host_that_still_answers_on_loopback_is_taken(tmp_path, questions_file):
    """`--host 0.0.0.0` (copied from a `vllm serve` line) listens on 127.0.0.1 too: it worked before the
    extra_args check and still does; a specific other address is refused (Arena could not connect)."""
    cfg = write_config(tmp_path, questions_file, [_vllm(extra_args=["--host", "0.0.0.0"])])
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 0
    assert len(read_jsonl(tmp_path / "ws" / "answers" / "served.jsonl")) == 4


def test_a_launcher_on_the_candidates_own_path_is_found(tmp_path, questions_file):
    """`command: [myvllm]` with `env: {PATH: ...}` naming its folder: the check before the run looks where the
    launch looks (it used to refuse it as not found on PATH)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "myvllm"
    launcher.write_text(f"#!{sys.executable}\nimport runpy, sys\nsys.argv = ['fake'] + sys.argv[1:]\n"
                        f"runpy.run_path({str(Path(__file__).parent / 'fake_vllm_serve.py')!r}, run_name='__main__')\n")
    launcher.chmod(0o755)
    import os

    cand = {"name": "own", "backend": "vllm", "model": "/models/own", "command": ["myvllm"], "gpus": [0],
            "health_timeout_s": 20, "generation": {"stream": False},
            "env": {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}}
    cfg = write_config(tmp_path, questions_file, [cand])
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 0
    assert len(read_jsonl(tmp_path / "ws" / "answers" / "own.jsonl")) == 4


def test_a_launcher_with_a_broken_first_line_is_named_as_such(tmp_path, questions_file, capsys):
    """A launcher whose #! interpreter is gone (a moved virtualenv): the error says so, not 'check the GPUs'."""
    launcher = tmp_path / "vllm"
    launcher.write_text("#!/nonexistent/venv/bin/python\nprint('never')\n")
    launcher.chmod(0o755)
    cand = {"name": "moved", "backend": "vllm", "model": "/models/moved", "command": [str(launcher), "serve"],
            "gpus": [0], "health_timeout_s": 20}
    cfg = write_config(tmp_path, questions_file, [cand])
    assert main(["run", "-c", str(cfg), "--no-progress"]) != 0
    err = capsys.readouterr().err
    assert "the launcher could not be run" in err and "first line" in err
