"""Subject -> category tables for the Chinese exam benchmarks, so per-category aggregates work as for MMLU.

C-Eval: its 52 subjects in the paper's four groups (STEM, Social Science, Humanities, Other). CMMLU: its 67
subjects in the five groups its paper reports (STEM, Humanities, Social Science, Other, China specific). CMMLU's
own tables give the 15 China-specific subjects a discipline as well (ancient_chinese is also linguistics, i.e.
Social Science); here every subject has one category, and those 15 are `china_specific`. A subject in no table
is counted under "other" (say `category` in your own files to place it otherwise). Names follow the MMLU groups
of arena.bench.mmlu_categories (stem, social_sciences, humanities, other) so the columns line up."""
from __future__ import annotations

_CEVAL: dict[str, str] = {
    "stem": "computer_network operating_system computer_architecture college_programming college_physics "
            "college_chemistry advanced_mathematics probability_and_statistics discrete_mathematics "
            "electrical_engineer metrology_engineer high_school_mathematics high_school_physics "
            "high_school_chemistry high_school_biology middle_school_mathematics middle_school_biology "
            "middle_school_physics middle_school_chemistry veterinary_medicine",
    "social_sciences": "college_economics business_administration marxism mao_zedong_thought education_science "
                       "teacher_qualification high_school_politics high_school_geography middle_school_politics "
                       "middle_school_geography",
    "humanities": "modern_chinese_history ideological_and_moral_cultivation logic law "
                  "chinese_language_and_literature art_studies professional_tour_guide legal_professional "
                  "high_school_chinese high_school_history middle_school_history",
    "other": "civil_servant sports_science plant_protection basic_medicine clinical_medicine "
             "urban_and_rural_planner accountant fire_engineer environmental_impact_assessment_engineer "
             "tax_accountant physician",
}
_CMMLU: dict[str, str] = {
    "stem": "anatomy astronomy college_actuarial_science college_engineering_hydrology college_mathematics "
            "college_medical_statistics computer_science conceptual_physics electrical_engineering "
            "elementary_mathematics genetics high_school_biology high_school_chemistry high_school_mathematics "
            "high_school_physics machine_learning virology",
    "humanities": "arts college_law global_facts international_law jurisprudence logical marxist_theory philosophy "
                  "professional_law world_history world_religions",
    "social_sciences": "business_ethics college_education economics education high_school_geography journalism "
                       "management marketing professional_accounting professional_psychology public_relations "
                       "security_study sociology",
    "other": "agronomy clinical_knowledge college_medicine computer_security elementary_information_and_technology "
             "food_science human_sexuality legal_and_moral_basis nutrition professional_medicine sports_science",
    "china_specific": "ancient_chinese chinese_civil_service_exam chinese_driving_rule chinese_food_culture "
                      "chinese_foreign_policy chinese_history chinese_literature chinese_teacher_qualification "
                      "construction_project_management elementary_chinese elementary_commonsense ethnology "
                      "high_school_politics modern_chinese traditional_chinese_medicine",
}
OTHER = "other"


def _flip(groups: dict[str, str]) -> dict[str, str]:
    return {subject: group for group, names in groups.items() for subject in names.split()}


CEVAL = _flip(_CEVAL)
CMMLU = _flip(_CMMLU)


def ceval_category(subject: str) -> str:
    """The C-Eval group of a subject (file stem such as 'computer_network'); 'other' when not a C-Eval subject."""
    return CEVAL.get(subject.strip().lower(), OTHER)


def cmmlu_category(subject: str) -> str:
    """The CMMLU group of a subject (file stem such as 'chinese_history'); 'other' when not a CMMLU subject."""
    return CMMLU.get(subject.strip().lower(), OTHER)
