"""Verdict parsing for judge replies: 3-way, 5-way and 1-10 scores; the last valid match wins.

Pure functions, standard library only. The raw judge text is never turned into a default: text with
no valid verdict gives ``None`` so the caller records it as unparseable and retries it later.
"""
from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

VerdictKind = Literal["3way", "5way", "score"]
KINDS: tuple[str, ...] = ("3way", "5way", "score")
FIVE_WAY_LABELS: tuple[str, ...] = ("A>>B", "A>B", "A=B", "B>A", "B>>A")
THREE_WAY_LABELS: tuple[str, ...] = ("A", "B", "tie")
SCORE_MIN, SCORE_MAX = 1.0, 10.0
DEFAULT_STRONG_WEIGHT = 3.0
_SWAPPED_LABELS = {
    "A": "B", "B": "A", "tie": "tie",
    "A>>B": "B>>A", "A>B": "B>A", "A=B": "A=B", "B>A": "A>B", "B>>A": "A>>B",
}

# Double square brackets only; whitespace tolerated inside ("[[ A ]]", "[[A > B]]") but not between
# the two brackets, so the neutralized forms "[ [" / "] ]" never match.
_THREE_WAY_RE = re.compile(r"\[\[\s*(A|B|C|[Tt][Ii][Ee])\s*\]\]")
_FIVE_WAY_RE = re.compile(r"\[\[\s*([AB])\s*(>>|<<|>|<|==|=)\s*([AB])\s*\]\]")
_SCORE_RE = re.compile(r"\[\[\s*(\d{1,2}(?:\.\d+)?)\s*(?:/\s*10\s*)?\]\]")


@dataclass(frozen=True)
class Verdict:
    """One parsed verdict; ``winner`` is None for scores, ``strength`` is 2 for strong 5-way wins."""

    kind: str
    label: str
    winner: str | None
    strength: int = 1
    score: float | None = None

    @property
    def is_strong(self) -> bool:
        """True for a strong 5-way preference (A>>B or B>>A)."""
        return self.strength == 2


@dataclass(frozen=True)
class Outcome:
    """Both orders combined, in the original order (game2 swapped back); winner None if a game is missing."""

    winner: str | None
    weight: float
    consistent: bool | None
    game1: Verdict | None
    game2: Verdict | None


def _check_kind(kind: str) -> None:
    """Reject an unknown verdict kind with a message that lists the valid ones."""
    if kind not in KINDS:
        raise ValueError(f"unknown verdict kind {kind!r}; expected one of {', '.join(KINDS)}")


def _three_way(token: str) -> Verdict:
    """Build a 3-way verdict from the bracket content A, B, C or tie."""
    winner = "tie" if token.upper() in ("C", "TIE") else token
    return Verdict(kind="3way", label=winner, winner=winner)


def _five_way(left: str, op: str, right: str) -> Verdict | None:
    """Build a canonical 5-way verdict from e.g. ("B", "<<", "A"); None for "A>>A" and the like."""
    if left == right:
        return None
    if op in ("<", "<<"):
        left, right, op = right, left, op.replace("<", ">")
    if op in ("=", "=="):
        return Verdict(kind="5way", label="A=B", winner="tie")
    return Verdict(kind="5way", label=f"{left}{op}{right}", winner=left, strength=len(op))


def _score(number: str) -> Verdict | None:
    """Build a score verdict; None when the number is outside 1-10."""
    value = float(number)
    if not SCORE_MIN <= value <= SCORE_MAX:
        return None
    return Verdict(kind="score", label=f"{value:g}", winner=None, score=value)


def _candidates(text: str, kind: str) -> list[Verdict | None]:
    """All bracketed matches of one kind, in text order; invalid ones are None."""
    if kind == "3way":
        return [_three_way(m.group(1)) for m in _THREE_WAY_RE.finditer(text)]
    if kind == "5way":
        return [_five_way(*m.groups()) for m in _FIVE_WAY_RE.finditer(text)]
    return [_score(m.group(1)) for m in _SCORE_RE.finditer(text)]


def parse_verdict(text: str | None, kind: str) -> Verdict | None:
    """Parse a judge reply; the last valid match of ``kind`` wins; None when there is none."""
    _check_kind(kind)
    if not text:
        return None
    valid = [v for v in _candidates(text, kind) if v is not None]
    return valid[-1] if valid else None


def all_verdicts(text: str | None, kind: str) -> list[Verdict]:
    """Every valid verdict of ``kind`` in text order (for diagnostics such as restated verdicts)."""
    _check_kind(kind)
    return [v for v in _candidates(text or "", kind) if v is not None]


def parse_score(text: str | None) -> float | None:
    """Shortcut: the last valid 1-10 score in the text, or None."""
    verdict = parse_verdict(text, "score")
    return verdict.score if verdict else None


def swap_verdict(verdict: Verdict) -> Verdict:
    """Map a verdict judged with the answers swapped back to the original order (A <-> B)."""
    if verdict.kind == "score":
        return verdict
    swap = {"A": "B", "B": "A"}
    label = _SWAPPED_LABELS[verdict.label]
    winner = swap.get(verdict.winner or "", verdict.winner)
    return Verdict(kind=verdict.kind, label=label, winner=winner, strength=verdict.strength)


def game_weight(verdict: Verdict, strong_weight: float = DEFAULT_STRONG_WEIGHT) -> float:
    """Battle weight of one game: ``strong_weight`` for A>>B / B>>A, else 1."""
    return strong_weight if verdict.is_strong else 1.0


def combine_orders(
    game1: Verdict | None,
    game2_swapped: Verdict | None,
    *,
    strong_weight: float = DEFAULT_STRONG_WEIGHT,
) -> Outcome:
    """Combine game 1 (original order) and game 2 (answers swapped) into one outcome.

    Consistent winners give that winner with the mean of the two game weights (so two strong
    verdicts weigh ``strong_weight``, as arena-hard counts them); disagreeing games give a tie of
    weight 1; a missing game gives winner None, never a silent tie.
    """
    for verdict in (game1, game2_swapped):
        if verdict is not None and verdict.kind == "score":
            raise ValueError("combine_orders needs pairwise verdicts, not scores")
    game2 = swap_verdict(game2_swapped) if game2_swapped is not None else None
    if game1 is None or game2 is None:
        return Outcome(winner=None, weight=0.0, consistent=None, game1=game1, game2=game2)
    if game1.winner != game2.winner:
        return Outcome(winner="tie", weight=1.0, consistent=False, game1=game1, game2=game2)
    if game1.winner == "tie":
        return Outcome(winner="tie", weight=1.0, consistent=True, game1=game1, game2=game2)
    weight = (game_weight(game1, strong_weight) + game_weight(game2, strong_weight)) / 2
    return Outcome(winner=game1.winner, weight=weight, consistent=True, game1=game1, game2=game2)


# ---------------------------------------------------------------- prompt-injection defence

# brackets and angle brackets with their Unicode lookalikes (fullwidth, small and vertical forms: what NFKC folds
# to ASCII), so that a judge (or its tokenizer) that reads "［［B］］" as "[[B]]" is not steered either
_OPEN, _CLOSE, _LT, _GT = "[\uFE47\uFF3B", "]\uFE48\uFF3D", "<\uFE64\uFF1C", ">\uFE65\uFF1E"
# invisible format characters (zero-width spaces and joiners, soft hyphen, direction marks, word joiner, BOM): a
# reader, or a tokenizer's normaliser, may skip them, so "[\u200b[B]]" reads as "[[B]]"
_INVISIBLE = ("\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
              "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb\U00013430-\U0001343f"
              "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff")
# (Unicode's default-ignorable characters that render as nothing: format characters, fillers, variation
# selectors, and the tag characters U+E0000-E007F through which text can be smuggled past a reader)
_HIDDEN_RE = re.compile(f"[{_INVISIBLE}]")
_OPEN_RUN_RE = re.compile(rf"[{re.escape(_OPEN)}](?=[{_INVISIBLE}]*[{re.escape(_OPEN)}])")
_CLOSE_RUN_RE = re.compile(rf"[{re.escape(_CLOSE)}](?=[{_INVISIBLE}]*[{re.escape(_CLOSE)}])")
# a delimiter: three opening angle brackets, a word (any letters, any spaces such as no-break ones), three closing;
# invisible characters anywhere in it
_MARKER_RE = re.compile(rf"[{_LT}](?:[{_INVISIBLE}]*[{_LT}]){{2}}((?:\s|[{_INVISIBLE}])*[^\W\d_][\w\s{_INVISIBLE}-]{{0,60}}?"
                        rf"(?:\s|[{_INVISIBLE}])*)(?:[{_GT}][{_INVISIBLE}]*){{2}}[{_GT}]")


# Chat-template control tokens written as text. A server that renders a chat template and tokenises the result
# (vLLM, TGI, llama.cpp, SGLang) reads "<|im_end|>" inside a message as the real control token, so an answer could
# close its own turn and forge the judge's reply or another turn. The families: <|...|> (ChatML, Llama 3, Phi,
# GLM, GPT-OSS, Command-R, Granite), DeepSeek's fullwidth <｜...｜> and EXAONE's [|...|]; named angle tokens
# (Llama 2's <s>, Gemma's <start_of_turn>, Qwen 3's <think>, Seed's <seed:bos>, Baichuan's <reserved_106>,
# MiniCPM's <用户>, Nemotron's <extra_id_1>); bracketed ones (Mistral's [INST], BERT's [CLS], Pangu's [unused9]);
# MiniMax-M2's ]~b]; Kimi's thought tags ◁think▷ ◁/think▷. Matched on a folded view of the text, so that
# lookalikes a tokenizer's normaliser folds into the real token count too: fullwidth letters and brackets (NFKC)
# and zero-width and control characters (dropped, as BERT's normaliser does). Names match in their tokens' own
# case, so code such as `x[mask]` is left alone.
CONTROL_DEFUSE_VERSION = 1  # in the judgment keys of texts this changes: raise it when the patterns change
KIMI_TAGS_RE = re.compile("\u25c1/?think\u25b7")  # defused since 2026-12-05 (evening): their own judgment-key mark
_ANGLE_NAMES = ("s|bos|eos|pad|unk|mask|sep|cls|start_of_turn|end_of_turn|start_of_image|end_of_image|image_soft_token"
                "|sop|eop|think|eot|eom|reserved_\\d+|unused\\d+|extra_id_\\d+|用户|AI|seed:[a-z_]+|role"
                "|beginning_of_sentence|end_of_sentence|end_of_utterance|tool_call|tool_response|BOS_TOKEN|EOS_TOKEN")
_BRACKET_NAMES = ("INST|SYSTEM_PROMPT|AVAILABLE_TOOLS|TOOL_CALLS|TOOL_RESULTS|TOOL_CONTENT|THINK|IMG|IMG_BREAK|IMG_END"
                  "|ARGS|CALL_ID|PREFIX|SUFFIX|MIDDLE|control_\\d+|unused\\d+|@BOS@|gMASK|sMASK|MASK|CLS|SEP|PAD|UNK"
                  "|BOS|EOS")
_CONTROL_RE = re.compile(
    r"[<\[]\|[^\s<>\[\]|]{1,64}\|[>\]]"
    rf"|</?(?:{_ANGLE_NAMES})>"
    rf"|\[/?(?:{_BRACKET_NAMES})\]"
    r"|\]~!?b[\[\]]|\[e~\["
    f"|{KIMI_TAGS_RE.pattern}")


_CONTROL_AT = re.compile(f"(?=(?:{_CONTROL_RE.pattern}))")  # every start, overlapping ones too ("]~b]~b]")
_PLAIN_ASCII_RE = re.compile(r"[ -~\t\n\r]*")
_BRACKETS = "<[]\uff1c\uff3b\ufe64\ufe47\uff3d\ufe48\u25c1"  # and every character NFKC folds into one of them
_BRACKET_RE = re.compile(f"[{re.escape(_BRACKETS)}]")
_WINDOW = 72  # folded characters: more than the longest token the pattern matches


@lru_cache(maxsize=65536)
def _fold(ch: str) -> str:
    """One character as a normalising tokenizer may see it: NFKC, format and control characters other than
    whitespace dropped (as BERT's normaliser does), DeepSeek's fullwidth bar as a bar."""
    if " " <= ch <= "~" or ch in "\t\n\r":
        return ch
    if unicodedata.category(ch) in ("Cf", "Cc"):
        return ""
    return unicodedata.normalize("NFKC", ch).replace("\uff5c", "|")


def _control_starts(text: str) -> list[int]:
    """Indices in `text` of the first character of each control token, as a normalising tokenizer would see it.
    Every token starts with a bracket, so only the text after each bracket is folded."""
    if not any(c in text for c in _BRACKETS):
        return []
    if _PLAIN_ASCII_RE.fullmatch(text):  # the common case: printable ASCII folds to itself
        return [m.start() for m in _CONTROL_AT.finditer(text)]
    starts = []
    for m in _BRACKET_RE.finditer(text):
        window = text[m.start():m.start() + _WINDOW]
        if _PLAIN_ASCII_RE.fullmatch(window):  # folds to itself
            if _CONTROL_RE.match(window):
                starts.append(m.start())
            continue
        out, n, j = [], 0, m.start()
        while j < len(text) and n < _WINDOW:
            f = _fold(text[j])
            out.append(f)
            n, j = n + len(f), j + 1
        if _CONTROL_RE.match("".join(out)):
            starts.append(m.start())
    return starts


def defuse_control_tokens(text: str) -> str:
    """Break chat-template control tokens written in untrusted text so no tokenizer reads them as control tokens:
    a space after the opening bracket ("<|im_end|>" -> "< |im_end|>", "[INST]" -> "[ INST]", "</s>" -> "< /s>",
    "＜｜ｉｍ＿ｅｎｄ｜＞" -> "＜ ｜ｉｍ＿ｅｎｄ｜＞"). Idempotent. Other text is untouched, except a few names that are
    also ordinary markup: HTML's strikethrough <s>, BBCode's [img], `List<AI>`."""
    pieces, last = [], 0
    for i in _control_starts(text):
        pieces += [text[last:i + 1], " "]
        last = i + 1
    return "".join(pieces) + text[last:] if pieces else text


def control_tokens_in(text: str) -> list[str]:
    """The control tokens written in `text`, as they are written there (from each start to the token's end)."""
    out = []
    for i in _control_starts(text):
        j = i + 1
        while not has_control_tokens(text[i:j]) and j < len(text):
            j += 1
        out.append(text[i:j])
    return out


def has_control_tokens(text: str) -> bool:
    """Whether ``defuse_control_tokens`` would change `text`."""
    return bool(_control_starts(text))


def hides_markers(text: str) -> bool:
    """Whether `text` writes a verdict marker or a delimiter with invisible characters inside ("[\u200b[B]]"):
    such texts were shown to judges undefused before 2026-12-05 (their judgment keys say so since)."""
    if not _HIDDEN_RE.search(text):
        return False
    if any(_HIDDEN_RE.search(m.group(0)) for m in _MARKER_RE.finditer(text)):
        return True
    return any(_HIDDEN_RE.match(text, m.end()) for r in (_OPEN_RUN_RE, _CLOSE_RUN_RE) for m in r.finditer(text))


def neutralize_verdict_tokens(text: str) -> str:
    """Defuse verdict markers, prompt delimiters and chat control tokens inside untrusted text (candidate answers).

    "[[B]]" becomes "[ [B] ]" (which no parser pattern matches) and a forged delimiter such as
    "<<<ANSWER A END>>>" becomes "<< <ANSWER A END> >>"; lookalike brackets ("［［B］］") and delimiters
    written with other spaces, fullwidth letters or invisible characters inside are defused the same way, and so
    are control tokens
    (``defuse_control_tokens``). Idempotent; other text is untouched.
    """
    text = defuse_control_tokens(text)
    text = _OPEN_RUN_RE.sub(lambda m: m.group(0) + " ", text)
    text = _CLOSE_RUN_RE.sub(lambda m: m.group(0) + " ", text)
    return _MARKER_RE.sub(lambda m: f"<< <{m.group(1)}> >>", text)


# ---------------------------------------------------------------- JSON output (schema-constrained)

def verdict_schema(kind: str) -> dict[str, Any]:
    """JSON schema for a pairwise verdict object {"reasoning": str, "verdict": label}."""
    _check_kind(kind)
    if kind == "score":
        raise ValueError("use score_schema() for kind 'score'")
    labels = ["A", "B", "C"] if kind == "3way" else list(FIVE_WAY_LABELS)
    return {
        "type": "object",
        "properties": {
            "reasoning": {"type": "string"},
            "verdict": {"type": "string", "enum": labels},
        },
        "required": ["reasoning", "verdict"],
        "additionalProperties": False,
    }


def score_schema() -> dict[str, Any]:
    """JSON schema for a score object {"reasoning": str, "score": number in 1-10}."""
    return {
        "type": "object",
        "properties": {
            "reasoning": {"type": "string"},
            "score": {"type": "number", "minimum": SCORE_MIN, "maximum": SCORE_MAX},
        },
        "required": ["reasoning", "score"],
        "additionalProperties": False,
    }


_FENCED_RE = re.compile(r"\A```[ \t]*(?:json)?[ \t]*\n(.*?)\n?[ \t]*```\Z", re.S | re.I)


def _load_json_object(text: str) -> dict[str, Any] | None:
    """The reply as one JSON object: the whole reply, or one ```json block that is the whole reply.

    JSON found inside other text (for example a verdict object quoted from a candidate's answer) is
    never taken: only the judge's own structured output counts.
    """
    stripped = text.strip()
    fenced = _FENCED_RE.match(stripped)
    if fenced and "```" not in fenced.group(1):
        stripped = fenced.group(1)
    try:
        obj = json.loads(stripped)
    except (ValueError, RecursionError):  # RecursionError: brackets nested past the parser's depth
        return None
    return obj if isinstance(obj, dict) else None


_JSON_TOKEN_RE = re.compile(r'[{}"\\]')  # what decides where a JSON object ends: braces, quotes, escapes
_STRING_RE = re.compile(r'"(?:[^"\\\n]|\\.)*"')  # a double-quoted string on one line, escapes included
_MAX_RESCANS = 8  # unclosed braces a scan steps over (each a rescan of the rest): linear time, bounded


def json_objects(text: str) -> list[tuple[int, int, dict]]:
    """(start, end, object) of each outermost JSON object written in `text`, left to right (nested ones are part
    of theirs). One pass over the braces and quotes finds the balanced {...} spans (quotes count inside braces
    only), then each span is decoded once: linear in the text, whatever its shape."""
    found: list[tuple[int, int, dict]] = []
    at, rescans = 0, 0
    while True:
        depth, start, in_string, skip = 0, -1, False, -1
        for m in _JSON_TOKEN_RE.finditer(text, at):
            i, ch = m.start(), m.group()
            if i <= skip:
                continue
            if depth == 0:
                if ch == "{":
                    depth, start, in_string = 1, i, False
                continue
            if in_string:
                if ch == "\\":
                    skip = i + 1  # the escaped character
                elif ch == '"':
                    in_string = False
            elif ch == '"':
                in_string = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    try:
                        obj = json.loads(text[start:i + 1])
                    except (ValueError, RecursionError):
                        obj = None
                    if isinstance(obj, dict):
                        found.append((start, i + 1, obj))
        if depth == 0 or rescans >= _MAX_RESCANS:
            return found
        rescans += 1  # a brace that never closed (prose): step over it and scan the rest again
        at = start + 1


def outside_strings(text: str) -> str:
    """`text` with every double-quoted string on a line blanked out: a marker quoted inside a JSON verdict's
    reasons (or inside quotes in prose) is a quotation, not the judge's verdict."""
    return _STRING_RE.sub('""', text)


def _nested_objects(value: Any, depth: int = 0) -> Iterator[dict]:
    """Every object in a decoded JSON value, itself included (bounded depth)."""
    if depth > 64:
        return
    if isinstance(value, dict):
        yield value
        children = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return
    for child in children:
        yield from _nested_objects(child, depth + 1)


def _canonical(obj: dict) -> str:
    try:
        return json.dumps(obj, sort_keys=True, ensure_ascii=False)
    except (RecursionError, ValueError, TypeError):  # nested past the encoder's depth: matches nothing
        return f"<object {id(obj)}>"


def _object_verdict(obj: dict, kind: str) -> Verdict | None:
    """The verdict of a JSON object such as {"verdict": "A>B"} or {"score": 7}; None without a valid one."""
    if kind == "score":
        value = obj.get("score")
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            return None
        try:
            return _score(str(float(value)))
        except ValueError:
            return None
    value = obj.get("verdict")
    if not isinstance(value, str):
        return None
    token = value.strip()
    if not token.startswith("[["):
        token = f"[[{token}]]"
    return parse_verdict(token, kind)


def parse_json_verdict(text: str | None, kind: str) -> Verdict | None:
    """Parse a reply that is one JSON object such as {"verdict": "A>B"} or {"score": 7}; None otherwise."""
    _check_kind(kind)
    obj = _load_json_object(text or "")
    return None if obj is None else _object_verdict(obj, kind)


# ---------------------------------------------------------------- echoed instructions

_ANY_MARKER_RE = re.compile(r"\[\[([^\[\]\n]{1,20})\]\]")
_WORD_RE = re.compile(r"[\w']+")
_CONTEXT_WORDS = 3  # words on each side of an example marker that identify it
_MIN_CONTEXT_WORDS = 2  # a marker with less context around it (a bare "[[A]]" line) is never an example


@lru_cache(maxsize=256)
def _line_examples(line: str) -> tuple[re.Pattern[str], ...]:
    """Patterns for each marker on one prompt line, together with the words around it."""
    out = []
    for m in _ANY_MARKER_RE.finditer(line):
        before = _WORD_RE.findall(line[: m.start()])[-_CONTEXT_WORDS:]
        after = _WORD_RE.findall(line[m.end():])[:_CONTEXT_WORDS]
        if len(before) + len(after) < _MIN_CONTEXT_WORDS:
            continue
        inner = r"\s*".join(re.escape(c) for c in m.group(1).replace(" ", ""))
        marker = r"(?P<marker>\[\[\s*" + inner + r"\s*\]\])"
        parts = [r"\W+".join(map(re.escape, before))] if before else []
        parts.append(marker)
        if after:
            parts.append(r"\W+".join(map(re.escape, after)))
        out.append(re.compile(r"\W*".join(parts), re.I))
    return tuple(out)


def example_passages(prompt_text: str) -> list[re.Pattern[str]]:
    """Patterns for the verdict markers the prompt itself shows (the template's examples), with their words.

    Candidate text in a rendered prompt is neutralized, so every marker in the prompt comes from the
    trusted template. A marker in the reply counts as an echoed example when the same words surround it
    as in the prompt ("- [[C]] if the two answers are ...", "for example: Rating: [[7]]"), whatever the
    line breaks, bullets or punctuation; a verdict the judge writes in its own words is not affected.
    """
    return [p for line in prompt_text.splitlines() if "[[" in line for p in _line_examples(line)]


def strip_examples(text: str, prompt_text: str) -> str:
    """The reply with every echoed example marker of the prompt blanked out (the words around it stay)."""
    spans = [m.span("marker") for p in example_passages(prompt_text) for m in p.finditer(text)]
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + " " * (end - start) + text[end:]
    return text


def parse_reply(text: str | None, kind: str, *, prompt_text: str = "", json_output: bool = False) -> Verdict | None:
    """A judge's verdict: its own JSON object (with ``json_output``), else the last marker it wrote itself.

    Markers inside passages that repeat the prompt's examples (``prompt_text``) are not the judge's
    verdict: a reply whose only markers are the template's examples is unparsed (None).
    """
    if json_output:
        verdict = parse_json_verdict(text, kind)
        if verdict is not None:
            return verdict
        original = text or ""
        # not one JSON object (an intro line, a note after it): first the markers written outside every quoted
        # string (never one quoted in the JSON's reasons), then the judge's own object: the last one with a valid
        # verdict that the prompt does not hold (a candidate's JSON that the judge quotes is in the prompt)
        text = outside_strings(text or "")
        verdict = parse_verdict(strip_examples(text, prompt_text), kind)
        if verdict is not None:
            return verdict
        found = json_objects(original)
        if found:
            flat = "".join(prompt_text.split())
            held = {_canonical(o) for _, _, top in json_objects(prompt_text) for o in _nested_objects(top)}
            for start, end, obj in reversed(found[-64:]):  # the judge's own object comes last
                quoted = "".join(original[start:end].split()) in flat or _canonical(obj) in held
                verdict = None if quoted else _object_verdict(obj, kind)
                if verdict is not None:
                    return verdict
    verdict = parse_verdict(strip_examples(text or "", prompt_text), kind)
    if verdict is None and text:
        # every marker matched an example only with words from earlier lines ("... for example.\nRating: [[6]]"):
        # the reply's last line, read alone, is the judge's own verdict unless that line itself is the example
        last = next((line for line in reversed(text.splitlines()) if line.strip()), "")
        verdict = parse_verdict(strip_examples(last, prompt_text), kind)
    return verdict
