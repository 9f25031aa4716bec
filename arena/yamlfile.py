"""Reading YAML config files safely: UTF-8 only, no repeated keys, bounded nesting and alias expansion."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from arena.errors import ArenaError, ConfigError
from arena.records import read_text

MAX_DEPTH = 40          # a run config is 5 or 6 levels deep; deeper is a mistake or an attack on the parser
MAX_NODES = 100_000     # values after expanding every alias (a "billion laughs" file expands to billions)


class YamlTooBig(yaml.YAMLError):
    """The document nests too deeply, expands too far through aliases, or refers to itself."""


class BoundedLoader(yaml.SafeLoader):
    """Safe loader that refuses repeated keys, nesting beyond MAX_DEPTH and alias expansion beyond MAX_NODES."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        """Compose one node, counting how deep the document nests (PyYAML recurses here)."""
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise YamlTooBig(f"nested more than {MAX_DEPTH} levels deep (line {mark.line + 1})")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> Any:
        """Compose the document, then check its size with every alias expanded (before anything is built)."""
        node = super().compose_document()
        check_expansion(node)
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        """A mapping; a key given twice is an error (YAML would silently keep the last)."""
        seen: set = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` merges; the keys written next to it override on purpose
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' appears twice in one mapping", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def check_expansion(root: yaml.Node | None) -> None:
    """Raise YamlTooBig if the node graph, aliases expanded, has more than MAX_NODES values, nests deeper
    than MAX_DEPTH or contains itself. Linear in the distinct nodes (shared ones are counted once, by id)."""
    if root is None:
        return
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in size:
            continue
        kids = _children(node)
        if not children_done:
            if key in open_:
                raise YamlTooBig(f"an alias refers to a value that contains it (line {node.start_mark.line + 1})")
            open_.add(key)
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in size)
            continue
        open_.discard(key)
        size[key] = min(MAX_NODES + 1, 1 + sum(size[id(k)] for k in kids))
        depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
        if size[key] > MAX_NODES:
            raise YamlTooBig(f"expands to more than {MAX_NODES} values through its aliases (&anchor / *alias)")
        if depth[key] > MAX_DEPTH:
            raise YamlTooBig(f"nested more than {MAX_DEPTH} levels deep through its aliases")


def read_yaml_mapping(path: Path | str, example: str = "configs/cfg_pairwise.yaml",
                      error: type[ArenaError] = ConfigError) -> tuple[str, dict[str, Any]]:
    """(text, top-level mapping) of a YAML file; a missing, non-UTF-8, malformed or oversized file is one error."""
    path = Path(path)
    if not path.exists():
        raise error(f"config file not found: {path}", hint=f"pass -c with a path such as {example}")
    if not path.is_file():
        raise error(f"{path} is not a file", hint=f"pass -c with a YAML file such as {example}")
    text = read_text(path, error)
    try:
        data = yaml.load(text, Loader=BoundedLoader) or {}
    except YamlTooBig as exc:
        raise error(f"{path}: refused: the YAML {exc}", hint="write the config out plainly") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise error(f"{path}: the top level must be a mapping of keys, got {type(data).__name__}")
    return text, data


def yaml_line(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line number of the YAML node at `loc` (mapping keys and sequence indexes)."""
    try:
        node = yaml.compose(text, Loader=BoundedLoader)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(part):
                    line, node = k.start_mark.line + 1, v
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
