"""C-Eval / CMMLU CSV (splits, dev few-shot, Chinese prompts and answers, categories), HellaSwag-style
continuation choice (cleaning; acc / acc_norm against a scripted /v1/completions server) and BBH-style few-shot
CoT (prompt files, BIG-Bench JSON, target matching), on hand-written fixtures."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from openai_server import FakeOpenAI
from test_bench_loglik import scripted_completions

from arena.bench.bbh import read_prompt, score_bbh
from arena.bench.cli import main as bench_main
from arena.bench.config import BenchTask
from arena.bench.configfile import load_bench_config
from arena.bench.hellaswag import clean
from arena.bench.loaders import load_items
from arena.bench.runner import run_bench
from arena.bench.tasks import load_task
from arena.errors import ConfigError

CE = ["id", "question", "A", "B", "C", "D", "answer"]


def _csv(path: Path, header: list[str] | None, rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        if header is not None:
            w.writerow(header)
        w.writerows(rows)
    return path


def _ceval_root(root: Path) -> Path:
    """dev/ (with explanations), val/ and an answerless test/ for two subjects (one not a C-Eval subject)."""
    _csv(root / "val" / "middle_school_physics_val.csv", CE, [
        [0, "声音在哪种介质中传播最快？", "空气", "水", "钢铁", "真空", "C"],
        [1, "重 20 N 的物体质量约是多少？", "1 kg", "2 kg", "3 kg", "4 kg", "B"]])
    _csv(root / "val" / "kitchen_lore_val.csv", CE, [[0, "饺子通常怎么做熟？", "煮", "冻", "晒", "泡", "A"]])
    _csv(root / "dev" / "middle_school_physics_dev.csv", CE + ["explanation"], [
        [0, "功率的单位是", "焦耳", "瓦特", "牛顿", "帕斯卡", "B", "瓦特是功率的单位。"],
        [1, "水的沸点约为", "0 ℃", "50 ℃", "100 ℃", "200 ℃", "C", "标准大气压下水在 100 ℃ 沸腾。"]])
    _csv(root / "dev" / "kitchen_lore_dev.csv", CE + ["explanation"], [
        [0, "米饭通常用什么做？", "大米", "小麦", "玉米", "黄豆", "A", ""],
        [1, "豆浆由什么做成？", "大米", "黄豆", "土豆", "花生", "B", ""]])
    _csv(root / "test" / "middle_school_physics_test.csv", CE[:-1], [[0, "隐藏答案的题目", "a", "b", "c", "d"]])
    return root


def test_ceval_root_reads_the_val_split_with_subjects_categories_and_chinese_items(tmp_path):
    root = _ceval_root(tmp_path / "ceval")
    fmt, res = load_items(root)
    assert fmt == "ceval" and not res.rejected
    by_id = {i.id: i for i in res.items}
    assert sorted(by_id) == ["kitchen_lore-0", "middle_school_physics-0", "middle_school_physics-1"]
    phys = by_id["middle_school_physics-1"]
    assert (phys.question, phys.answer, phys.choices[1]) == ("重 20 N 的物体质量约是多少？", "B", ("B", "2 kg"))
    assert phys.meta["subject"] == "middle_school_physics" and phys.meta["category"] == "stem"
    assert by_id["kitchen_lore-0"].meta["category"] == "other"  # not a C-Eval subject: counted under 'other'
    _, dev = load_items(root / "dev")
    assert dev.items[2].meta["rationale"] == "瓦特是功率的单位。"  # C-Eval's explanation column
    _, test = load_items(root / "test", "ceval")  # C-Eval's test split has no answers: said per row
    assert not test.items and "no 'answer' column (C-Eval's test split has no public answers" in test.rejected[0]


def test_a_flat_folder_mixing_splits_scores_only_the_evaluated_split(tmp_path):
    """`logic_dev.csv` beside `logic_val.csv` in one folder: the dev rows are few-shot material, not test items
    (before, both loaded, ids collided and the dev rows won)."""
    flat = tmp_path / "flat"
    _csv(flat / "logic_dev.csv", CE, [[0, "开发集题目", "a", "b", "c", "d", "A"]])
    _csv(flat / "logic_val.csv", CE, [[0, "验证集题目一", "a", "b", "c", "d", "B"],
                                      [1, "验证集题目二", "a", "b", "c", "d", "C"]])
    fmt, res = load_items(flat)
    assert fmt == "ceval" and not res.rejected
    assert [(i.id, i.question, i.answer) for i in res.items] == [
        ("logic-0", "验证集题目一", "B"), ("logic-1", "验证集题目二", "C")]
    only_dev = tmp_path / "only_dev"
    _csv(only_dev / "logic_dev.csv", CE, [[0, "开发集题目", "a", "b", "c", "d", "A"]])
    _csv(only_dev / "law_dev.csv", CE, [[0, "法律题目", "a", "b", "c", "d", "D"]])
    assert len(load_items(only_dev)[1].items) == 2  # one split only: every file is read


def test_cmmlu_header_with_unnamed_index_column_is_detected(tmp_path):
    root = tmp_path / "cmmlu"
    _csv(root / "test" / "economics.csv", ["", "Question", "A", "B", "C", "D", "Answer"], [
        [0, "价格上升时需求量通常会", "增加", "减少", "不变", "翻倍", "B"],
        [1, "通货膨胀是指", "物价总水平持续上涨", "某商品涨价", "失业下降", "汇率上升", "A"]])
    _csv(root / "dev" / "economics.csv", ["", "Question", "A", "B", "C", "D", "Answer"], [
        [0, "GDP 的中文是", "国内生产总值", "消费价格指数", "失业率", "利率", "A"]])
    fmt, res = load_items(root)
    assert fmt == "cmmlu" and [(i.id, i.answer) for i in res.items] == [("economics-0", "B"), ("economics-1", "A")]
    assert res.items[0].meta["category"] == "social_sciences" and res.items[0].meta["language"] == "zh"


def test_ceval_fewshot_comes_from_the_dev_split_of_the_same_subject_in_chinese(tmp_path):
    root = _ceval_root(tmp_path / "ceval")
    t = load_task(BenchTask(name="ce", path=root, num_fewshot=2))
    item = next(i for i in t.data.items if i.id == "middle_school_physics-0")
    assert t.prompt(item) == (
        "下面是单项选择题，请只回复正确选项的字母（A、B、C 或 D）。\n\n"
        "题目：功率的单位是\nA. 焦耳\nB. 瓦特\nC. 牛顿\nD. 帕斯卡\n答案：B\n\n"
        "题目：水的沸点约为\nA. 0 ℃\nB. 50 ℃\nC. 100 ℃\nD. 200 ℃\n答案：C\n\n"
        "题目：声音在哪种介质中传播最快？\nA. 空气\nB. 水\nC. 钢铁\nD. 真空")
    kitchen = next(i for i in t.data.items if i.id == "kitchen_lore-0")
    assert "米饭" in t.prompt(kitchen) and "功率" not in t.prompt(kitchen)  # same subject only
    cot = load_task(BenchTask(name="ce", path=root, num_fewshot=1, cot=True, prompting="completion"))
    text = cot.prompt(item)
    assert "最后一行按“答案：<字母>”的格式" in text and "瓦特是功率的单位。\n答案：B" in text  # explanation shown
    assert text.endswith("D. 真空\n答案：让我们一步一步地思考。")
    zero = load_task(BenchTask(name="ce", path=root))
    assert zero.prompt(item).startswith("下面是一道单项选择题，请只回复正确选项的字母（A、B、C 或 D），不要解释。")
    english = load_task(BenchTask(name="ce", path=root, language="en"))
    assert english.prompt(item).startswith("Answer the following multiple-choice question.")


@pytest.mark.parametrize("reply, got", [
    ("答案：B", "B"), ("正确答案是 C。因为钢铁中声速最大。", "C"), ("B。", "B"), ("我认为答案为（D）", "D"),
    ("分析：……\n最终答案：A", "A"), ("Answer: C", "C"), ("选项 A 和 B 都不对，答案是D", "D"), ("不知道", None),
])
def test_chinese_answer_lines_are_read(tmp_path, reply, got):
    t = load_task(BenchTask(name="ce", path=_ceval_root(tmp_path / "c")))
    item = next(i for i in t.data.items if i.id == "middle_school_physics-0")  # gold C
    assert t.score(reply, item).extracted == got


def test_hellaswag_context_is_cleaned_and_endings_become_options(tmp_path):
    assert clean("How to cook rice [title] Rinse the rice.  [step] Drain it.") == "How to cook rice. Rinse the rice. Drain it."
    f = tmp_path / "hs.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in [
        {"ind": 7, "activity_label": "Making tea", "ctx_a": "A man boils water.", "ctx_b": "he",
         "endings": ["pours it into a cup.", "eats the kettle."], "label": "0"},
        {"ctx": "[header] How to plant a seed [title] Dig a small hole.", "endings": ["a", "b", "c"], "label": 2},
        {"activity_label": "Baking", "ctx_a": "She opens the oven.", "ctx_b": "the Cake rises",
         "endings": ["x", "y"], "label": 1},
    ]))
    fmt, res = load_items(f)
    assert fmt == "hellaswag" and not res.rejected
    a, b, c = res.items
    assert c.meta["ll_context"] == "Baking: She opens the oven. The cake rises"  # str.capitalize, as lm-eval does
    assert a.id == "7" and a.meta["ll_context"] == "Making tea: A man boils water. He" and a.answer == "A"
    assert b.id == "1" and b.meta["ll_context"] == "How to plant a seed. Dig a small hole." and b.answer == "C"
    t = load_task(BenchTask(name="hs", path=f))
    assert t.kind == "choice" and t.prompt(a) == (
        "Which ending continues the text below most plausibly? Reply with the letter of that ending only (A or B)."
        "\n\nMaking tea: A man boils water. He\n\nA. pours it into a cup.\nB. eats the kettle.")
    assert t.score("A", a).correct and not t.score("B", a).correct


def _loglik_run(tmp_path: Path, name: str, path: Path) -> tuple:
    """One log-likelihood task through the scripted /v1/completions server: (outcome, prompts it was sent)."""
    with FakeOpenAI() as srv:
        srv.completions = scripted_completions
        cfg_path = tmp_path / "cfg.yaml"
        cfg_path.write_text(yaml.safe_dump({
            "workspace": str(tmp_path / "ws"),
            "candidates": [{"name": "m1", "backend": "openai", "model": "fake", "base_url": srv.base_url}],
            "bench": {"tasks": [{"name": name, "path": str(path), "method": "loglikelihood"}]}}))
        cfg, bench = load_bench_config(cfg_path)
        out = run_bench(cfg, bench, show_progress=False, log=lambda s: None)
        return out, {r["prompt"] for r in srv.requests if "prompt" in r}


HS_ITEMS = [  # endings use the scripted server's word log-probabilities (test_bench_loglik.WORD_LP)
    {"ind": 1, "ctx_a": "A child sees a pet.", "ctx_b": "it is a", "endings": ["cat", "elephant", "tree"], "label": 1},
    {"ind": 2, "ctx": "[header] Colors [title] The sky is", "endings": ["blue sky", "red", "five four"], "label": 2},
    {"ind": 3, "ctx": "Two plus two is", "endings": ["four", "five"], "label": 0},
]
# By hand: item 1 LL [-2, -3, -4] -> acc picks cat (wrong); per character [-0.667, -0.375, -1] -> elephant (right).
# Item 2 LL [-2.5, -2.2, -2.0] -> 'five four' (right); per character [-0.3125, -0.733, -0.222] -> right.
# Item 3 ties at -1: the first ending wins both ways (right). acc = 2/3, acc_norm = 1.


def test_hellaswag_loglikelihood_acc_and_acc_norm_equal_hand_computation(tmp_path):
    data = tmp_path / "hs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in HS_ITEMS))
    out, prompts = _loglik_run(tmp_path, "hs", data)
    metrics = out.results["m1"]["metrics"]["hs"]
    assert metrics["acc"] == pytest.approx(2 / 3, abs=1e-6) and metrics["acc_norm"] == pytest.approx(1.0)
    d = {x["id"]: x for x in out.results["m1"]["details"]["hs"]}
    assert d["1"]["loglikelihoods"] == [-2.0, -3.0, -4.0] and (d["1"]["acc"], d["1"]["acc_norm"]) == (0, 1)
    assert d["2"]["loglikelihoods"] == [-2.5, -2.2, -2.0]
    # the cleaned context, then ' ' + ending (lm-evaluation-harness's request shape)
    assert {"A child sees a pet. It is a elephant", "Colors. The sky is five four", "Two plus two is four"} <= prompts


def test_ceval_loglikelihood_compares_letters_after_the_chinese_context(tmp_path):
    root = _ceval_root(tmp_path / "ceval")
    out, prompts = _loglik_run(tmp_path, "ce", root)  # every letter scores -0.5: ties go to A
    assert "声音在哪种介质中传播最快？\nA. 空气\nB. 水\nC. 钢铁\nD. 真空\n答案： C" in prompts
    assert out.results["m1"]["metrics"]["ce"]["acc"] == pytest.approx(1 / 3, abs=1e-6)  # only kitchen_lore-0 is A
    agg = out.results["m1"]["aggregates"]["ce"]
    assert agg["categories"]["stem"]["n"] == 2 and agg["categories"]["other"]["n"] == 1


BBH_PROMPT = """canary line that must not reach the model
-----
Evaluate boolean expressions.

Q: not True is
A: Let's think step by step.
not True = False. So the answer is False.
"""


def test_bbh_prompt_file_and_prompt_equal_the_hand_written_one(tmp_path):
    items = tmp_path / "bool.jsonl"
    items.write_text(json.dumps({"input": "True and False is", "target": "False"}) + "\n")
    prompt = tmp_path / "bool.txt"
    prompt.write_text(BBH_PROMPT)
    assert read_prompt(prompt, "t").startswith("Evaluate boolean") and "canary" not in read_prompt(prompt, "t")
    t = load_task(BenchTask(name="b", path=items, fewshot_prompt=prompt, prompting="completion"))
    assert t.format == "bbh" and t.kind == "exact"
    assert t.prompt(t.data.items[0]) == ("Evaluate boolean expressions.\n\nQ: not True is\nA: Let's think step by "
                                         "step.\nnot True = False. So the answer is False.\n\n"
                                         "Q: True and False is\nA: Let's think step by step.")
    chat = load_task(BenchTask(name="b", path=items, fewshot_prompt=prompt))
    assert chat.prompt(chat.data.items[0]).startswith('Answer the last question the way the examples are answered, '
                                                      'and end with "So the answer is <answer>."\n\nEvaluate boolean')
    reply = "True and False: both must hold.\nSo the answer is False.\n\nQ: invented next question"
    assert t.score(reply, t.data.items[0]).correct
    with pytest.raises(ConfigError, match="fewshot_prompt not found"):
        load_task(BenchTask(name="b", path=items, fewshot_prompt=tmp_path / "nope.txt"))


@pytest.mark.parametrize("reply, gold, ok", [
    ("Blue is in the middle. So the answer is (B).", "(B)", True),
    ("So the answer is (C).", "(B)", False),
    ("the answer is B) The blue book", "(B)", True),
    ("Answer: (B)", "(B)", True),
    ("So the answer is **True**.", "True", True),
    ("So the answer is true", "True", True),
    ("So the answer is False.", "True", False),
    ("So the answer is ) ] }.", ") ] }", True),
    ("24", "24", True),                     # no 'answer is': a one-line reply is the answer
    ("I think 24", "24", False),            # ... and must be the answer alone
    ("Counting them:\n24", "24", False),    # several lines and no answer line: unparsed
    ("no idea", "(A)", False),
])
def test_bbh_targets_match_after_normalisation(reply, gold, ok):
    assert score_bbh(reply, gold).correct is ok


def test_bbh_big_bench_json_layout_and_examples_with_rationale(tmp_path):
    f = tmp_path / "date.json"
    f.write_text(json.dumps({"canary": "x", "examples": [
        {"input": "Which is first?\nOptions:\n(A) one\n(B) two", "target": "(A)",
         "rationale": "One comes before two."},
        {"input": "Which is last?\nOptions:\n(A) one\n(B) two", "target": "(B)"},
        {"input": "Which is third?\nOptions:\n(A) one\n(B) two", "target": "(C)"},
    ]}))
    fmt, res = load_items(f)
    assert fmt == "bbh" and [i.answer for i in res.items] == ["(A)", "(B)"]
    assert res.rejected == [f"{f}:3: field 'target' is '(C)', not one of the item's options ((A), (B))"]
    t = load_task(BenchTask(name="d", path=f, num_fewshot=1, cot=True))
    assert ("Q: Which is first?\nOptions:\n(A) one\n(B) two\nA: Let's think step by step. One comes before two. "
            "So the answer is (A).") in t.prompt(res.items[1])


def test_cfg_bench_runs_the_new_kinds_offline_with_demo_candidates(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    tasks = "ceval_zh,ceval_zh_ll,cmmlu_zh,hellaswag_ll,hellaswag_gen,bbh_boolean,bbh_ordering"
    rc = bench_main(["-c", "configs/cfg_bench.yaml", "--out", str(tmp_path / "ws"), "--tasks", tasks,
                     "--no-progress"])
    assert rc == 0
    data = json.loads((tmp_path / "ws" / "bench" / "demo-alpha.json").read_text())
    assert data["n"] == {"ceval_zh": 9, "ceval_zh_ll": 9, "cmmlu_zh": 6, "hellaswag_ll": 6, "hellaswag_gen": 6,
                         "bbh_boolean": 5, "bbh_ordering": 5}
    assert data["sources"]["ceval_zh"]["format"] == "ceval" and data["sources"]["ceval_zh"]["rejected"] == 0
    assert data["sources"]["ceval_zh"]["fewshot_path"].endswith("data/bench/ceval/dev")
    assert set(data["aggregates"]["ceval_zh"]["categories"]) == {"stem", "social_sciences", "humanities"}
    assert data["sources"]["hellaswag_ll"]["demo"] and set(data["metrics"]["hellaswag_ll"]) >= {"acc", "acc_norm"}
    assert data["sources"]["bbh_ordering"]["fewshot_prompt"].endswith("ordering_cot.txt")
    assert data["aggregates"]["bbh_boolean"]["unparsed"] == 5  # placeholder text never says "the answer is"
    questions = (max((tmp_path / "ws" / "runs").glob("*")) / "questions.jsonl").read_text(encoding="utf-8")
    assert "题目：" in questions and "So the answer is (A)." in questions


def test_language_zh_and_a_fixed_prompt_text_on_other_formats(tmp_path):
    arc = tmp_path / "arc.jsonl"
    arc.write_text(json.dumps({"id": "q1", "question": {"stem": "哪一个是哺乳动物？", "choices": [
        {"label": "A", "text": "鲨鱼"}, {"label": "B", "text": "鲸"}]}, "answerKey": "B"}) + "\n")
    zh = load_task(BenchTask(name="z", path=arc, language="zh"))
    assert zh.prompt(zh.data.items[0]) == ("下面是一道单项选择题，请只回复正确选项的字母（A 或 B），不要解释。\n\n"
                                           "哪一个是哺乳动物？\n\nA. 鲨鱼\nB. 鲸")
    assert zh.score("答案是 B。", zh.data.items[0]).correct
    shots = tmp_path / "shots.txt"
    shots.write_text("Question: Which is a bird?\nA. cat\nB. crow\nAnswer: B\n")
    fixed = load_task(BenchTask(name="f", path=arc, fewshot_prompt=shots))
    assert fixed.prompt(fixed.data.items[0]) == (
        "Answer the following multiple-choice question. Reply with the letter of the correct option only (A or B)."
        "\n\nQuestion: Which is a bird?\nA. cat\nB. crow\nAnswer: B\n\nQuestion: 哪一个是哺乳动物？\nA. 鲨鱼\nB. 鲸")
    with pytest.raises(ConfigError, match="fewshot_prompt apply to method: generate"):
        load_task(BenchTask(name="f", path=arc, fewshot_prompt=shots, method="loglikelihood"))
