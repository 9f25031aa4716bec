"""Answer extraction and matching: numbers (math), option letters (multiple choice), normalised exact match."""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation


@dataclass(frozen=True)
class Score:
    """The outcome of scoring one model reply against one gold answer."""

    correct: bool
    extracted: str | None
    expected: str


# A number: optional minus and $, digits with optional thousands commas, optional decimals (or ".5").
_NUM = r"(?<![\w.])-?\$?\s?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\d])|(?<![\w.])-?\.\d+"
NUMBER = re.compile(_NUM)
_ANSWER_MARK = re.compile(r"(?:final\s+)?answer\s*(?:is|:|=|was)\s*:?", re.IGNORECASE)
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")


def parse_number(text: str) -> str | None:
    """Canonical form of the first number in `text` ('$1,000.50' -> '1000.5', '18.00' -> '18'); None if none."""
    m = NUMBER.search(text)
    if not m:
        return None
    raw = m.group(0).replace(",", "").replace("$", "").replace(" ", "")
    try:
        d = Decimal(raw)
    except InvalidOperation:
        return None
    if d == d.to_integral_value():
        return str(int(d))
    return format(d.normalize(), "f")


def extract_number(text: str) -> str | None:
    """The final number of a reply: after '####' (GSM8K style), else after the last 'Answer:' / 'answer is',
    else in the last \\boxed{}, else the last number in the text; commas and $ removed."""
    if "####" in text and (n := parse_number(text.rsplit("####", 1)[1])) is not None:
        return n
    for mark in reversed(list(_ANSWER_MARK.finditer(text))):
        line = text[mark.end():].split("\n", 1)[0]
        if (n := parse_number(line)) is not None:
            return n
    boxed = _BOXED.findall(text)
    if boxed and (n := parse_number(boxed[-1])) is not None:
        return n
    found = NUMBER.findall(text)
    return parse_number(found[-1]) if found else None


def numbers_equal(a: str, b: str, rel_tol: float = 1e-6) -> bool:
    """Whether two canonical numbers are equal within a relative tolerance (and 1e-9 absolute)."""
    try:
        return math.isclose(float(a), float(b), rel_tol=rel_tol, abs_tol=1e-9)
    except ValueError:
        return False


def score_numeric(text: str, gold: str, rel_tol: float = 1e-6) -> Score:
    """Score a math reply: its extracted final number against the gold number."""
    got = extract_number(text)
    return Score(got is not None and numbers_equal(got, gold, rel_tol), got, gold)


def _norm_option(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def extract_choice(text: str, labels: str = "ABCD", options: list[str] | None = None) -> str | None:
    """The option letter a reply picks: 'Answer: C', 'The answer is (C)', 'C', the option's own text (the
    whole reply), 'C. ...', '**C**', '(C)'; None when no letter can be told."""
    cls = f"[{re.escape(labels)}]"
    end = r"(?![A-Za-z0-9])"
    plain = text.strip()
    marked = re.findall(rf"(?i:answer)\s*(?i:is|:|=)?\s*:?\s*(?i:option|choice)?\s*[*_(\[\s]*({cls}){end}", plain)
    if marked:
        return marked[-1]
    whole = re.fullmatch(rf"[\s*_(\[]*({cls}){end}[\s*_)\].:]*", plain, re.IGNORECASE)
    if whole:
        return whole.group(1).upper()
    if options:
        reply = _norm_option(plain)
        hits = [labels[i] for i, o in enumerate(options) if i < len(labels) and _norm_option(o) == reply]
        if len(hits) == 1:
            return hits[0]
    lead = re.match(rf"[\s*_(\[]*({cls})(?:[).:\]]|\*\*|\s*-\s)", plain)
    if lead:
        return lead.group(1)
    for pattern in (rf"\*\*\(?({cls})\)?\*\*", rf"\(({cls})\)", rf"(?i:option|choice)\s+({cls}){end}"):
        found = re.findall(pattern, plain)
        if found:
            return found[-1]
    return None


def score_choice(text: str, gold: str, labels: str = "ABCD", options: list[str] | None = None) -> Score:
    """Score a multiple-choice reply: its extracted letter against the gold letter."""
    got = extract_choice(text, labels, options)
    return Score(got == gold, got, gold)


_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_text(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces (SQuAD-style normalisation)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if unicodedata.category(ch).startswith(("P", "S")) else ch for ch in text)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_candidates(text: str) -> list[str]:
    """The spans of a reply that may be its answer: after the last 'Answer:', the whole reply, first and last line."""
    spans = []
    marks = list(_ANSWER_MARK.finditer(text))
    if marks:
        spans.append(text[marks[-1].end():].split("\n", 1)[0])
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    spans.append(text)
    if lines:
        spans += [lines[0], lines[-1]]
    return [s.strip() for s in spans]


def score_exact(text: str, golds: list[str]) -> Score:
    """Score an exact-match reply: any candidate span equal to any accepted answer after normalisation."""
    wanted = {normalize_text(g) for g in golds}
    spans = exact_candidates(text)
    for span in spans:
        if normalize_text(span) in wanted:
            return Score(True, span, golds[0])
    return Score(False, spans[0] if spans else None, golds[0])
