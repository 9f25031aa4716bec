"""Judge prompt templates: load the text files in judges/prompts/, split system/user, render safely.

File format: an optional "### system" section and a "### user" section, each header on a line of its
own. Placeholders are Python str.format fields ``{name}`` (literal braces would be written ``{{``/``}}``).
``{verdict_instructions}`` is reserved: it is filled from the trusted fragment verdict_<kind>.txt,
never from caller values. ``{references}`` takes a list of per-turn reference answers (turn 1 first) and
renders each under its own turn label. Every caller value is passed through ``neutralize_verdict_tokens`` so a
candidate answer cannot forge a verdict marker or a prompt delimiter.
"""
from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from arena.errors import ArenaError
from judges.verdicts import KINDS, neutralize_verdict_tokens

TEMPLATE_NAMES: tuple[str, ...] = (
    "single", "single_ref", "single_multiturn", "single_multiturn_ref",
    "pair", "pair_ref", "pair_multiturn", "pair_multiturn_ref", "pair_self", "pair_multiturn_self", "followup",
)
REFERENCES_FIELD = "references"
VERDICT_FIELD = "verdict_instructions"
_NAME_RE = re.compile(r"^[a-z0-9_]+$")
_HEADER_RE = re.compile(r"^### (system|user)[ \t]*$", re.MULTILINE)
_PAIR_KINDS = ("3way", "5way")

Turns = Sequence[Sequence[str]]
Value = str | Turns


class TemplateError(ArenaError):
    """A judge template is missing, malformed, or rendered with wrong values."""


@dataclass(frozen=True)
class Template:
    """A parsed template: system and user text with their placeholder names."""

    name: str
    system: str
    user: str
    placeholders: frozenset[str]

    @property
    def needs_verdict_kind(self) -> bool:
        """True when the template embeds the verdict-format fragment."""
        return VERDICT_FIELD in self.placeholders

    @property
    def value_names(self) -> frozenset[str]:
        """Placeholder names the caller must supply (all but the reserved verdict field)."""
        return self.placeholders - {VERDICT_FIELD}


@dataclass(frozen=True)
class RenderedPrompt:
    """A rendered prompt; ``system`` is "" when the template has no system part."""

    system: str
    user: str

    def messages(self) -> list[dict[str, str]]:
        """Chat messages in OpenAI format (the system message only when there is one)."""
        msgs = [{"role": "system", "content": self.system}] if self.system else []
        return msgs + [{"role": "user", "content": self.user}]


def _read_bytes(name: str) -> bytes:
    """Bytes of judges/prompts/<name>.txt with line endings normalized to LF."""
    if not _NAME_RE.match(name):
        raise TemplateError(f"invalid template name {name!r}", hint="use lowercase letters, digits, _")
    res = resources.files("judges").joinpath("prompts", f"{name}.txt")
    try:
        data = res.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise TemplateError(
            f"judge template {name!r} not found in judges/prompts/",
            hint=f"known templates: {', '.join(TEMPLATE_NAMES)}",
        ) from None
    return data.replace(b"\r\n", b"\n")


def _fields(name: str, text: str) -> set[str]:
    """Placeholder names in ``text``; only plain identifiers are allowed."""
    found: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise TemplateError(f"template {name!r} has malformed braces: {exc}") from None
    for _, field, spec, conv in parsed:
        if field is None:
            continue
        if not field.isidentifier() or spec or conv:
            raise TemplateError(f"template {name!r} has an unsupported placeholder {{{field}}}",
                                hint="use plain {name} fields; write literal braces as {{ and }}")
        found.add(field)
    return found


@cache
def load_template(name: str) -> Template:
    """Load and parse judges/prompts/<name>.txt into a Template."""
    text = _read_bytes(name).decode("utf-8")
    parts = _HEADER_RE.split(text)
    if len(parts) < 3 or parts[0].strip():
        raise TemplateError(f"template {name!r} must start with a '### system' or '### user' line")
    sections: dict[str, str] = {}
    for role, body in zip(parts[1::2], parts[2::2]):
        if role in sections:
            raise TemplateError(f"template {name!r} has two '### {role}' sections")
        sections[role] = body.strip("\n")
    if list(sections) not in (["system", "user"], ["user"]):
        raise TemplateError(f"template {name!r} needs '### system' (optional) then '### user'")
    system, user = sections.get("system", ""), sections["user"]
    fields = _fields(name, system) | _fields(name, user)
    return Template(name=name, system=system, user=user, placeholders=frozenset(fields))


@cache
def verdict_instructions(kind: str) -> str:
    """The trusted verdict-format instructions for 3way, 5way or score verdicts."""
    if kind not in KINDS:
        raise TemplateError(f"unknown verdict kind {kind!r}", hint=f"use one of {', '.join(KINDS)}")
    return _read_bytes(f"verdict_{kind}").decode("utf-8").strip("\n")


@cache
def template_hash(name: str, verdict_kind: str | None = None) -> str:
    """First 16 hex chars of sha256 over the template file (plus its verdict fragment, if it uses one); read
    once per process, as the templates themselves are (`load_template`)."""
    digest = hashlib.sha256(_read_bytes(name))
    if verdict_kind is not None and load_template(name).needs_verdict_kind:
        verdict_instructions(verdict_kind)  # validates the kind
        digest.update(b"\n### verdict fragment\n" + _read_bytes(f"verdict_{verdict_kind}"))
    return digest.hexdigest()[:16]


def format_dialogue(turns: Turns) -> str:
    """Format earlier (user, assistant) turns with delimiters; every text is neutralized."""
    if not turns:
        return "(no earlier turns)"
    blocks = []
    for i, turn in enumerate(turns, start=1):
        if isinstance(turn, str) or len(turn) != 2 or not all(isinstance(t, str) for t in turn):
            raise TemplateError(f"dialogue turn {i} must be a (user, assistant) pair of strings")
        user, assistant = turn
        blocks.append(f"<<<TURN {i} USER>>>\n{neutralize_verdict_tokens(user)}\n"
                      f"<<<TURN {i} ASSISTANT>>>\n{neutralize_verdict_tokens(assistant)}")
    return "\n\n".join(blocks)


def format_references(references: Sequence[str]) -> str:
    """Format per-turn reference answers (turn 1 first) under their turn labels; texts are neutralized."""
    if isinstance(references, str) or not references or not all(isinstance(r, str) for r in references):
        raise TemplateError("'references' must be a non-empty list of reference strings, one per turn")
    blocks = [f"<<<REFERENCE FOR TURN {i}>>>\n{neutralize_verdict_tokens(r) if r.strip() else '(none)'}"
              for i, r in enumerate(references, start=1)]
    return "\n\n".join(blocks)


def _prepare(name: str, key: str, value: Value) -> str:
    """Neutralize a string value, or format a dialogue or per-turn references value."""
    if key == REFERENCES_FIELD:
        return format_references(value)  # type: ignore[arg-type]  # a list of strings
    if isinstance(value, str):
        return neutralize_verdict_tokens(value)
    if isinstance(value, (list, tuple)):
        return format_dialogue(value)
    raise TemplateError(f"value {key!r} for template {name!r} must be a string or a list of turns, "
                        f"not {type(value).__name__}")


def _check_kind(tpl: Template, verdict_kind: str | None) -> None:
    """Check that the verdict kind fits the template."""
    if tpl.needs_verdict_kind and verdict_kind is None:
        raise TemplateError(f"template {tpl.name!r} needs verdict_kind ({', '.join(KINDS)})")
    pairwise = tpl.name.startswith("pair")
    if pairwise and verdict_kind not in _PAIR_KINDS:
        raise TemplateError(f"template {tpl.name!r} is pairwise: verdict_kind must be 3way or 5way")
    if tpl.name.startswith("single") and verdict_kind not in (None, "score"):
        raise TemplateError(f"template {tpl.name!r} grades one answer: verdict_kind must be 'score'")
    if verdict_kind is not None and verdict_kind not in KINDS:
        raise TemplateError(f"unknown verdict kind {verdict_kind!r}", hint=f"use one of {', '.join(KINDS)}")


def render(name: str, values: Mapping[str, Value], *, verdict_kind: str | None = None) -> RenderedPrompt:
    """Render a template; every value is neutralized, missing or unknown values raise TemplateError."""
    tpl = load_template(name)
    _check_kind(tpl, verdict_kind)
    if VERDICT_FIELD in values:
        raise TemplateError(f"{VERDICT_FIELD!r} is filled from verdict_kind, not from values")
    missing = sorted(tpl.value_names - set(values))
    unknown = sorted(set(values) - tpl.value_names)
    if missing or unknown:
        problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unknown {', '.join(unknown)}"] if unknown else [])
        raise TemplateError(
            f"template {name!r}: {'; '.join(problems)}",
            hint=f"it takes exactly: {', '.join(sorted(tpl.value_names)) or '(no values)'}",
        )
    filled = {key: _prepare(name, key, value) for key, value in values.items()}
    if tpl.needs_verdict_kind:
        filled[VERDICT_FIELD] = verdict_instructions(verdict_kind or "")
    return RenderedPrompt(system=tpl.system.format_map(filled), user=tpl.user.format_map(filled))
