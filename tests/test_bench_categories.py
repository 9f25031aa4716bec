"""CMMLU's subject -> category table: all 67 subjects in the paper's five groups, and the loader tags items with it."""
from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from arena.bench.categories import CEVAL, CMMLU, ceval_category, cmmlu_category
from arena.bench.loaders import load_items

# CMMLU's subject files (test/<subject>.csv), listed alphabetically as the dataset ships them.
SUBJECT_FILES = """
agronomy anatomy ancient_chinese arts astronomy business_ethics chinese_civil_service_exam chinese_driving_rule
chinese_food_culture chinese_foreign_policy chinese_history chinese_literature chinese_teacher_qualification
clinical_knowledge college_actuarial_science college_education college_engineering_hydrology college_law
college_mathematics college_medical_statistics college_medicine computer_science computer_security
conceptual_physics construction_project_management economics education electrical_engineering elementary_chinese
elementary_commonsense elementary_information_and_technology elementary_mathematics ethnology food_science
genetics global_facts high_school_biology high_school_chemistry high_school_geography high_school_mathematics
high_school_physics high_school_politics human_sexuality international_law journalism jurisprudence
legal_and_moral_basis logical machine_learning management marketing marxist_theory modern_chinese nutrition
philosophy professional_accounting professional_law professional_medicine professional_psychology
public_relations security_study sociology sports_science traditional_chinese_medicine virology world_history
world_religions
"""
CMMLU_SUBJECTS = SUBJECT_FILES.split()


def test_every_cmmlu_subject_has_one_of_the_five_groups():
    assert len(CMMLU_SUBJECTS) == len(set(CMMLU_SUBJECTS)) == 67
    assert set(CMMLU) == set(CMMLU_SUBJECTS)
    assert Counter(CMMLU.values()) == {"stem": 17, "humanities": 11, "social_sciences": 13, "other": 11,
                                       "china_specific": 15}
    assert len(CEVAL) == 52  # the C-Eval table stays whole beside it


def test_cmmlu_groups_by_hand():
    expected = {"anatomy": "stem", "college_medical_statistics": "stem", "virology": "stem",
                "logical": "humanities", "marxist_theory": "humanities", "world_religions": "humanities",
                "journalism": "social_sciences", "security_study": "social_sciences", "sociology": "social_sciences",
                "computer_security": "other", "legal_and_moral_basis": "other", "clinical_knowledge": "other",
                "chinese_history": "china_specific", "high_school_politics": "china_specific",
                "traditional_chinese_medicine": "china_specific", "ethnology": "china_specific"}
    assert {s: cmmlu_category(s) for s in expected} == expected
    assert cmmlu_category("  Chinese_Driving_Rule ") == "china_specific"  # file stems are matched loosely
    assert cmmlu_category("kitchen_lore") == "other"  # not a CMMLU subject
    assert ceval_category("chinese_history") == "other"  # the tables are separate


def _csv(path: Path, rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["", "Question", "A", "B", "C", "D", "Answer"])
        w.writerows([[str(i), *row] for i, row in enumerate(rows)])


def test_cmmlu_items_carry_the_category_of_their_subject(tmp_path):
    root = tmp_path / "cmmlu"
    _csv(root / "test" / "chinese_history.csv", [["秦朝统一六国的皇帝是", "秦始皇", "汉武帝", "唐太宗", "刘邦", "A"]])
    _csv(root / "test" / "genetics.csv", [["DNA 的双螺旋结构由谁提出", "孟德尔", "沃森和克里克", "达尔文", "摩尔根", "B"]])
    _csv(root / "test" / "journalism.csv", [["新闻的五要素不包括", "时间", "地点", "人物", "价格", "D"]])
    fmt, res = load_items(root)
    assert fmt == "cmmlu"
    assert {i.meta["subject"]: i.meta["category"] for i in res.items} == {
        "chinese_history": "china_specific", "genetics": "stem", "journalism": "social_sciences"}
