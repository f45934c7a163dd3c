"""Read another program's YAML or JSON file from its node tree: each value with the line it is on,
each problem at its line, and values taken as written (a number's digits, not YAML's idea of them)."""
from __future__ import annotations

import yaml

from .document import Problems

_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"


def line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


class Tree:
    """Problems go to `problems`; a reader that finds one returns None and the importer goes on, so
    that every problem of a file is reported at once."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems

    def problem(self, node: yaml.Node, where: str, message: str) -> None:
        self.problems.add(line(node), f"{where}: {message}" if where else message)

    def mapping(self, node: yaml.Node | None, where: str, what: str) -> dict[str, yaml.Node] | None:
        """The fields of a mapping by name, with YAML's merge keys (<<: *anchor) taken in, as w2a's own
        example uses them."""
        if not isinstance(node, yaml.MappingNode):
            if node is not None:
                self.problem(node, where, f"expected {what}, got {describe(node)}")
            return None
        fields: dict[str, yaml.Node] = {}
        merged: dict[str, yaml.Node] = {}
        for key, value in node.value:
            if key.tag == _MERGE:
                for source in value.value if isinstance(value, yaml.SequenceNode) else [value]:
                    for name, inner in (self.mapping(source, where, "a mapping to merge (<<)") or {}).items():
                        merged.setdefault(name, inner)
            elif isinstance(key, yaml.ScalarNode):
                if key.value in fields:
                    self.problem(key, f"{where}.{key.value}" if where else key.value, "given twice; keep one")
                fields[key.value] = value
        return {**merged, **fields}

    def items(self, node: yaml.Node | None, where: str, what: str) -> list[yaml.Node] | None:
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            if node is not None:
                self.problem(node, where, f"expected a list of {what}, got {describe(node)}")
            return None
        return list(node.value)

    def text(self, node: yaml.Node | None, where: str) -> str | None:
        """A text as written; None (with a problem) for a list, a mapping or nothing."""
        if node is None:
            return None
        if not isinstance(node, yaml.ScalarNode) or node.tag == _NULL or not node.value.strip():
            self.problem(node, where, f"expected text, got {describe(node)}")
            return None
        return node.value.strip()

    def whole(self, node: yaml.Node | None, where: str, what: str, low: int, high: int) -> int | None:
        if node is None:
            return None
        raw = node.value.strip() if isinstance(node, yaml.ScalarNode) else ""
        if not raw.isdigit() or not low <= int(raw) <= high:
            shown = f'"{raw}"' if isinstance(node, yaml.ScalarNode) else describe(node)
            self.problem(node, where, f"expected {what} from {low} to {high}, got {shown}")
            return None
        return int(raw)

    def flag(self, node: yaml.Node | None, where: str) -> bool | None:
        if node is None:
            return None
        raw = node.value.strip().lower() if isinstance(node, yaml.ScalarNode) else ""
        if raw in ("true", "yes", "on"):
            return True
        if raw in ("false", "no", "off"):
            return False
        self.problem(node, where, f"expected true or false, got {describe(node)}")
        return None


def describe(node: yaml.Node | None) -> str:
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL):
        return "nothing"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list" if node.value else "an empty list"
    return f'"{node.value}"' if len(node.value) <= 40 else f'"{node.value[:37]}..."'
