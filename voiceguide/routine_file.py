"""Reading a routine file's bytes and YAML: refusing what is not a file, too big, not UTF-8, or would keep
the loader busy for long, and saying YAML's own mistakes in plain words at the line the user has to change."""
from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path

import yaml

from .errors import RoutineError

MAX_ROUTINE_BYTES = 1024 * 1024


def read_routine_file(path: Path) -> bytes:
    """A routine file's bytes (YAML, or a page or export to import), refused with a message that says
    what to do when it is missing, not a regular file, unreadable or too big."""
    try:
        return _read_limited(path)
    except FileNotFoundError:
        raise RoutineError([(f"{path}: no such file; give a routine file path or the name of a "
                            "shipped routine (see `voiceguide routines`)")]) from None
    except OSError as exc:
        raise RoutineError([f"{path}: cannot read: {exc.strerror}"]) from None


def decode_text(data: bytes, path: str | Path) -> str:
    """A routine file's text: UTF-8 (a byte order mark is dropped), or an error at the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = exc.object[: exc.start]
        line, column = before.count(b"\n") + 1, exc.start - (before.rfind(b"\n") + 1) + 1
        raise RoutineError([(f"{path}:{line}:{column}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                            "save the file as UTF-8")]) from None


def _read_limited(path: Path) -> bytes:
    """The file's bytes, refusing what is not a regular file before opening it (a FIFO would block, a
    device never ends) and reading at most one byte past the limit (a /proc file's size says 0)."""
    mode = os.stat(path).st_mode
    if stat.S_ISDIR(mode):
        raise RoutineError([f"{path}: is a folder; give a routine .yaml file"])
    if not stat.S_ISREG(mode):
        raise RoutineError([f"{path}: not a regular file but {_file_type(mode)}; give a routine .yaml file"])
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        if size > MAX_ROUTINE_BYTES:
            raise RoutineError([(f"{path}:1:1: file is {size} bytes; a routine file may be at most "
                                f"{MAX_ROUTINE_BYTES} bytes")])
        data = file.read(MAX_ROUTINE_BYTES + 1)
    if len(data) > MAX_ROUTINE_BYTES:
        raise RoutineError([(f"{path}:1:1: file is more than {MAX_ROUTINE_BYTES} bytes; a routine file may be "
                            f"at most {MAX_ROUTINE_BYTES} bytes")])
    return data


def _file_type(mode: int) -> str:
    for test, name in ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a file with text in it"


def compose_yaml(text: str, source: str) -> yaml.Node | None:
    """The YAML node tree of a file (None when it holds nothing), refusing what would take the loader a
    long time and saying what is wrong in plain words at the line to change; for importers of other
    YAML (and JSON) formats, so every YAML file is read the same way."""
    return compose(text, Places(source, None))


def compose(text: str, where: Places) -> yaml.Node | None:
    try:
        _refuse_bombs(text, where)
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        line, column = before.count("\n"), exc.position - (before.rfind("\n") + 1)
        raise RoutineError([(f"{where.at(line, column)}: the file holds the control character "
                            f"U+{exc.character:04X}, which a routine may not; remove it")]) from None
    except yaml.MarkedYAMLError as exc:
        line, column, message = _yaml_mistake(exc, text)
        raise RoutineError([f"{where.at(line, column)}: not valid YAML: {message}"]) from None
    except yaml.YAMLError as exc:
        raise RoutineError([f"{where.source}: not valid YAML: {exc}"]) from None


class Places:
    """Turns a YAML mark into "file:line:column" for messages: the routine file's own place, or, for
    YAML written from another file, the line of that file the value came from."""

    def __init__(self, source: str, lines: Sequence[int] | None) -> None:
        self.source = source
        self.lines = lines

    def line(self, line0: int) -> int:
        """The 1-based line of the user's file for a 0-based line of the YAML text."""
        if self.lines is None:
            return line0 + 1
        return self.lines[min(line0, len(self.lines) - 1)] if self.lines else 1

    def at(self, line0: int, column0: int) -> str:
        if self.lines is None:
            return f"{self.source}:{line0 + 1}:{column0 + 1}"
        return f"{self.source}:{self.line(line0)}"  # a column of the YAML written would mislead

    def key(self, line0: int, column0: int) -> tuple[int, int]:
        """Where a problem sorts: by the user's line, then column."""
        return (self.line(line0), column0)


MAX_ALIASES = 50
MAX_DEPTH = 20
"""Lists and mappings inside each other; a routine needs 4 (exercises, an exercise, its tips)."""


def _refuse_bombs(text: str, where: Places) -> None:
    """Refuse, while reading the events and before anything is built from them, files that would
    take the loader a long time or all its memory: more aliases (*name) than a routine needs (a
    "billion laughs" file expands exponentially), or lists nested thousands deep."""
    aliases = depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        mark = event.start_mark
        assert mark is not None  # the parser marks every event it makes
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise RoutineError([(f"{where.at(mark.line, mark.column)}: routine: more than "
                                    f"{MAX_ALIASES} aliases (*name); write the text out instead")])
        elif isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise RoutineError([(f"{where.at(mark.line, mark.column)}: routine: lists or mappings "
                                    f"nested more than {MAX_DEPTH} deep; a routine needs 4 (exercises, an "
                                    "exercise, its tips)")])
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


_LINE_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")
"""Where YAML's reader counts a new line, so that a mark's line indexes the right text."""


def _yaml_mistake(exc: yaml.MarkedYAMLError, text: str) -> tuple[int, int, str]:
    """(0-based line, column, what is wrong in plain words) for a file YAML cannot read: the line the
    user has to change (often above the place YAML noticed), and how the usual mistakes are fixed."""
    lines = _LINE_BREAK.split(text)
    problem, context = exc.problem or "", exc.context or ""
    mark = exc.problem_mark or exc.context_mark
    at = (mark.line, mark.column) if mark else (0, 0)
    said = f"{problem or context}"
    if "\\t" in problem or "'\t'" in problem:
        return (*at, f"{said}; indent with spaces, not tabs")
    if "scanning a quoted scalar" in context and "end of stream" in problem and exc.context_mark:
        line, column = exc.context_mark.line, exc.context_mark.column
        quote = lines[line][column] if column < len(lines[line]) else '"'
        return (line, column, (f"the quote ({quote}) that opens this text is never closed; end the text with "
                              f"{quote} on the same line, or write it without quotes"))
    if "could not find expected ':'" in problem and "simple key" in context and exc.context_mark:
        line, column = exc.context_mark.line, exc.context_mark.column
        return (line, column, _not_a_field(lines, line))
    if "mapping values are not allowed" in problem and exc.problem_mark:
        return _colon_too_many(lines, exc.problem_mark.line, exc.problem_mark.column)
    if "expected <block end>" in problem and exc.problem_mark:
        return _out_of_line(lines, exc.problem_mark.line, exc.problem_mark.column, problem)
    if "end of stream" in problem or "expected ',' or ']'" in problem or "expected ',' or '}'" in problem:
        return (*at, f"{said}; a quote or bracket opened above is not closed")
    return (*at, said)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _content(line: str) -> tuple[int, str]:
    """(column, text) of what a line says, after its indentation and any "- " that makes it a list item."""
    column = _indent(line)
    rest = line[column:]
    while rest.startswith("- ") or rest == "-":
        column += 2
        rest = line[column:].lstrip(" ")
        column = len(line) - len(rest)
    return column, rest.split(" #")[0].rstrip()


def _meaningful(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _above(lines: list[str], line: int) -> int | None:
    """The nearest line above `line` that holds something (not blank, not a comment)."""
    for n in range(line - 1, -1, -1):
        if _meaningful(lines[n]):
            return n
    return None


def _item_sibling(lines: list[str], line: int) -> int | None:
    """A list item ("- ...") above `line` at the same indentation, before anything less indented."""
    indent = _indent(lines[line])
    for n in range(line - 1, -1, -1):
        if not _meaningful(lines[n]):
            continue
        if _indent(lines[n]) < indent:
            return None
        if _indent(lines[n]) == indent and lines[n].lstrip(" ").startswith("-"):
            return n
    return None


def _not_a_field(lines: list[str], line: int) -> str:
    """A line that is neither "key: value" nor a list item: a missing colon, or a missing "- "."""
    said = _content(lines[line])[1]
    if _item_sibling(lines, line) is not None and not lines[line].lstrip(" ").startswith("-"):
        return (f'"{briefly(said)}" is in a list, but does not start with "- " as the items above it do; '
                f'write "- {briefly(said)}"')
    return _missing_colon(said)


def _missing_colon(said: str) -> str:
    key, _, rest = said.partition(" ")
    if rest and re.fullmatch(r"[A-Za-z_]+", key):
        return f'"{briefly(said)}" is missing the ":" after "{key}"; write "{key}: {briefly(rest)}"'
    return f'"{briefly(said)}" has no ":"; a field is written "name: value" (and a list item "- value")'


def _colon_too_many(lines: list[str], line: int, column: int) -> tuple[int, int, str]:
    """YAML found a ':' where a text was going on: the text itself holds ': ', or the line above has
    no ':' (so this line continued it), or this line is indented more than the field above it."""
    start = _content(lines[line])[0]
    if ":" in lines[line][start:column]:
        return (line, column, ("this text holds \": \", which YAML reads as a new field; put the whole text in "
                              "quotes"))
    above = _above(lines, line)
    if above is None:
        return (line, column, "mapping values are not allowed here")
    above_column, above_said = _content(lines[above])
    if ":" not in above_said:
        keyed = re.fullmatch(r"[A-Za-z_]+ .+", above_said)  # "name A": a field that lost its colon
        if lines[above].lstrip(" ").startswith("-") and _indent(lines[line]) >= above_column and not keyed:
            return (line, _indent(lines[line]), (f"this line is indented more than the list item above it (line "
                                                f"{above + 1}); line it up with the fields it belongs with"))
        return (above, above_column, _missing_colon(above_said))
    key = above_said.split(":")[0]
    return (line, _indent(lines[line]),
            (f'this line is indented {_indent(lines[line])} spaces, more than "{key}" above it ({above_column} '
            "spaces); the fields of one mapping start in the same column"))


def _out_of_line(lines: list[str], line: int, column: int, problem: str) -> tuple[int, int, str]:
    """YAML expected the mapping or list above to end: this line is indented to match nothing above it,
    or lines up with list items without being one, or a quoted text ended before the line did."""
    text = lines[line]
    if "'<scalar>'" in problem and any(q in text[:column] for q in "'\""):
        quote = "'" if "'" in text[:column] else '"'
        other = '"' if quote == "'" else "'"
        return (line, column, (f"the text in quotes ends early, at a {quote} inside it; put text that holds {quote} "
                              f"in {other} quotes, or write it without quotes"))
    indent = _indent(text)
    sibling = _item_sibling(lines, line)
    if sibling is not None and not text.lstrip(" ").startswith("-"):
        fields = _content(lines[sibling])[0]
        return (line, indent, (f'this line lines up with the list item on line {sibling + 1} but does not start '
                              f'with "- "; indent it {fields} spaces to belong to that item, or start a new item '
                              'with "- "'))
    above = _above(lines, line)
    if above is None:
        return (line, column, problem)
    if text.lstrip(" ").startswith("-") and lines[above].lstrip(" ").startswith("-"):
        return (line, indent, (f"this list item is indented {indent} spaces, the one above it (line {above + 1}) "
                              f"{_indent(lines[above])}; line them up"))
    above_column, above_said = _content(lines[above])
    return (line, indent, (f'this line is indented {indent} spaces, which lines up with nothing above it '
                          f'("{briefly(above_said.split(":")[0], 30)}" on line {above + 1} is indented {above_column}); '
                          "the fields of one mapping start in the same column"))


def briefly(text: str, limit: int = 60) -> str:
    """The text, cut with "..." where it is longer than `limit`, for quoting in a message."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
