"""Markdown source for untrusted text: HTML, LaTeX, images and Streamlit directives neutralised outside code.

Code is found with a real CommonMark parser (markdown-it-py): fenced and indented code blocks by the line
ranges of their tokens (also inside lists and blockquotes), inline code by scanning the lines of each
inline token for backtick spans and checking them against the parser's code_inline children. Code is left
verbatim (markdown shows it as text anyway); everything else is escaped. The escaped result is parsed
again and, should anything kept verbatim not be code there (exotic input), everything is escaped.
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

_MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])
_TICKS = re.compile(r"`+")
_DIRECTIVE = re.compile(r":(?=[A-Za-z_/-]+(?:\[|:))")
_DOLLAR = re.compile(r"(\\*)\$")
_PREFIX = re.compile(r"^[ \t>]*")

Span = tuple[int, int, int]  # start, end (whole span with backticks), backtick count


def escape_prose(text: str) -> str:
    """Escape HTML openers, `$` (with any backslashes before it), images and `:directives` in non-code text."""
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    text = _DOLLAR.sub(lambda m: m.group(1) * 2 + "\\$", text)
    text = text.replace("![", "!\\[")
    return _DIRECTIVE.sub("&#58;", text)


def code_spans(text: str) -> list[Span]:
    """CommonMark backtick code spans of one inline region (an escaped opening backtick does not count)."""
    spans: list[Span] = []
    pos = 0
    while (opener := _TICKS.search(text, pos)) is not None:
        start, slashes = opener.start(), 0
        while start - slashes - 1 >= pos and text[start - slashes - 1] == "\\":
            slashes += 1
        if slashes % 2:
            start += 1
        width = opener.end() - start
        closer = next((m for m in _TICKS.finditer(text, opener.end()) if len(m.group()) == width), None)
        if width == 0 or closer is None:
            pos = opener.end()
            continue
        spans.append((start, closer.end(), width))
        pos = closer.end()
    return spans


def _normal(content: str, continuation_prefix: bool) -> str:
    """Code content compared whitespace-insensitively (container prefixes of later lines dropped)."""
    lines = content.split("\n")
    if continuation_prefix:
        lines = lines[:1] + [_PREFIX.sub("", line) for line in lines[1:]]
    return " ".join(" ".join(lines).split())


def _layout(source: str) -> tuple[set[int], dict[tuple[int, int], list[str]]]:
    """Lines inside code blocks, and the parser's inline code contents per inline line range."""
    block_lines: set[int] = set()
    inline: dict[tuple[int, int], list[str]] = {}
    for token in _MD.parse(source):
        if token.type in ("fence", "code_block") and token.map:
            block_lines.update(range(*token.map))
        elif token.type == "inline" and token.map:
            found = inline.setdefault((token.map[0], token.map[1]), [])
            found += [c.content for c in token.children or [] if c.type == "code_inline"]
    return block_lines, inline


def _escape_region(text: str, expected: list[str], kept: list[str]) -> str:
    """Escape one inline region, keeping its code spans when they match the parser's."""
    spans = code_spans(text)
    contents = [_normal(text[s + w : e - w], True) for s, e, w in spans]
    if contents != [_normal(c, False) for c in expected]:
        return escape_prose(text)
    out, pos = [], 0
    for (start, end, _), content in zip(spans, contents):
        out += [escape_prose(text[pos:start]), text[start:end]]
        kept.append(content)
        pos = end
    out.append(escape_prose(text[pos:]))
    return "".join(out)


def _escape_with(lines: list[str]) -> tuple[str, set[int], list[str]]:
    """Escaped text plus the code block lines and inline code contents left verbatim."""
    block_lines, inline = _layout("\n".join(lines))
    starts = {start: (end, codes) for (start, end), codes in inline.items() if start not in block_lines}
    out, kept, index = [], [], 0
    while index < len(lines):
        if index in block_lines:
            out.append(lines[index])
            index += 1
        elif index in starts and starts[index][0] > index:
            end, codes = starts[index]
            out.append(_escape_region("\n".join(lines[index:end]), codes, kept))
            index = end
        else:
            out.append(escape_prose(lines[index]))
            index += 1
    return "\n".join(out), block_lines, kept


def escape_markdown_html(text: object) -> str:
    """Markdown source with raw HTML, `$`, images and directives neutralised outside code."""
    lines = str(text).split("\n")
    escaped, block_lines, kept = _escape_with(lines)
    check_blocks, check_inline = _layout(escaped)
    found = iter([_normal(c, False) for _, codes in sorted(check_inline.items()) for c in codes])
    if not block_lines <= check_blocks or not all(code in found for code in kept):
        return "\n".join(escape_prose(line) for line in lines)
    return escaped
