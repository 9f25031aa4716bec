"""Subject -> category tables for the Chinese exam benchmarks, so per-category aggregates work as for MMLU.

C-Eval: its 52 subjects in the paper's four groups (STEM, Social Science, Humanities, Other). CMMLU: only the
subjects of the shipped samples and a few unambiguous ones are listed; every subject not in a table is
counted under "other" (say `category` in your own files to place them otherwise). Names follow the MMLU
groups of arena.bench.mmlu_categories (stem, social_sciences, humanities, other) so the columns line up."""
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
    "stem": "high_school_physics high_school_chemistry high_school_mathematics college_mathematics "
            "computer_science astronomy",
    "social_sciences": "economics",
    "humanities": "world_history philosophy",
    "other": "nutrition agronomy",
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
    """The group of a CMMLU subject listed here; 'other' for every subject not listed."""
    return CMMLU.get(subject.strip().lower(), OTHER)
