"""Answer extraction and matching: numbers (math), option letters (multiple choice), normalised exact match."""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction


@dataclass(frozen=True)
class Score:
    """The outcome of scoring one model reply against one gold answer."""

    correct: bool
    extracted: str | None
    expected: str


# A number: a fraction '2/3', or an optional minus and $, digits with optional thousands commas, optional
# decimals (or ".5") and an optional exponent ('1.5e3').
_NUM = (r"(?<![\w./])-?\d+/\d+(?![\d/]|\.\d)"
        r"|(?<![\w.])-?\$?\s?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\d])"
        r"|(?<![\w.])-?\.\d+(?:[eE][+-]?\d+)?")
NUMBER = re.compile(_NUM)
_ANSWER_MARK = re.compile(r"(?:final\s+)?answer\s*(?:is|:|=|was)\s*:?", re.IGNORECASE)
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
# A line that starts with 'Answer:' (the form the numeric prompt asks for), markdown allowed: '**Answer:** 5'.
_ANSWER_LINE = re.compile(r"^[ \t>*_#-]*(?:final\s+)?answer[*_]*\s*[:=][*_\s]*(.*)$", re.IGNORECASE | re.MULTILINE)
# 'answer is' / 'answer:' / 'answer =' with a number right after it ($, spaces and **bold** allowed).
_ANSWER_IS = re.compile(r"(?:final\s+)?answer\s*(?:is|was|:|=)\s*:?[\s*_]*(?=-?\$|-?\d|-?\.\d)", re.IGNORECASE)
_FRAC = re.compile(r"\\[dt]?frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}")
_MINUS = re.compile(r"\u2212|[\u2013\ufe63\uff0d](?=\$?\d|\.\d)")  # minus sign; en dash used as a minus


def normalize_numbers(text: str) -> str:
    """Number forms made ASCII: NFKC digits, U+2212 / minus-like en dash as '-', \\frac{a}{b} and ½ as a/b."""
    out = []
    for ch in text:
        if ch.isascii():
            out.append(ch)
        elif unicodedata.category(ch) == "No":      # superscripts, vulgar fractions
            nf = unicodedata.normalize("NFKC", ch)
            out.append(nf.replace("\u2044", "/") if "\u2044" in nf else ch)
        else:
            out.append(unicodedata.normalize("NFKC", ch))
    text = _MINUS.sub("-", "".join(out))
    return _FRAC.sub(r"\1/\2", text.replace("{,}", ","))


def parse_number(text: str) -> str | None:
    """Canonical first number of `text` ('$1,000.50' -> '1000.5', '1.5e3' -> '1500', '4/6' -> '2/3'); None if none."""
    m = NUMBER.search(normalize_numbers(text))
    return _canonical(m.group(0)) if m else None


# after a number: an arithmetic operator and another number, i.e. the number starts a worked expression
_OPERATOR = re.compile(r"\s*(?:[-+*/×÷·x]|\\times|\\cdot|\\div)\s*(?=-?\$?\d|\.\d|\()")
_RESULT = re.compile(r"=\s*(?=-?\$?\d|-?\.\d)")


def result_number(text: str) -> str | None:
    """The number an answer states: the first number of `text`, but when that number opens a worked expression
    ('Answer: 9 * 2 = 18', 'the total is 3 + 11 = 14') the result after the expression's last '='."""
    text = normalize_numbers(text)
    m = NUMBER.search(text)
    if m is None:
        return None
    if _OPERATOR.match(text, m.end()):
        line = text[m.start():].split("\n", 1)[0]
        results = list(_RESULT.finditer(line))
        if results and (r := NUMBER.match(line, results[-1].end())) and (n := _canonical(r.group(0))) is not None:
            return n
    return _canonical(m.group(0))


def _canonical(raw: str) -> str | None:
    """A matched number without commas, $ and spaces, as an integer, a plain decimal or a reduced fraction."""
    raw = raw.replace(",", "").replace("$", "").replace(" ", "")
    if "/" in raw:
        num, den = raw.split("/")
        if int(den) == 0:
            return None
        frac = Fraction(int(num), int(den))
        return str(frac.numerator) if frac.denominator == 1 else f"{frac.numerator}/{frac.denominator}"
    try:
        d = Decimal(raw)
    except InvalidOperation:
        return None
    if d == d.to_integral_value():
        return str(int(d))
    return format(d.normalize(), "f")


def extract_number(text: str) -> str | None:
    """A reply's number: after '####', on the last 'Answer:' line, right after 'answer is', in \\boxed{}, or last.
    A stated answer that is worked out ('Answer: 9 * 2 = 18') gives its result (`result_number`)."""
    text = normalize_numbers(text)
    if "####" in text and (n := result_number(text.rsplit("####", 1)[1])) is not None:
        return n
    for line in reversed(_ANSWER_LINE.findall(text)):
        if (n := result_number(line)) is not None:
            return n
    for mark in reversed(list(_ANSWER_IS.finditer(text))):
        if (n := result_number(text[mark.end():].split("\n", 1)[0])) is not None:
            return n
    boxed = _BOXED.findall(text)
    if boxed and (n := parse_number(boxed[-1])) is not None:
        return n
    for raw in reversed(NUMBER.findall(text)):
        if (n := _canonical(raw)) is not None:
            return n
    return None


def _value(number: str) -> float:
    """The value of a canonical number ('2/3' included)."""
    return float(Fraction(number)) if "/" in number else float(number)


def numbers_equal(a: str, b: str, rel_tol: float = 1e-6) -> bool:
    """Whether two canonical numbers (fractions by value) are equal within a relative tolerance (1e-9 absolute)."""
    try:
        return math.isclose(_value(a), _value(b), rel_tol=rel_tol, abs_tol=1e-9)
    except (ValueError, ZeroDivisionError):
        return False


def score_numeric(text: str, gold: str, rel_tol: float = 1e-6) -> Score:
    """Score a math reply: its extracted final number against the gold number."""
    got = extract_number(text)
    return Score(got is not None and numbers_equal(got, gold, rel_tol), got, gold)


def _norm_option(text: str) -> str:
    """Option text for comparison: NFKC, lower case, punctuation as spaces."""
    return " ".join(re.sub(r"[^\w\s]", " ", unicodedata.normalize("NFKC", text).lower()).split())


_WRAP_OPEN = r"[*_(\[{]*"
_WRAP_CLOSE = r"[*_)\]}]*"
_LIST_SEP = r"\s*(?:[,/&+;]|\band\b|\bor\b)\s*(?:(?:and|or)\s+)?(?:(?i:option|choice)\s+)?"
# Where a reply marks its answer; the letters right after the last such mark are its pick.
_CHOICE_MARKS = (
    r"(?i:answer)\s*(?i:is|:|=|was)?\s*:?\s*(?i:option|choice)?\s*",
    r"(?i:correct|right|best|final)\s+(?i:option|choice|letter)\s*(?i:is|:|=)\s*:?\s*",
    r"\\boxed\{\s*(?:\\text(?:bf)?\{)?\s*",
)
_SHORT_WORDS = 40  # a reply with no marked answer is 'short' up to this many words


@dataclass(frozen=True)
class _ChoiceRegex:
    """The letter patterns of one label set (built once per label set)."""

    token: str
    chain_upper: re.Pattern[str]
    chain_lower: re.Pattern[str]
    marks: tuple[re.Pattern[str], ...]
    its: re.Pattern[str]
    refs: re.Pattern[str]


_REGEX_CACHE: dict[str, _ChoiceRegex] = {}


def _choice_regex(labels: str) -> _ChoiceRegex:
    """Compiled patterns for option letters `labels`: a letter list 'B', '(A) or (B)', 'B, C', and markers."""
    if labels in _REGEX_CACHE:
        return _REGEX_CACHE[labels]
    upper = f"[{re.escape(labels)}]"
    lower = f"[{re.escape(labels.lower())}]"

    def chain(cls: str) -> str:
        """A list of letters of class `cls`, each optionally wrapped: 'B', '(A) or (B)', 'B, C'."""
        tok = rf"{_WRAP_OPEN}{cls}(?![A-Za-z0-9]){_WRAP_CLOSE}"
        return rf"{tok}(?:{_LIST_SEP}{tok})*"

    rx = _ChoiceRegex(
        token=upper,
        chain_upper=re.compile(chain(upper)),
        chain_lower=re.compile(chain(lower)),
        marks=tuple(re.compile(m) for m in _CHOICE_MARKS),
        its=re.compile(rf"\b(?i:it)(?:'s|\u2019s|\s+is)\s+(?={_WRAP_OPEN}{upper}{_WRAP_CLOSE}(?:[.!?,;]|\s*$))"),
        refs=re.compile(rf"\*\*\(?({upper})\)?\*\*|\(({upper})\)|(?i:option|choice)\s+({upper})(?![A-Za-z0-9])"),
    )
    _REGEX_CACHE[labels] = rx
    return rx


def _letters(span: str, labels: str) -> list[str]:
    """The distinct option letters named in a letter list such as '(A) or (B)', in order, upper case."""
    found = re.findall(rf"(?<![A-Za-z0-9])([{re.escape(labels + labels.lower())}])(?![A-Za-z0-9])",
                       re.sub(r"(?i)\b(?:and|or|option|choice)\b", " ", span))
    return list(dict.fromkeys(f.upper() for f in found))


def _marked(text: str, labels: str, rx: _ChoiceRegex) -> list[str] | None:
    """The letters after the last answer marker that is followed by a letter, or None when there is none."""
    best: tuple[int, list[str]] | None = None
    for mark in rx.marks:
        for m in mark.finditer(text):
            chain = rx.chain_upper.match(text, m.end()) or rx.chain_lower.match(text, m.end())
            if not chain or (best and best[0] >= m.start()):
                continue
            span = chain.group(0)
            if span.strip("*_([{)]} ").islower():  # 'answer: b' only when the letter ends the line or is wrapped
                rest = text[chain.end():].split("\n", 1)[0]
                if not (re.fullmatch(r"[\s.!)\]*_]*", rest) or span[:1] in "(*_[{"):
                    continue
            best = (m.start(), _letters(span, labels))
    for m in rx.its.finditer(text):
        chain = rx.chain_upper.match(text, m.end())
        if chain and not (best and best[0] >= m.start()):
            best = (m.start(), _letters(chain.group(0), labels))
    return best[1] if best else None


def extract_choice(text: str, labels: str = "ABCD", options: list[str] | None = None) -> str | None:
    """The option letter a reply picks ('Answer: C', '\\boxed{C}', 'C.', option text...); None if unclear or several."""
    rx = _choice_regex(labels)
    plain = unicodedata.normalize("NFKC", text).strip()
    marked = _marked(plain, labels, rx)
    if marked is not None:
        return marked[0] if len(marked) == 1 else None
    whole = re.fullmatch(rf"[\s*_(\[]*({rx.token}){r'(?![A-Za-z0-9])'}[\s*_)\].:]*", plain, re.IGNORECASE)
    if whole:
        return whole.group(1).upper()
    if options:
        reply = _norm_option(plain)
        hits = [labels[i] for i, o in enumerate(options) if i < len(labels) and _norm_option(o) == reply]
        if len(hits) == 1:
            return hits[0]
    lead = rx.chain_upper.match(plain)
    if lead:
        letters = _letters(lead.group(0), labels)
        if len(letters) > 1:
            return None
        if re.match(rf"[\s*_(\[]*{rx.token}(?:[).:\]]|\*\*|\s*-\s)", plain):
            return letters[0]
    opening = _opening_letter(plain, labels, rx, options)
    if opening is not None:
        return opening
    refs = [next(g for g in m.groups() if g) for m in rx.refs.finditer(plain)]
    if len(plain.split()) <= _SHORT_WORDS:  # a short reply naming two letters ('B or C', 'option B, not A')
        lists = [x for m in rx.chain_upper.finditer(plain) for x in _letters(m.group(0), labels)
                 if len(_letters(m.group(0), labels)) > 1]
        if len(set(refs + lists)) > 1:
            return None
    return refs[-1] if refs else None


def _opening_letter(plain: str, labels: str, rx: _ChoiceRegex, options: list[str] | None) -> str | None:
    """A letter that opens the reply and is then explained: alone on the first line ('B' then a paragraph),
    followed by 'because' / 'since', or followed by its own option's text ('B London'); None otherwise."""
    first = plain.split("\n", 1)[0]
    alone = re.compile(rf"[\s*_(\[]*({rx.token})(?![A-Za-z0-9])[\s*_)\].:]*")
    if "\n" in plain and (m := alone.fullmatch(first)):
        others = {o.group(1) for line in plain.splitlines()[1:] if (o := alone.fullmatch(line.strip()))}
        return m.group(1) if others <= {m.group(1)} else None  # 'A' then 'B' on its own line: unclear
    m = re.match(rf"[\s*_(\[]*({rx.token})[\s*_)\]]+(?:because|since)\b", first)
    if m:
        return m.group(1)
    m = re.match(rf"[\s*_(\[]*({rx.token})[\s*_)\].:,-]+(.+)$", first)
    if m and options:
        k = labels.index(m.group(1))
        if k < len(options) and _norm_option(options[k]) and _norm_option(m.group(2)) == _norm_option(options[k]):
            return m.group(1)
    return None


def score_choice(text: str, gold: str, labels: str = "ABCD", options: list[str] | None = None) -> Score:
    """Score a multiple-choice reply: its extracted letter against the gold letter."""
    got = extract_choice(text, labels, options)
    return Score(got == gold, got, gold)


_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_text(text: str) -> str:
    """Lower case, punctuation and symbols deleted ('1,000' = '1000'), no articles, single spaces (SQuAD-style
    normalisation)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join("" if unicodedata.category(ch).startswith(("P", "S")) else ch for ch in text)
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
