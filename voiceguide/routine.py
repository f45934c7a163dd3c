"""Load a routine file into typed, validated values; every problem names file:line:column."""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Callable

import yaml

from .durations import DURATION_HINT, parse_duration_ms
from .errors import RoutineError
from .settings import OPTION_KEYS, Settings

MAX_ROUTINE_BYTES = 1024 * 1024


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

    @property
    def holds_ms(self) -> int:
        return sum(e.duration_ms for e in self.exercises)


_TOP_KEYS = ("title", "duration", "about", "targets", "included", "who", "advice", "closing",
             "pronounce", "options", "exercises")
_REQUIRED_TOP = ("title", "exercises")
_EXERCISE_KEYS = ("name", "duration", "sides", "summary", "difficulty", "instructions", "tips",
                  "adjustments")
_REQUIRED_EXERCISE = ("name", "duration")
_CLOSING_KEYS = ("title", "text")
_STR_TAG = "tag:yaml.org,2002:str"


def load_routine(path: str | Path) -> Routine:
    """Read and validate a routine file; raise RoutineError listing every problem found."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_ROUTINE_BYTES:
            raise RoutineError([f"{path}:1:1: file is {size} bytes; a routine file may be at most "
                                f"{MAX_ROUTINE_BYTES} bytes"])
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RoutineError([f"{path}: no such file; give a routine file path or the name of a "
                            "shipped routine (see `voiceguide routines`)"]) from None
    except UnicodeDecodeError as exc:
        before = exc.object[: exc.start]
        line, column = before.count(b"\n") + 1, exc.start - (before.rfind(b"\n") + 1) + 1
        raise RoutineError([f"{path}:{line}:{column}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                            "save the file as UTF-8"]) from None
    except OSError as exc:
        raise RoutineError([f"{path}: cannot read: {exc.strerror}"]) from None
    return parse_routine(text, str(path))


def parse_routine(text: str, source: str = "<routine>") -> Routine:
    """Validate routine YAML text; `source` names the file in messages."""
    try:
        _refuse_alias_bombs(text, source)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
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


def _refuse_alias_bombs(text: str, source: str) -> None:
    """Refuse files with more aliases (*name) than a routine needs: a "billion laughs" file is
    a few lines of aliases that expand exponentially."""
    count = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            count += 1
            if count > MAX_ALIASES:
                mark = event.start_mark
                raise RoutineError([f"{source}:{mark.line + 1}:{mark.column + 1}: routine: more than "
                                    f"{MAX_ALIASES} aliases (*name); write the text out instead"])


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


class _Reader:
    """Walks the YAML node tree, converting and recording problems with their marks."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []
        self._constructor = yaml.constructor.SafeConstructor()

    def _problem(self, node: yaml.Node | None, where: str, message: str) -> None:
        if node is None:
            self.problems.append(f"{self.source}: {where}: {message}")
        else:
            mark = node.start_mark
            self.problems.append(f"{self.source}:{mark.line + 1}:{mark.column + 1}: {where}: {message}")

    def _mapping(self, node: yaml.Node | None, where: str, allowed: tuple[str, ...],
                 required: tuple[str, ...]) -> dict[str, yaml.Node] | None:
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
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            if required:
                self._problem(node, where, "expected text, got nothing")
            return ""
        if not isinstance(node, yaml.ScalarNode):
            self._problem(node, where, f"expected text, got {_describe(node)}")
            return ""
        text = "\n".join(" ".join(p.split()) for p in node.value.split("\n") if p.strip())
        if required and not text:
            self._problem(node, where, "expected text, got an empty string")
        return text

    def _texts(self, node: yaml.Node | None, where: str) -> tuple[str, ...]:
        if node is None:
            return ()
        if not isinstance(node, yaml.SequenceNode):
            self._problem(node, where, f"expected a list of lines (- text), got {_describe(node)}")
            return ()
        items = [self._text(item, f"{where}[{i}]", required=True) for i, item in enumerate(node.value)]
        return tuple(t for t in items if t)

    def _duration(self, node: yaml.Node | None, where: str) -> int | None:
        if node is None:
            return None
        if not isinstance(node, yaml.ScalarNode):
            self._problem(node, where, f"expected {DURATION_HINT}, got {_describe(node)}")
            return None
        value = node.value if node.tag == _STR_TAG else self._constructor.construct_object(node)
        try:
            return parse_duration_ms(value)
        except ValueError as exc:
            self._problem(node, where, str(exc))
            return None

    def _choice(self, node: yaml.Node | None, where: str, enum: type[Sides], default: Sides) -> Sides:
        if node is None:
            return default
        allowed = [m.value for m in enum]
        raw = node.value if isinstance(node, yaml.ScalarNode) else None
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
        pairs = []
        for key_node, value_node in node.value:
            word = self._text(key_node, "pronounce", required=True)
            said = self._text(value_node, f"pronounce.{word}", required=True)
            if word and said:
                pairs.append((word, said))
        return tuple(pairs)

    def _options(self, node: yaml.Node | None) -> Settings:
        if node is None:
            return Settings()
        fields = self._mapping(node, "options", tuple(OPTION_KEYS), ())
        if fields is None:
            return Settings()
        values = {}
        for key, value_node in fields.items():
            name, parse = OPTION_KEYS[key]
            if not isinstance(value_node, yaml.ScalarNode):
                self._problem(value_node, f"options.{key}", f"expected a single value, got {_describe(value_node)}")
                continue
            raw = value_node.value if value_node.tag == _STR_TAG else self._constructor.construct_object(value_node)
            try:
                values[name] = parse(raw)
            except ValueError as exc:
                self._problem(value_node, f"options.{key}", str(exc).replace(repr(raw), f'"{value_node.value}"'))
        return Settings(**values)

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
                                  self._text(parts.get("text"), "closing.text"))
        return Routine(
            title=self._text(fields.get("title"), "title", required="title" in fields),
            exercises=exercises,
            duration_ms=self._duration(fields.get("duration"), "duration"),
            about=self._text(fields.get("about"), "about"),
            targets=self._text(fields.get("targets"), "targets"),
            included=self._text(fields.get("included"), "included"),
            who=self._text(fields.get("who"), "who"),
            advice=self._text(fields.get("advice"), "advice"),
            closing=closing,
            pronounce=self._pronounce(fields.get("pronounce")),
            options=self._options(fields.get("options")),
            source=self.source,
            duration_line=fields["duration"].start_mark.line + 1 if "duration" in fields else 0,
        )

    def _exercises(self, node: yaml.Node | None) -> tuple[Exercise, ...]:
        if node is None:
            return ()
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self._problem(node, "exercises", f"expected a list of at least one exercise, got {_describe(node)}")
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
                name=self._text(get("name"), f"{where}.name", required="name" in fields),
                duration_ms=duration or 0,
                sides=self._choice(get("sides"), f"{where}.sides", Sides, Sides.ONE),
                summary=self._text(get("summary"), f"{where}.summary"),
                difficulty=self._text(get("difficulty"), f"{where}.difficulty"),
                instructions=self._texts(get("instructions"), f"{where}.instructions"),
                tips=self._texts(get("tips"), f"{where}.tips"),
                adjustments=self._texts(get("adjustments"), f"{where}.adjustments"),
                line=item.start_mark.line + 1,
            ))
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
