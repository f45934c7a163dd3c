"""Routines people already have, read from the file they have: voiceguide's own YAML, a routine page
copied from a website or app, a w2a workout or a Just Another Workout Timer export.

Each importer turns text into a routine document (the plain data a routine file holds, with the line
of the source each value came from and what it inferred); the document is written as commented YAML
and read back by the routine reader, so an imported routine is checked exactly as a hand-written one,
and its problems are reported at the line of the imported file.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import RoutineError
from ..routine import Routine, parse_routine
from ..routine_file import decode_text, read_routine_file
from .detect import detect
from .document import Document, Format, Note
from .jawt import parse_jawt
from .page import parse_page
from .w2a import parse_w2a
from .writer import write_yaml

__all__ = ["Format", "Loaded", "Note", "convert", "detect", "load", "load_routines"]


@dataclass(frozen=True)
class Loaded:
    """One routine read from a file, and what it took to read it."""

    routine: Routine
    format: Format
    yaml: str
    """The routine as YAML: the file's own text for a routine file; the commented YAML written from
    it for another format (what `voiceguide import` saves)."""
    notes: tuple[Note, ...] = ()
    """What was inferred or changed on the way, each at its line, for the user to check."""


def load(path: Path, fmt: Format | None = None) -> list[Loaded]:
    """The routines in a file (several for an app export of several workouts), of the format its text
    shows unless `fmt` says; raises RoutineError with every problem at its line."""
    data = read_routine_file(path)
    notes: list[Note] = []
    try:
        text = decode_text(data, path)
    except RoutineError:
        text = data.decode("latin-1")  # as Just Another Workout Timer writes accented letters (see jawt.py)
        if (fmt or detect(text)) is not Format.JAWT:
            raise
        notes.append(Note(1, "not UTF-8: read as Latin-1, as Just Another Workout Timer writes accented letters; "
                             "check the names"))
    return convert(text, str(path), fmt, stem=path.stem, yaml_suffix=path.suffix.lower() in (".yaml", ".yml"),
                   notes=notes)


def load_routines(path: Path, fmt: Format | None = None) -> list[Routine]:
    return [loaded.routine for loaded in load(path, fmt)]


def convert(text: str, source: str, fmt: Format | None = None, stem: str = "", yaml_suffix: bool = True,
            notes: list[Note] | None = None) -> list[Loaded]:
    """The routines in `text` (from the file `source`, named `stem`): pure, no file is read."""
    kind = fmt or detect(text) or (Format.ROUTINE if yaml_suffix else None)
    if kind is None:
        known = "; ".join(f.described for f in Format)
        raise RoutineError([(f"{source}:1: not a routine voiceguide can read; it reads {known}. If it is one of "
                            "these, say which with --from (routine, page, w2a or jawt)")])
    if kind is Format.ROUTINE:
        return [Loaded(parse_routine(text, source), kind, text)]
    if kind is Format.PAGE:
        docs = [parse_page(text, source, stem)]
    elif kind is Format.W2A:
        docs = [parse_w2a(text, source, stem)]
    else:
        docs = parse_jawt(text, source)
    for doc in docs:
        doc.notes[:0] = notes or []
    return [_read_back(doc, source) for doc in docs]


def _read_back(doc: Document, source: str) -> Loaded:
    """The document written as YAML and read as any routine file is, its problems at the source's lines."""
    name = Path(source).name
    header = [f"Imported from {name} ({doc.format.described.split(' (')[0]}) by `voiceguide import`.",
              "Comments mark what was inferred or left out: check those lines."]
    header += [f"- {name}:{note.line}: {note.text}" for note in sorted(doc.notes, key=lambda n: n.line)
               if not note.path]
    text, lines = write_yaml(doc, header)
    routine = parse_routine(text, source, lines)
    return Loaded(routine, doc.format, text, tuple(sorted(doc.notes, key=lambda n: n.line)))
