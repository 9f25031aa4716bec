"""Few-shot prompts (seeded examples, the item never among its own), CoT answer lines, option checks."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from arena.bench.config import BenchTask
from arena.bench.tasks import load_task
from arena.errors import ConfigError

GSM = [  # (question, worked answer)
    ("Ann has 3 bags of 4 apples. How many apples?", "3 bags * 4 = <<3*4=12>>12 apples.\n#### 12"),
    ("Bo had 10 pens and gave away 4. How many are left?", "10 - 4 = <<10-4=6>>6 pens.\n#### 6"),
    ("A box holds 6 eggs. How many eggs in 5 boxes?", "6 * 5 = <<6*5=30>>30 eggs.\n#### 30"),
]


def _gsm(path: Path, rows=GSM) -> Path:
    path.write_text("".join(json.dumps({"id": f"g{i}", "question": q, "answer": a}) + "\n"
                            for i, (q, a) in enumerate(rows)))
    return path


def _arc(path: Path, n: int, prefix: str = "q") -> Path:
    path.write_text("".join(json.dumps({"id": f"{prefix}{i}", "question": {"stem": f"Stem number {i}?", "choices": [
        {"label": lab, "text": f"opt {lab}{i}"} for lab in "ABCD"]}, "answerKey": "ABCD"[i % 4]}) + "\n"
        for i in range(n)))
    return path


def test_three_item_gsm8k_prompt_equals_the_hand_written_one(tmp_path):
    task = BenchTask(name="m", path=_gsm(tmp_path / "m.jsonl"), num_fewshot=2)
    t = load_task(task)
    expected = (
        'Solve the following problem. Reason step by step if it helps, then give the final answer on the last '
        'line in the form "Answer: <number>" (digits only, no units).\n'
        "\n"
        "Question: Ann has 3 bags of 4 apples. How many apples?\n"
        "3 bags * 4 = 12 apples.\n"
        "Answer: 12\n"
        "\n"
        "Question: A box holds 6 eggs. How many eggs in 5 boxes?\n"
        "6 * 5 = 30 eggs.\n"
        "Answer: 30\n"
        "\n"
        "Question: Bo had 10 pens and gave away 4. How many are left?")
    assert t.prompt(t.data.items[1]) == expected


def test_choice_examples_from_a_dev_file_show_letters_and_cot_changes_the_instruction(tmp_path):
    dev = _arc(tmp_path / "dev.jsonl", 1, prefix="d")
    test = _arc(tmp_path / "test.jsonl", 2)
    t = load_task(BenchTask(name="c", path=test, num_fewshot=1, fewshot_path=dev))
    assert t.prompt(t.data.items[1]) == (
        "Answer the following multiple-choice question. Reply with the letter of the correct option only "
        "(A, B, C or D).\n\n"
        "Question: Stem number 0?\nA. opt A0\nB. opt B0\nC. opt C0\nD. opt D0\nAnswer: A\n\n"
        "Question: Stem number 1?\nA. opt A1\nB. opt B1\nC. opt C1\nD. opt D1")
    cot = load_task(BenchTask(name="c", path=test, num_fewshot=1, fewshot_path=dev, cot=True))
    assert cot.prompt(cot.data.items[1]) == (
        "Answer the following multiple-choice question. Think step by step and show your reasoning, then give "
        'the final answer on the last line in the form "Answer: <letter>" (A, B, C or D).\n\n'
        "Question: Stem number 0?\nA. opt A0\nB. opt B0\nC. opt C0\nD. opt D0\nAnswer: A\n\n"
        "Question: Stem number 1?\nA. opt A1\nB. opt B1\nC. opt C1\nD. opt D1")
    completion = load_task(BenchTask(name="c", path=test, cot=True, prompting="completion"))
    assert completion.prompt(completion.data.items[0]).endswith(
        "Question: Stem number 0?\nA. opt A0\nB. opt B0\nC. opt C0\nD. opt D0\nAnswer: Let's think step by step.")


def test_zero_shot_chat_prompt_is_unchanged(tmp_path):
    t = load_task(BenchTask(name="m", path=_gsm(tmp_path / "m.jsonl")))
    assert t.prompt(t.data.items[0]).endswith("\n\nAnn has 3 bags of 4 apples. How many apples?")
    assert "Question:" not in t.prompt(t.data.items[0])


def test_the_item_is_never_among_its_own_examples(tmp_path):
    path = _arc(tmp_path / "t.jsonl", 20)
    t = load_task(BenchTask(name="c", path=path, num_fewshot=5))
    for item in t.data.items:
        ids = [ex.id for ex in t.shots.examples(item)]
        assert len(ids) == 5 == len(set(ids)) and item.id not in ids
        assert f"Stem number {item.id[1:]}?\nA." not in t.prompt(item).split("\n\n", 1)[1].rsplit("\n\nQuestion:", 1)[0]


def test_examples_are_seeded_per_item_whatever_the_limit(tmp_path):
    path = _arc(tmp_path / "t.jsonl", 30)
    a = load_task(BenchTask(name="c", path=path, num_fewshot=3))
    b = load_task(BenchTask(name="c", path=path, num_fewshot=3))
    limited = load_task(BenchTask(name="c", path=path, num_fewshot=3), limit=4)
    other = load_task(BenchTask(name="c", path=path, num_fewshot=3, fewshot_seed=7))
    draws = [[ex.id for ex in a.shots.examples(i)] for i in a.data.items]
    assert draws == [[ex.id for ex in b.shots.examples(i)] for i in b.data.items]
    assert draws[:4] == [[ex.id for ex in limited.shots.examples(i)] for i in limited.data.items]
    assert draws != [[ex.id for ex in other.shots.examples(i)] for i in other.data.items]
    assert len({tuple(d) for d in draws}) > 10  # items get different examples


@pytest.mark.parametrize("reply, gold, ok", [
    ("3 * 4 = 12, then 12 + 1 = 13.\nAnswer: 13", "13", True),
    ("First 5 + 5 = 10.\n**Final answer:** 10", "10", True),
    ("Step 1: 2 + 2 = 4. Step 2: 4 * 2 = 8.\nThe answer is 8.", "8", True),
    ("I think 7 at first.\nAnswer: 9\nCheck: 9 - 2 = 7", "9", True),  # the answer line, not the last number
    ("12 apples, then 3 more: 15", "15", True),                       # no answer line: the whole reply
    ("Answer: 4 ... no wait.\nAnswer: 5", "4", False),                # the last answer line counts
])
def test_cot_numeric_reads_the_final_answer_line(tmp_path, reply, gold, ok):
    rows = [("q?", f"x\n#### {gold}"), ("r?", "y\n#### 1")]
    t = load_task(BenchTask(name="m", path=_gsm(tmp_path / "m.jsonl", rows), cot=True))
    assert t.score(reply, t.data.items[0]).correct is ok


@pytest.mark.parametrize("reply, got", [
    ("Option A is wrong because of (B) and (C).\nAnswer: D", "D"),
    ("Whales breathe air, so (B) fits. Sharks (A) are fish.\nAnswer: (B)", "B"),
    ("Thinking about it, C and D are out.\nThe answer is A.", "A"),
    ("Let me see: oxygen is a gas.\n**Answer:** C", "C"),
])
def test_cot_choice_reads_the_final_answer_line(tmp_path, reply, got):
    t = load_task(BenchTask(name="c", path=_arc(tmp_path / "t.jsonl", 2), cot=True))
    assert t.score(reply, t.data.items[0]).extracted == got


def test_completion_reply_is_cut_before_an_invented_next_question(tmp_path):
    t = load_task(BenchTask(name="m", path=_gsm(tmp_path / "m.jsonl"), prompting="completion"))
    assert t.score(" 12\n\nQuestion: What is 2 + 2?\nAnswer: 4", t.data.items[0]).extracted == "12"


def test_bad_fewshot_settings_are_one_clear_error(tmp_path):
    path = _gsm(tmp_path / "m.jsonl")
    with pytest.raises(ConfigError, match=r"num_fewshot 3 needs 4 usable items in .*m\.jsonl.*found 3"):
        load_task(BenchTask(name="m", path=path, num_fewshot=3))
    with pytest.raises(ConfigError, match="fewshot_path not found"):
        load_task(BenchTask(name="m", path=path, num_fewshot=1, fewshot_path=tmp_path / "nope.jsonl"))
    ref = tmp_path / "r.jsonl"
    ref.write_text(json.dumps({"prompt": "Say hi", "reference": "hi"}) + "\n")
    with pytest.raises(ConfigError, match="cot apply to kinds numeric, choice, exact, not 'reference'"):
        load_task(BenchTask(name="r", path=ref, cot=True))
    with pytest.raises(ConfigError, match="num_fewshot apply to method: generate"):
        load_task(BenchTask(name="c", path=_arc(tmp_path / "t.jsonl", 4), num_fewshot=1, method="loglikelihood"))


def _mmlu(folder: Path, split: str, subjects: dict[str, int]) -> Path:
    folder.mkdir()
    for subject, n in subjects.items():  # the original header-less layout with letter answers
        rows = [f'"{subject} {split} question {i}?",w,x,y,z,{"ABCD"[i % 4]}' for i in range(n)]
        (folder / f"{subject}_{split}.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_mmlu_dev_folder_gives_same_subject_examples(tmp_path):
    test = _mmlu(tmp_path / "test", "test", {"anatomy": 3, "virology": 3})
    dev = _mmlu(tmp_path / "dev", "dev", {"anatomy": 5, "virology": 5})
    t = load_task(BenchTask(name="mmlu", path=test, num_fewshot=5, fewshot_path=dev))
    for item in t.data.items:
        subject = item.meta["subject"]
        examples = t.shots.examples(item)
        assert [ex.question for ex in examples] == [f"{subject} dev question {i}?" for i in range(5)]
    prompt = t.prompt(t.data.items[0])
    assert prompt.count("Question: anatomy dev question") == 5 and "virology" not in prompt
    assert "Question: anatomy dev question 1?\nA. w\nB. x\nC. y\nD. z\nAnswer: B\n\n" in prompt
    with pytest.raises(ConfigError, match="num_fewshot 11 needs 11 usable items in .*dev, found 10"):
        load_task(BenchTask(name="mmlu", path=test, num_fewshot=11, fewshot_path=dev))


def test_fewshot_path_resolves_beside_the_config_and_a_wrong_format_says_why(tmp_path):
    from arena.bench.config import BenchConfig

    (tmp_path / "cfgdir").mkdir()
    _arc(tmp_path / "cfgdir" / "dev.jsonl", 3, prefix="d")
    bench = BenchConfig(tasks=[{"name": "c", "path": str(_arc(tmp_path / "t.jsonl", 2)), "num_fewshot": 2,
                                "fewshot_path": "dev.jsonl"}])
    bench.resolve_paths(tmp_path / "cfgdir")
    assert bench.tasks[0].fewshot_path == tmp_path / "cfgdir" / "dev.jsonl"
    assert len(load_task(bench.tasks[0]).shots.examples(load_task(bench.tasks[0]).data.items[0])) == 2
    gsm = _gsm(tmp_path / "g.jsonl")
    with pytest.raises(ConfigError, match=r"found 0 .*read as arc; first rejected: .*g\.jsonl:1: needs 'question.stem'"):
        load_task(BenchTask(name="c", path=tmp_path / "t.jsonl", num_fewshot=1, fewshot_path=gsm))
