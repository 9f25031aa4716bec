"""Scorers on hand-written model replies: each case fails if extraction breaks."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from arena.bench.loaders import load_items
from arena.bench.scoring import (
    extract_choice,
    extract_number,
    normalize_text,
    score_choice,
    score_exact,
    score_numeric,
)


@pytest.mark.parametrize("reply, expected", [
    ("16 - 3 - 4 = 9 eggs, 9 * 2 = 18.\nAnswer: 18", "18"),
    ("Answer: $1,234.50", "1234.5"),
    ("The final answer is 42 apples.", "42"),
    ("First 3 + 4 = 7, then 7 * 6 = 42", "42"),          # no marker: the last number
    ("Answer: 7\nCheck: 7 * 2 = 14", "7"),                # the marker wins over the last number
    ("so x = \\boxed{12}", "12"),
    ("It drops to -5 degrees.\nAnswer: -5", "-5"),
    ("pages 10-12", "12"),                                # a range is not a negative number
    ("worked\n#### 1,000", "1000"),
    ("Answer: 18.00", "18"),
    ("I cannot tell.", None),
])
def test_extract_number(reply, expected):
    assert extract_number(reply) == expected


def test_numeric_score_tolerance_and_wrong_answers():
    assert score_numeric("Answer: 7.5", "7.5").correct
    assert score_numeric("Answer: 7.50000001", "7.5").correct
    assert not score_numeric("Answer: 7.51", "7.5").correct
    assert score_numeric("Answer: 7.51", "7.5", rel_tol=0.01).correct
    s = score_numeric("I think 3 * 5 = 15.\nAnswer: 16", "15")
    assert not s.correct and s.extracted == "16" and s.expected == "15"
    assert not score_numeric("no idea", "15").correct


@pytest.mark.parametrize("reply, expected", [
    ("C", "C"), ("c", "C"), ("C.", "C"), ("(C)", "C"), ("**C**", "C"),
    ("The answer is (C).", "C"), ("The correct answer is C. Because ...", "C"),
    ("Answer: B", "B"), ("Answer: **D**", "D"), ("B) because roots absorb water", "B"),
    ("A is tempting, but the answer is D", "D"), ("I pick option B", "B"),
    ("Looking at each: (A) no, (B) no, so the answer is (C).", "C"),
    ("A bird would say so.", None),                  # 'A' as a word is not a choice
    ("I am not sure.", None),
    ("E", None),                                    # not one of the options
])
def test_extract_choice(reply, expected):
    assert extract_choice(reply, "ABCD") == expected


def test_choice_by_option_text_and_score():
    opts = ["the flowers", "the roots", "the leaves", "the seeds"]
    assert extract_choice("The roots.", "ABCD", opts) == "B"
    assert score_choice("Answer: B", "B", "ABCD", opts).correct
    s = score_choice("The answer is (A)", "B", "ABCD", opts)
    assert not s.correct and s.extracted == "A"
    assert extract_choice("E", "ABCDE") == "E"
    both = ["reluctance", "resistance", "(A) and (B) both", "none of above"]
    assert extract_choice("(A) and (B) both", "ABCD", both) == "C"  # the whole reply is option C's text


def test_exact_match_normalisation():
    assert normalize_text("  The Eiffel  Tower! ") == "eiffel tower"
    assert score_exact("Paris", ["Paris"]).correct
    assert score_exact("**paris.**", ["Paris"]).correct
    assert score_exact("Let me think.\nAnswer: Paris", ["Paris"]).correct
    assert score_exact("four", ["4", "four"]).correct
    assert not score_exact("Paris, Texas", ["Paris"]).correct
    assert not score_exact("Lyon", ["Paris"]).correct


def test_shipped_math_gold_worked_answers_extract_to_the_gold():
    path = Path(__file__).resolve().parent.parent / "data" / "bench" / "math_numeric.jsonl"
    _, res = load_items(path)
    for item in res.items:
        assert score_numeric(item.meta["worked_answer"], item.answer).correct, item.id
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len({r["id"] for r in rows}) == 20


# --- Reviewer cases: each failed before the fix ---------------------------------------------------------

@pytest.mark.parametrize("reply, expected", [
    # the 'Answer:' line the prompt asks for wins over prose that says 'answer is' later
    ("Answer: 5\n\nThe answer is correct because 2+3=5", "5"),
    ("Answer: 4.\n\nNote: answer is approximate, 3 decimal", "4"),
    ("**Answer:** 12\nThe answer is simple once you see 3 + 9.", "12"),
    # 'answer is' counts only with a number right after it ($, spaces, **bold** allowed)
    ("The answer is **$18**.", "18"),
    ("The answer is $ 1,200.", "1200"),
    ("The answer is approximately 7, or about 8 in all", "8"),     # not a number right after: last number
    # Unicode minus signs and full-width digits
    ("Answer: \u22127", "-7"),                                      # U+2212 MINUS SIGN
    ("Answer: \u20137", "-7"),                                      # en dash used as a minus
    ("pages 10\u201312", "12"),                                     # an en dash range is still not negative
    ("Answer: \uff14\uff12", "42"),                                 # full-width digits
    ("The area is 9 m\u00b2", "9"),                                 # a superscript is not a digit of the answer
    # scientific notation, fractions, LaTeX
    ("Answer: 1.5e3", "1500"),
    ("Answer: 2/3", "2/3"),
    ("Answer: 4/6", "2/3"),
    ("so $x = -\\frac{3}{4}$", "-3/4"),
    ("Answer: \\frac{1}{2}", "1/2"),
    ("Answer: \\boxed{42}", "42"),
    ("The result is $\\boxed{42}$ since 6 * 7 = 42 and 7 > 1", "42"),
    ("Final answer: \\boxed{1{,}000}", "1000"),
])
def test_extract_number_reviewer_cases(reply, expected):
    assert extract_number(reply) == expected


def test_fractions_compare_by_value_with_tolerance():
    assert score_numeric("Answer: 2/3", "2/3").correct
    assert score_numeric("Answer: 0.6666667", "2/3").correct
    assert score_numeric("Answer: 2/3", "0.6667", rel_tol=1e-3).correct
    assert not score_numeric("Answer: 2/3", "0.67").correct
    assert score_numeric("Answer: \\frac{1}{2}", "0.5").correct
    assert score_numeric("Answer: 1.5e3", "1500").correct
    assert score_numeric("Answer: \u22127", "-7").correct and not score_numeric("Answer: \u22127", "7").correct


@pytest.mark.parametrize("reply", [
    "(B) and (C)",
    "Answer: B, C",
    "Answer: (A) or (B)",
    "Option B is better than option A",
    "B and C",
    "The answer is A, B, or C.",
    "answer: b, c",
    "\\boxed{B, C}",
])
def test_choice_naming_several_letters_is_no_answer(reply):
    assert extract_choice(reply, "ABCD") is None
    assert not score_choice(reply, "B", "ABCD").correct


@pytest.mark.parametrize("reply, expected", [
    ("\\boxed{C}", "C"),
    ("So the result is $\\boxed{\\text{C}}$.", "C"),
    ("The correct option is D", "D"),
    ("I think it's B.", "B"),
    ("answer: b", "B"),
    ("The answer: (d)", "D"),
    ("Answer: \uff22", "B"),                                          # full-width letter
    ("Answer: B, because the roots take in water", "B"),             # one letter, then the reason
    ("The correct answer is C: A bird and its nest", "C"),           # option text after the letter
    ("Final answer: **B**\nBoth (A) and (C) are wrong.", "B"),       # the marked span names one letter
    ("it's A good question; the answer is C", "C"),                  # 'A' as a word is not 'it's A.'
    ("The answer is a bit tricky. I'd say (C)", "C"),                # lower-case 'a' as a word is not a pick
])
def test_extract_choice_reviewer_forms(reply, expected):
    assert extract_choice(reply, "ABCD") == expected


@pytest.mark.parametrize("reply, expected", [
    ("Answer: 9 * 2 = 18", "18"),                         # a worked answer line gives its result
    ("Answer: The total is 3 + 11 = 14", "14"),
    ("So the answer is 3 + 11 = 14 apples.", "14"),
    ("Answer: -3 - 4 = -7", "-7"),
    ("Answer: 5 x 3 = 15 boxes", "15"),
    ("Answer: 14. Check: 14 = 2 * 7", "14"),             # a check after the answer is not the answer
    ("Answer: 18 apples (9 * 2)", "18"),
    ("#### 6 * 7 = 42", "42"),
])
def test_a_worked_answer_gives_its_result_with_or_without_cot(reply, expected):
    from arena.bench.fewshot import answer_text

    assert extract_number(reply) == expected
    assert extract_number(answer_text(_cot_task(), "Step one.\n" + reply, marked=True)) == expected


def _cot_task():
    from arena.bench.config import BenchTask

    return BenchTask(name="t", path="x.jsonl", cot=True)


@pytest.mark.parametrize("reply, expected", [
    ("B\n\nLondon is the capital of the UK.", "B"),
    ("B\n\nExplanation: Paris (A) is in France.", "B"),  # the explanation's (A) is not the pick
    ("**B**\n\nBecause it is.", "B"),
    ("B because London is the capital.", "B"),
    ("B London", "B"),                                   # the letter with its own option's text
    ("B Paris", None),                                   # a letter with another option's text: unclear
    ("A\nB", None),                                      # two lone letters: unclear
    ("A good answer is (C).", "C"),                      # the article 'A' is not a pick
])
def test_a_letter_that_opens_an_explained_reply_is_the_pick(reply, expected):
    assert extract_choice(reply, "ABCD", ["Paris", "London", "Rome", "Berlin"]) == expected


def test_bbh_takes_the_text_after_the_last_answer_is_even_on_one_line():
    from arena.bench.bbh import score_bbh

    got = score_bbh("At first glance the answer is (A), but rechecking the dates, the answer is (C).", "(C)")
    assert got.correct and got.extracted == "(C)"
    assert score_bbh("The answer is False. No wait, the answer is True.", "True").correct

