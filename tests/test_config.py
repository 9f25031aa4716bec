"""Config validation: the promised messages for misspelt keys, wrong types, missing files, secrets."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from arena.config import load_config
from arena.errors import ConfigError

BASE = """
questions:
  path: {q}
candidates:
  - name: a
    backend: demo
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "cfg.yaml"
    p.write_text(text)
    return p


def test_misspelt_key_names_file_key_line_and_nearest_valid_key(tmp_path, questions_file):
    p = _write(tmp_path, BASE.format(q=questions_file) + "generaton:\n  max_tokens: 10\n")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    msg = str(err.value)
    assert str(p) in msg and "unknown key 'generaton'" in msg and "did you mean 'generation'" in msg
    assert "(line 7)" in msg


def test_misspelt_nested_candidate_key(tmp_path, questions_file):
    text = BASE.format(q=questions_file) + "  - name: b\n    backend: openai\n    model: m\n    bse_url: http://x\n"
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, text))
    assert "candidates.1" in str(err.value) and "did you mean 'base_url'" in str(err.value)


@pytest.mark.parametrize("key", ["revision: v2", "reasoning: strip"])
def test_a_candidate_key_inside_its_generation_block_says_where_it_goes(tmp_path, questions_file, key):
    text = BASE.format(q=questions_file) + f"    generation:\n      max_tokens: 10\n      {key}\n"
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, text))
    name = key.split(":")[0]
    assert f"'{name}' is a key of the candidate itself: move it out of 'generation:', up among the candidate's keys" \
        in str(err.value)
    assert "candidates.0.generation (line 7)" in str(err.value)


def test_a_candidate_key_in_the_runs_generation_section_says_where_it_goes(tmp_path, questions_file):
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, BASE.format(q=questions_file) + "generation:\n  reasoning: strip\n"))
    assert "'reasoning' is set per candidate (candidates[].reasoning), not in the run's generation: section" \
        in str(err.value)
    with pytest.raises(ConfigError) as err:  # at the top level: not "did you mean 'rating'?"
        load_config(_write(tmp_path, BASE.format(q=questions_file) + "reasoning: strip\n"))
    assert "or for the judge (judge.reasoning), not at the top level" in str(err.value)


def test_wrong_type_names_the_key(tmp_path, questions_file):
    p = _write(tmp_path, BASE.format(q=questions_file) + "generation:\n  max_tokens: lots\n")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    assert "generation.max_tokens (line 8)" in str(err.value) and "valid integer" in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "nope.yaml")
    assert "config file not found" in str(err.value) and "nope.yaml" in str(err.value)


def test_api_key_in_file_is_refused_and_not_echoed(tmp_path, questions_file):
    text = BASE.format(q=questions_file) + "  - name: b\n    backend: openai\n    model: m\n    api_key: sk-abc123\n"
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, text))
    assert "api_key_env" in str(err.value) and "sk-abc123" not in str(err.value)


def test_api_key_env_must_be_a_variable_name(tmp_path, questions_file):
    text = BASE.format(q=questions_file) + "  - name: b\n    backend: openai\n    model: m\n    api_key_env: sk-abc/123\n"
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, text))
    assert "NAME of an environment variable" in str(err.value)


def test_unknown_backend_and_duplicate_names(tmp_path, questions_file):
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, BASE.format(q=questions_file) + "  - name: a\n    backend: demo\n"))
    assert "repeated: a" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, BASE.format(q=questions_file).replace("demo", "vllmm")))
    assert "'openai', 'vllm', 'answers', 'demo'" in str(err.value)


def test_per_category_temperature(tmp_path, questions_file):
    cfg = load_config(_write(tmp_path, BASE.format(q=questions_file)))
    g = cfg.generation
    assert (g.temperature_for("writing"), g.temperature_for("math"), g.temperature_for("stem")) == (0.7, 0.0, 0.1)
    assert g.temperature_for("unknown-cat") == 0.7
    g.temperature = 0.3
    assert g.temperature_for("math") == 0.3


def test_shipped_configs_validate():
    root = Path(__file__).resolve().parents[1]
    for name in ("cfg_single.yaml", "cfg_baseline.yaml", "cfg_pairwise.yaml"):
        cfg = load_config(root / "configs" / name)
        assert cfg.questions.path.exists()
        assert all(c.backend == "demo" for c in cfg.candidates)


def test_cli_prints_one_message_without_traceback(tmp_path, questions_file):
    p = _write(tmp_path, BASE.format(q=questions_file) + "ratng: {}\n")
    res = subprocess.run([sys.executable, "-m", "arena.cli", "run", "-c", str(p)], capture_output=True, text=True)
    assert res.returncode == 2
    assert "did you mean 'rating'" in res.stderr and "Traceback" not in res.stderr
    res = subprocess.run([sys.executable, "-m", "arena.cli", "--debug", "run", "-c", str(p)],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "Traceback" in res.stderr


def test_missing_question_file_names_the_key(tmp_path, capsys):
    from arena.cli import main

    cfg = _write(tmp_path, BASE.format(q=tmp_path / "no-such-questions.jsonl"))
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "questions.path" in err and "no-such-questions.jsonl" in err


@pytest.mark.parametrize("url, words", [
    ("http://[::1/v1", "is not a valid URL (Invalid IPv6 URL)"),
    ("http://u:pw-secret-42@127.0.0.1:99999/v1", "'http://***@127.0.0.1:99999/v1' is not a valid URL (Port out of range"),
    ("localhost:8000/v1", "must be an http:// or https:// URL with a host"),
])
def test_a_malformed_base_url_is_a_config_error_naming_field_and_line(tmp_path, url, words):
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump({"questions": {"path": "q.jsonl"}, "judge": {"mode": "pairwise", "model": "j"},
                                    "candidates": [{"name": "a", "backend": "openai", "model": "m", "base_url": url}]}))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value) + (info.value.hint or "")
    assert "candidates.0.base_url (line" in text and words in text and "pw-secret-42" not in text
