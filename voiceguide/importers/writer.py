"""Write a routine document as YAML a person can read and edit: the fields in the order the README
shows them, long texts folded, each inferred value with a comment saying why; and, for each line
written, the line of the imported file it came from."""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import yaml

from .document import Document, Path

WIDTH = 88
"""Columns a long text is folded to."""
_TOP_ORDER = ("title", "duration", "about", "targets", "included", "who", "advice", "closing", "outro",
              "pronounce", "options", "exercises")
_EXERCISE_ORDER = ("name", "duration", "reps", "hold", "relax", "sides", "summary", "difficulty", "instructions",
                   "tips", "adjustments")
_CLOSING_ORDER = ("title", "text")
_STR = "tag:yaml.org,2002:str"


def write_yaml(doc: Document, header: Sequence[str] = ()) -> tuple[str, list[int]]:
    """The document as YAML text, and for each of its lines the line of the source it came from."""
    out = _Out(doc)
    for line in header:
        out.comment(line, 0, ())
    out.mapping(doc.data, 0, (), _TOP_ORDER)
    return "\n".join(out.lines) + "\n", out.sources


class _Out:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.lines: list[str] = []
        self.sources: list[int] = []
        self.comments: dict[Path, list[str]] = {}
        for note in doc.notes:
            if note.path:
                self.comments.setdefault(note.path, []).append(note.text)

    def add(self, text: str, path: Path) -> None:
        self.lines.append(text)
        self.sources.append(self.doc.line_of(path))

    def notes(self, path: Path, indent: int) -> None:
        for text in self.comments.get(path, []):
            self.comment(text, indent, path)

    def comment(self, text: str, indent: int, path: Path) -> None:
        """A comment folded to the width, its later lines indented under its first word."""
        pad = " " * indent + "# "
        line = ""
        for word in text.split():
            if line and len(pad) + len(line) + 1 + len(word) > WIDTH:
                self.add(pad + line, path)
                pad = " " * indent + "#   "
                line = word
            else:
                line = f"{line} {word}" if line else word
        self.add(pad + line, path)

    def mapping(self, data: dict[str, Any], indent: int, path: Path, order: Sequence[str],
                first_prefix: str = "") -> None:
        keys = [k for k in order if k in data] + [k for k in data if k not in order]
        for n, key in enumerate(keys):
            prefix = first_prefix if n == 0 and first_prefix else " " * indent
            self.notes(path + (key,), indent - len(first_prefix) if n == 0 and first_prefix else indent)
            self.field(key, data[key], prefix, indent, path + (key,))

    def field(self, key: str, value: Any, prefix: str, indent: int, path: Path) -> None:
        if isinstance(value, dict):
            self.add(f"{prefix}{key}:", path)
            order = _CLOSING_ORDER if key in ("closing", "outro") else ()
            self.mapping(value, indent + 2, path, order)
        elif isinstance(value, list) and key == "exercises":
            self.add(f"{prefix}{key}:", path)
            for n, item in enumerate(value):
                if n:
                    self.add("", path + (n,))
                self.notes(path + (n,), indent + 2)
                self.mapping(item, indent + 4, path + (n,), _EXERCISE_ORDER, first_prefix=" " * (indent + 2) + "- ")
        elif isinstance(value, list):
            self.add(f"{prefix}{key}:", path)
            for n, item in enumerate(value):
                self.add(f"{' ' * (indent + 2)}- {scalar(item)}", path + (n,))
        else:
            self.text(f"{prefix}{key}:", value, indent, path)

    def text(self, head: str, value: Any, indent: int, path: Path) -> None:
        shown = scalar(value)
        if isinstance(value, str) and ("\n" in value or len(head) + 1 + len(shown) > WIDTH):
            folded = _folded(value, indent + 2)
            if folded is not None and len(folded) > 1:
                self.add(f"{head} >-", path)
                for line in folded:
                    self.add(line, path)
                return
        self.add(f"{head} {shown}", path)


def scalar(value: Any) -> str:
    """A value as YAML writes it on one line: plain where YAML reads it back as the same text, else in
    double quotes (so "6:00", "yes" and "1" stay text, as the routine reader and the schema expect)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if _plain_ok(text):
        return text
    return json.dumps(text, ensure_ascii=False)


def _plain_ok(text: str) -> bool:
    if not text or text != text.strip() or "\n" in text or ":" in text:  # "0:30" reads as text, "1:00" not
        return False
    for written in (f"k: {text}\n", f"- {text}\n"):
        try:
            node = yaml.compose(written, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            return False
        value = node.value[0][1] if isinstance(node, yaml.MappingNode) else node.value[0] if node else None
        if not isinstance(value, yaml.ScalarNode) or value.style is not None or value.value != text \
                or value.tag != _STR:
            return False
    return True


def _folded(text: str, indent: int) -> list[str] | None:
    """The text as the lines of a folded block (>-), paragraphs apart by a blank line; None when folding
    would not give the same text back."""
    pad = " " * indent
    lines: list[str] = []
    for n, paragraph in enumerate(text.split("\n")):
        if n:
            lines.append("")
        line = ""
        for word in paragraph.split(" "):
            if line and len(pad) + len(line) + 1 + len(word) > WIDTH:
                lines.append(pad + line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(pad + line)
    try:
        back = yaml.safe_load("k: >-\n" + "\n".join(lines) + "\n")
    except yaml.YAMLError:
        return None
    return lines if isinstance(back, dict) and back.get("k") == text else None
