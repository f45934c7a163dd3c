"""Load a routine file into typed, validated values; every problem names file:line:column."""
from __future__ import annotations

import difflib
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import yaml

from .durations import DURATION_HINT, MAX_SESSION_MS, format_clock, parse_duration_ms
from .errors import RoutineError
from .options import OPTIONS, Settings, defaults, unspeakable_character

MAX_ROUTINE_BYTES = 1024 * 1024
MAX_TITLE_CHARS = 200
"""A title or an exercise's name: said aloud, a chapter's title and the output file's name."""
MAX_LINE_CHARS = 1000
"""Any one thing said in one go (a tip, a summary, a sentence, a respelling): about a minute of speech."""


class Sides(str, Enum):
    """Whether a hold is done once or on each side in turn (switching at its midpoint)."""

    ONE = "one"
    BOTH = "both"


@dataclass(frozen=True)
class Exercise:
    """One hold of the routine, in the words of its author."""

    name: str
    duration_ms: int
    sides: Sides = Sides.ONE
    summary: str = ""
    difficulty: str = ""
    instructions: tuple[str, ...] = ()
    tips: tuple[str, ...] = ()
    adjustments: tuple[str, ...] = ()
    line: int = 0
    """Where the exercise starts in its file (1-based), for messages; 0 when not from a file."""


@dataclass(frozen=True)
class Closing:
    """The routine's closing words, spoken in the outro."""

    title: str = ""
    text: str = ""


@dataclass(frozen=True)
class Routine:
    """A whole routine file; texts are kept verbatim, durations are milliseconds."""

    title: str
    exercises: tuple[Exercise, ...]
    duration_ms: int | None = None
    about: str = ""
    targets: str = ""
    included: str = ""
    who: str = ""
    advice: str = ""
    closing: Closing = field(default_factory=Closing)
    pronounce: tuple[tuple[str, str], ...] = ()
    options: Settings = field(default_factory=Settings)
    """Settings the routine asks for; command-line flags win over them."""
    source: str = "<routine>"
    duration_line: int = 0
    """Where the stated duration is (1-based), for messages; 0 when not stated."""
    option_places: tuple[tuple[str, str], ...] = ()
    """(option name, "file:line:column") of each option the routine sets, for messages about its value."""

    def option_place(self, name: str) -> str | None:
        """Where the routine sets option `name` ("file:line:column"), or None when it does not."""
        return dict(self.option_places).get(name)

    @property
    def holds_ms(self) -> int:
        return sum(e.duration_ms for e in self.exercises)


def check_length(routine: Routine, settings: Settings) -> None:
    """Refuse, before any work, a session whose holds would last more than a day with these settings
    (flags over the routine's options); each duration and the holds as written are checked when read."""
    s = settings.over(defaults())
    if s.get("duration") is not None:  # the total is asked for, and no duration is over a day
        return
    each = s["sides"] == "each"
    holds_ms = s["pace"] * sum(e.duration_ms * (2 if each and e.sides is Sides.BOTH else 1)
                               for e in routine.exercises)
    if holds_ms > MAX_SESSION_MS:
        line = routine.exercises[0].line if routine.exercises else 1
        how = f"at pace {s['pace']:g}" + (", each side held in full" if each else "")
        raise RoutineError([(f"{routine.source}:{line}: the holds would last {format_clock(int(holds_ms))} {how}; "
                            "a session may last at most 24 hours: lower the pace or shorten the holds")])


_TOP_KEYS = ("title", "duration", "about", "targets", "included", "who", "advice", "closing",
             "pronounce", "options", "exercises")
_REQUIRED_TOP = ("title", "exercises")
_EXERCISE_KEYS = ("name", "duration", "sides", "summary", "difficulty", "instructions", "tips",
                  "adjustments")
_REQUIRED_EXERCISE = ("name", "duration")
_CLOSING_KEYS = ("title", "text")


def load_routine(path: str | Path) -> Routine:
    """Read and validate a routine file; raise RoutineError listing every problem found."""
    path = Path(path)
    try:
        text = _read_limited(path).decode("utf-8")
    except FileNotFoundError:
        raise RoutineError([(f"{path}: no such file; give a routine file path or the name of a "
                            "shipped routine (see `voiceguide routines`)")]) from None
    except UnicodeDecodeError as exc:
        before = exc.object[: exc.start]
        line, column = before.count(b"\n") + 1, exc.start - (before.rfind(b"\n") + 1) + 1
        raise RoutineError([(f"{path}:{line}:{column}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                            "save the file as UTF-8")]) from None
    except OSError as exc:
        raise RoutineError([f"{path}: cannot read: {exc.strerror}"]) from None
    return parse_routine(text, str(path))


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


def parse_routine(text: str, source: str = "<routine>") -> Routine:
    """Validate routine YAML text; `source` names the file in messages."""
    try:
        _refuse_bombs(text, source)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        line, column = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        raise RoutineError([(f"{source}:{line}:{column}: the file holds the control character "
                            f"U+{exc.character:04X}, which a routine may not; remove it")]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise RoutineError([f"{where}: not valid YAML: {exc.problem or exc.context}{_yaml_hint(exc)}"]) from None
    except yaml.YAMLError as exc:
        raise RoutineError([f"{source}: not valid YAML: {exc}"]) from None
    reader = _Reader(source)
    routine = reader.routine(root)
    if reader.problems:
        raise RoutineError(sorted(reader.problems, key=_position))
    assert routine is not None  # a routine is returned whenever no problem was recorded
    return routine


MAX_ALIASES = 50
MAX_DEPTH = 20
"""Lists and mappings inside each other; a routine needs 4 (exercises, an exercise, its tips)."""


def _refuse_bombs(text: str, source: str) -> None:
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
                raise RoutineError([(f"{source}:{mark.line + 1}:{mark.column + 1}: routine: more than "
                                    f"{MAX_ALIASES} aliases (*name); write the text out instead")])
        elif isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise RoutineError([(f"{source}:{mark.line + 1}:{mark.column + 1}: routine: lists or mappings "
                                    f"nested more than {MAX_DEPTH} deep; a routine needs 4 (exercises, an "
                                    "exercise, its tips)")])
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _yaml_hint(exc: yaml.MarkedYAMLError) -> str:
    problem = f"{exc.problem} {exc.context}"
    if "\\t" in problem or "'\t'" in problem:
        return "; indent with spaces, not tabs"
    if "mapping values are not allowed" in problem:
        return ("; a line above may be missing the ':' after its key, or a text holds ': ' "
                "(put such text in quotes)")
    if "could not find expected ':'" in problem:
        return "; a key is missing its ':'"
    if "end of stream" in problem or "expected ',' or ']'" in problem or "expected ',' or '}'" in problem:
        return "; a quote or bracket opened above is not closed"
    return ""


def _position(problem: str) -> tuple[int, int]:
    found = re.search(r":(\d+):(\d+): ", problem)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


def sentences(text: str) -> list[str]:
    """Split prose into the sentences a voice speaks one at a time."""
    flat = " ".join(text.split())
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z\"'])", flat) if s]


_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_IMPLICIT_TAGS: dict[type[yaml.Node], str] = {yaml.MappingNode: "tag:yaml.org,2002:map",
                                               yaml.SequenceNode: "tag:yaml.org,2002:seq"}


class _Reader:
    """Walks the YAML node tree, converting and recording problems with their marks. Values are read
    from the text as written (as a flag's are), never constructed by YAML's own types."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []
        self.option_places: list[tuple[str, str]] = []
        self._resolver = yaml.resolver.Resolver()

    def _problem(self, node: yaml.Node | None, where: str, message: str) -> None:
        if node is None:
            self.problems.append(f"{self.source}: {where}: {message}")
        else:
            mark = node.start_mark
            self.problems.append(f"{self.source}:{mark.line + 1}:{mark.column + 1}: {where}: {message}")

    def _tagged(self, node: yaml.Node, where: str) -> bool:
        """True (and a problem recorded) when the file gives the node an explicit tag such as !!int,
        !!binary or !!python/name:...: a routine is plain data, read the same whatever a tag says."""
        if isinstance(node, yaml.ScalarNode):
            plain = node.style is None
            implicit = self._resolver.resolve(yaml.ScalarNode, node.value, (True, False)) if plain else _STR
            if node.tag in (implicit, _STR):
                return False
        elif node.tag == _IMPLICIT_TAGS.get(type(node)):
            return False
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        self._problem(node, where, f"the YAML tag {tag} is not allowed in a routine; remove it and write the "
                                   "value plainly")
        return True

    def _scalar(self, node: yaml.Node, where: str, expected: str) -> tuple[bool, str | None]:
        """(True, the value's text as written, or None when empty), or (False, None) with a problem
        recorded for a list, a mapping or a tag."""
        if not isinstance(node, yaml.ScalarNode):
            self._problem(node, where, f"expected {expected}, got {_describe(node)}")
            return False, None
        if self._tagged(node, where):
            return False, None
        return True, None if node.tag == _NULL else node.value

    def _mapping(self, node: yaml.Node | None, where: str, allowed: tuple[str, ...],
                 required: tuple[str, ...]) -> dict[str, yaml.Node] | None:
        if node is not None and self._tagged(node, where or "routine"):
            return None
        if not isinstance(node, yaml.MappingNode):
            self._problem(node, where or "routine", f"expected a mapping of {', '.join(allowed)}; "
                          f"got {_describe(node)}")
            return None
        out: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            label = f"{where}.{key}" if where else str(key)
            if key is None:
                self._problem(key_node, where or "routine", "keys must be plain names")
            elif self._tagged(key_node, label):
                continue
            elif key in out:
                self._problem(key_node, label, "duplicate key; each field may appear once")
            elif key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f'; did you mean "{close[0]}"?' if close else f"; allowed: {', '.join(allowed)}"
                self._problem(key_node, label, f"unknown field{hint}")
            else:
                out[key] = value_node
        for key in required:
            if key not in out:
                self._problem(node, where or "routine", f'missing required field "{key}"')
        return out

    def _text(self, node: yaml.Node | None, where: str, *, required: bool = False) -> str:
        if node is None:
            return ""
        ok, raw = self._scalar(node, where, "text")
        if raw is None:
            if ok and required:
                self._problem(node, where, "expected text, got nothing")
            return ""
        bad = unspeakable_character(raw)
        if bad:
            self._problem(node, where, f"the text holds {bad}; remove it")
            return ""
        text = "\n".join(" ".join(p.split()) for p in raw.split("\n") if p.strip())
        if required and not text:
            self._problem(node, where, "expected text, got an empty string")
        return text

    def _said(self, node: yaml.Node | None, where: str, *, title: bool = False, respelling: bool = False,
              sentences_of: bool = False, required: bool = False) -> str:
        """Text that is spoken: refused when no voice could say it (too long to say in one go, or
        with nothing to say in it)."""
        text = self._text(node, where, required=required)
        if not text:
            return text
        if title and len(text) > MAX_TITLE_CHARS:
            self._problem(node, where, f"{len(text)} characters; a title or name may have at most "
                                       f"{MAX_TITLE_CHARS} (it is spoken, and names chapters and files)")
            return ""
        for part in sentences(text) if sentences_of else [text]:
            if len(part) > MAX_LINE_CHARS:
                what, fix = ("a sentence of ", "sentences") if sentences_of else ("", "lines")
                if respelling:
                    what, fix = "a respelling of ", "respellings of single words"
                self._problem(node, where, f"{what}{len(part)} characters; one spoken line may have at most "
                                           f"{MAX_LINE_CHARS} (about a minute of speech); use shorter {fix}")
                return ""
        if respelling and not any(ch.isalpha() for ch in text):
            self._problem(node, where, f'the respelling "{text}" has no letters, so it cannot be spoken; '
                                       "spell the word as it sounds")
            return ""
        if (title or respelling) and not any(ch.isalnum() for ch in text):
            self._problem(node, where, f'"{text}" has no letters or digits, so it cannot be spoken; '
                                       "write it in words")
            return ""
        return text

    def _texts(self, node: yaml.Node | None, where: str) -> tuple[str, ...]:
        if node is None:
            return ()
        if not isinstance(node, yaml.SequenceNode):
            self._problem(node, where, f"expected a list of lines (- text), got {_describe(node)}")
            return ()
        if self._tagged(node, where):
            return ()
        items = [self._said(item, f"{where}[{i}]", required=True) for i, item in enumerate(node.value)]
        return tuple(t for t in items if t)

    def _duration(self, node: yaml.Node | None, where: str) -> int | None:
        if node is None:
            return None
        if not isinstance(node, yaml.ScalarNode):
            self._problem(node, where, f"expected {DURATION_HINT}, got {_describe(node)}")
            return None
        if self._tagged(node, where):
            return None
        try:
            return parse_duration_ms(None if node.tag == _NULL else node.value)
        except ValueError as exc:
            self._problem(node, where, str(exc))
            return None

    def _choice(self, node: yaml.Node | None, where: str, enum: type[Sides], default: Sides) -> Sides:
        if node is None:
            return default
        allowed = [m.value for m in enum]
        raw = node.value if isinstance(node, yaml.ScalarNode) else None
        if raw is not None and self._tagged(node, where):
            return default
        if raw is not None and raw.lower() in allowed:
            raw = raw.lower()
        if raw not in allowed:
            got = f'"{raw}"' if raw is not None else _describe(node)
            self._problem(node, where, f"expected one of {', '.join(allowed)}; got {got}")
            return default
        return enum(raw)

    def _pronounce(self, node: yaml.Node | None) -> tuple[tuple[str, str], ...]:
        if node is None:
            return ()
        if not isinstance(node, yaml.MappingNode):
            self._problem(node, "pronounce", f"expected a mapping of word: respelling, got {_describe(node)}")
            return ()
        if self._tagged(node, "pronounce"):
            return ()
        pairs = []
        for key_node, value_node in node.value:
            word = self._text(key_node, "pronounce", required=True)
            said = self._said(value_node, f"pronounce.{word}", respelling=True, required=True)
            if word and said:
                pairs.append((word, said))
        return tuple(pairs)

    def _options(self, node: yaml.Node | None) -> Settings:
        if node is None:
            return Settings()
        table = dict(OPTIONS)
        fields = self._mapping(node, "options", tuple(table), ())
        if fields is None:
            return Settings()
        values = {}
        for key, value_node in fields.items():
            mark = value_node.start_mark
            self.option_places.append((key, f"{self.source}:{mark.line + 1}:{mark.column + 1}"))
            ok, raw = self._scalar(value_node, f"options.{key}", "a single value")
            if not ok:
                continue
            try:
                values[key] = table[key].parse(raw)
            except ValueError as exc:
                self._problem(value_node, f"options.{key}", str(exc))
        return Settings(values)

    def routine(self, root: yaml.Node | None) -> Routine | None:
        if root is None:
            self.problems.append(f"{self.source}:1:1: routine: the file is empty; a routine needs a title "
                                 "and exercises")
            return None
        fields = self._mapping(root, "", _TOP_KEYS, _REQUIRED_TOP)
        if fields is None:
            return None
        exercises = self._exercises(fields.get("exercises"))
        closing = Closing()
        if "closing" in fields:
            parts = self._mapping(fields["closing"], "closing", _CLOSING_KEYS, ())
            if parts is not None:
                closing = Closing(self._text(parts.get("title"), "closing.title"),
                                  self._said(parts.get("text"), "closing.text", sentences_of=True))
        return Routine(
            title=self._said(fields.get("title"), "title", title=True, required="title" in fields),
            exercises=exercises,
            duration_ms=self._duration(fields.get("duration"), "duration"),
            about=self._text(fields.get("about"), "about"),
            targets=self._said(fields.get("targets"), "targets", sentences_of=True),
            included=self._text(fields.get("included"), "included"),
            who=self._text(fields.get("who"), "who"),
            advice=self._text(fields.get("advice"), "advice"),
            closing=closing,
            pronounce=self._pronounce(fields.get("pronounce")),
            options=self._options(fields.get("options")),
            source=self.source,
            duration_line=fields["duration"].start_mark.line + 1 if "duration" in fields else 0,
            option_places=tuple(self.option_places),
        )

    def _exercises(self, node: yaml.Node | None) -> tuple[Exercise, ...]:
        if node is None:
            return ()
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self._problem(node, "exercises", f"expected a list of at least one exercise, got {_describe(node)}")
            return ()
        if self._tagged(node, "exercises"):
            return ()
        out = []
        for i, item in enumerate(node.value):
            where = f"exercises[{i}]"
            fields = self._mapping(item, where, _EXERCISE_KEYS, _REQUIRED_EXERCISE)
            if fields is None:
                continue
            get: Callable[[str], yaml.Node | None] = fields.get
            duration = self._duration(get("duration"), f"{where}.duration")
            out.append(Exercise(
                name=self._said(get("name"), f"{where}.name", title=True, required="name" in fields),
                duration_ms=duration or 0,
                sides=self._choice(get("sides"), f"{where}.sides", Sides, Sides.ONE),
                summary=self._said(get("summary"), f"{where}.summary"),
                difficulty=self._text(get("difficulty"), f"{where}.difficulty"),
                instructions=self._texts(get("instructions"), f"{where}.instructions"),
                tips=self._texts(get("tips"), f"{where}.tips"),
                adjustments=self._texts(get("adjustments"), f"{where}.adjustments"),
                line=item.start_mark.line + 1,
            ))
        holds_ms = sum(e.duration_ms for e in out)
        if holds_ms > MAX_SESSION_MS:
            self._problem(node, "exercises", f"the holds add up to {format_clock(holds_ms)}; a session may "
                                             "last at most 24 hours")
        return tuple(out)


def _describe(node: yaml.Node | None) -> str:
    if node is None:
        return "nothing"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list" if node.value else "an empty list"
    if node.tag == "tag:yaml.org,2002:null":
        return "nothing"
    return f'"{node.value}"'
