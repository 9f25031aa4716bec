"""Bad input gets one clear line naming the file: non-UTF-8 files, YAML bombs, absurd bounds, damaged caches."""
from __future__ import annotations

import json
import time

import pytest
import yaml
from conftest import read_jsonl, write_config

from arena.bench.configfile import load_bench_config
from arena.cli import main
from arena.config import load_config
from arena.errors import ConfigError, DataError
from arena.questions import load_questions
from arena.records import JsonlAppender, read_records

DEMO2 = [{"name": "a", "backend": "demo"}, {"name": "b", "backend": "demo", "quality": 0.9}]


def _yaml_cfg(tmp_path, questions_file, body: str):
    path = tmp_path / "cfg.yaml"
    path.write_text(f"workspace: {tmp_path / 'ws'}\nquestions: {{path: {questions_file}}}\n{body}")
    return path


def test_config_not_utf8_is_one_line_naming_the_file(tmp_path, questions_file, capsys):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(f"workspace: {tmp_path / 'ws'}\n# caf\xe9\ncandidates: []\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1.yaml:2: not UTF-8 text"):
        load_config(path)
    assert main(["run", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}:2: not UTF-8") and "Traceback" not in err and "save the file as UTF-8" in err
    bench = tmp_path / "bench.yaml"
    bench.write_bytes(b"bench: {tasks: []}\n# \xff\n")
    with pytest.raises(ConfigError, match="bench.yaml:2: not UTF-8"):
        load_bench_config(bench)


def test_question_and_answer_files_not_utf8_name_file_and_line(tmp_path):
    q = tmp_path / "q.jsonl"
    q.write_bytes(b'{"question_id": 1, "turns": ["hi"]}\n{"question_id": 2, "turns": ["caf\xe9"]}\n')
    with pytest.raises(DataError, match=r"q.jsonl:2: not UTF-8 text \(byte 0xe9"):
        load_questions(q)
    j = tmp_path / "q.json"
    j.write_bytes(b'[{"question_id": 1,\n "turns": ["\xff"]}]')
    with pytest.raises(DataError, match=r"q.json:2: not UTF-8"):
        load_questions(j)
    deep = tmp_path / "deep.jsonl"
    deep.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(DataError, match=r"deep.jsonl:1: not valid JSON \(nested too deeply\)"):
        load_questions(deep)


def test_deeply_nested_yaml_is_refused(tmp_path, questions_file):
    path = _yaml_cfg(tmp_path, questions_file, "candidates: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match=r"cfg.yaml: refused: the YAML nested more than 40 levels deep \(line 3\)"):
        load_config(path)


def test_yaml_alias_bomb_is_refused_fast_but_ordinary_anchors_work(tmp_path, questions_file):
    bomb = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    bomb += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    path = _yaml_cfg(tmp_path, questions_file, "bombs:\n" + "".join(f"  {line}\n" for line in bomb))
    assert len(path.read_bytes()) < 1500
    t0 = time.monotonic()
    with pytest.raises(ConfigError, match=r"expands to more than 100000 values through its aliases"):
        load_config(path)
    assert time.monotonic() - t0 < 2
    loop = _yaml_cfg(tmp_path, questions_file, "candidates: &c [*c]\n")
    with pytest.raises(ConfigError, match="refers to a value that contains it"):
        load_config(loop)
    ok = _yaml_cfg(tmp_path, questions_file, "candidates:\n  - &demo {name: a, backend: demo}\n"
                   "  - {<<: *demo, name: b}\n")
    assert [c.name for c in load_config(ok).candidates] == ["a", "b"]


def test_huge_bootstrap_is_refused_with_the_field_named(tmp_path, questions_file):
    cfg = write_config(tmp_path, questions_file, DEMO2, rating={"bootstrap": 1_000_000_000_000})
    with pytest.raises(ConfigError, match=r"rating.bootstrap \(line \d+\): Input should be less than or equal "
                                          r"to 100000"):
        load_config(cfg)
    assert load_config(write_config(tmp_path, questions_file, DEMO2, rating={"bootstrap": 100_000}))


def test_damaged_cache_line_is_reported_once_set_aside_and_the_next_run_is_clean(tmp_path, questions_file,
                                                                                 capsys):
    cfg = write_config(tmp_path, questions_file, DEMO2)
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 0
    cache = tmp_path / "ws" / "answers" / "a.jsonl"
    lines = cache.read_bytes().split(b"\n")
    good = [json.loads(x) for x in lines if x]
    damaged = [b'{"key": "half a rec', b"\xff\xfe not utf-8", b"[1, 2]"]
    cache.write_bytes(b"\n".join(lines[:2] + damaged + lines[2:]))
    capsys.readouterr()
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 0
    out = capsys.readouterr()
    said = [line for line in out.err.splitlines() if "damaged" in line]
    assert len(said) == 1 and "a.jsonl: 3 damaged line(s) (line 3: not valid JSON" in said[0]
    assert "Warning" not in out.err and "records.py" not in out.err
    assert read_jsonl(cache) == good  # every good line kept, in order, nothing asked again
    assert (cache.parent / "a.jsonl.bad").read_bytes() == b"".join(d + b"\n" for d in damaged)
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 0
    assert "damaged" not in capsys.readouterr().err  # the next run is clean


def test_damaged_lines_stay_put_while_a_writer_has_the_file_open(tmp_path, capsys):
    path = tmp_path / "c.jsonl"
    path.write_text('{"k": 1}\nbroken\n{"k": 2}\n')
    with JsonlAppender(path) as app:
        assert [r["k"] for _, r in read_records(path, strict=False)] == [1, 2]
        app.append({"k": 3})
        assert [r["k"] for _, r in read_records(path, strict=False)] == [1, 2, 3]
    err = capsys.readouterr().err
    assert err.count("skipping 1 damaged line(s)") == 1  # said once, not on every read
    assert "broken" in path.read_text() and not (tmp_path / "c.jsonl.bad").exists()
    assert [r["k"] for _, r in read_records(path, strict=False)] == [1, 2, 3]  # no writer now: set aside
    assert path.read_text() == '{"k": 1}\n{"k": 2}\n{"k": 3}\n'
    assert (tmp_path / "c.jsonl.bad").read_text() == "broken\n"


def test_last_line_without_newline_that_is_complete_is_kept_on_append(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"k": 1}\n{"k": 2}')
    with JsonlAppender(path) as app:
        app.append({"k": 3})
    assert [r["k"] for _, r in read_records(path)] == [1, 2, 3]


def test_yaml_written_by_safe_dump_still_loads(tmp_path, questions_file):
    cfg = write_config(tmp_path, questions_file, DEMO2, judge={"mode": "pairwise", "kind": "dry-run"})
    assert yaml.safe_load(cfg.read_text())["judge"]["kind"] == "dry-run"
    assert load_config(cfg).judge.kind == "dry-run"


def test_anchor_and_baseline_together_are_refused_before_any_work(tmp_path, questions_file, fake_openai, capsys):
    cands = [{"name": n, "backend": "openai", "model": n, "base_url": fake_openai.base_url} for n in ("a", "b")]
    cfg = write_config(tmp_path, questions_file, cands, rating={"anchor": "a=1000", "baseline": "b"})
    assert main(["run", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "rating" in err and "anchor and baseline both fix the rating scale" in err
    assert fake_openai.requests == [] and not (tmp_path / "ws").exists()


def test_an_unknown_key_of_a_transformers_candidate_is_named_like_any_other(tmp_path, questions_file):
    from arena.config import load_config
    from arena.errors import ConfigError

    cands = [{"name": "a", "backend": "demo"}, {"name": "t", "backend": "transformers", "path": "/m", "devce": "cpu"}]
    cfg = write_config(tmp_path, questions_file, cands)
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert "candidates.1 (line" in str(err.value) and "unknown key 'devce'" in str(err.value)
    assert "transformers" not in str(err.value).split("unknown key")[0]  # the path names no union member
