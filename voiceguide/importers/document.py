"""What every importer makes: a routine as plain data, the line of its file each value came from, and
what was inferred, so the user can check it."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..errors import RoutineError

Path = tuple[str | int, ...]
"""Where a value is in a routine document: ("exercises", 2, "sides")."""


class Format(str, Enum):
    """The kinds of file voiceguide reads, as `--from` names them."""

    ROUTINE = "routine"
    """voiceguide's own YAML routine."""
    PAGE = "page"
    """A routine page: text copied from a website or app, in the seed's layout."""
    W2A = "w2a"
    """A workout YAML file of w2a (github.com/mrclmr/w2a)."""
    JAWT = "jawt"
    """A JSON export of the Android app Just Another Workout Timer."""

    @property
    def described(self) -> str:
        return _DESCRIBED[self]


_DESCRIBED = {
    Format.ROUTINE: "a voiceguide routine (YAML with a title and exercises)",
    Format.PAGE: 'a routine page (each exercise\'s name on a line, then "Duration: M:SS", then its "- " lists)',
    Format.W2A: "a w2a workout (YAML with exercises, each with a name and a duration like \"30s\")",
    Format.JAWT: 'a Just Another Workout Timer export (JSON with "workouts", each with a title and sets)',
}


@dataclass(frozen=True)
class Note:
    """Something the importer decided or changed that the user may want to correct."""

    line: int
    """The line of the imported file it comes from."""
    text: str
    path: Path = ()
    """The field it concerns, where the YAML written shows it as a comment; () for none."""


@dataclass
class Document:
    """A routine as the plain data a routine file holds (what `yaml.safe_load` would give), converted
    from another format. It is written as YAML and read back by the routine reader, so an imported
    routine is checked exactly as a hand-written one is."""

    data: dict[str, Any]
    format: Format
    lines: dict[Path, int] = field(default_factory=dict)
    """The line of the source file each value came from; a value without one has its parent's."""
    notes: list[Note] = field(default_factory=list)

    def line_of(self, path: Path) -> int:
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path, 1)


class Problems:
    """Problems found while converting, each at its line, raised together as one RoutineError."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.found: list[tuple[int, str]] = []

    def add(self, line: int, message: str) -> None:
        self.found.append((line, f"{self.source}:{line}: {message}"))

    def raise_any(self) -> None:
        if self.found:
            raise RoutineError([message for _, message in sorted(self.found, key=lambda p: p[0])])


_TYPOGRAPHY = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
    "\u00a0": " ", "\u2007": " ", "\u2009": " ", "\u202f": " ",
    "\u200b": None, "\u200c": None, "\u200d": None, "\u2060": None, "\ufeff": None, "\u00ad": None,
})
"""Curly quotes as straight ones, odd spaces as spaces, invisible characters dropped: what a page
copied from a website holds that a voice would not say differently."""

LINE_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")


def plain(text: str) -> str:
    """Text with typographic quotes and spaces made plain (see _TYPOGRAPHY)."""
    return text.translate(_TYPOGRAPHY)
