"""Load a routine file into typed, validated values; every problem names file:line:column."""
from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import Enum
from pathlib import Path

import yaml

from .durations import DURATION_HINT, MAX_SESSION_MS, as_written, format_clock, parse_duration_ms
from .errors import RoutineError
from .language import DEFAULT_LANGUAGE, parse_language, phrase_problems, plural_of
from .options import OPTIONS, Settings, defaults, unspeakable_character
from .phrasebook import COUNTS, PHRASES, Plural
from .routine_file import Places, briefly, compose, decode_text, read_routine_file

MAX_TITLE_CHARS = 200
"""A title or an exercise's name: said aloud, a chapter's title and the output file's name."""
MAX_EXERCISES = 1000
"""Exercises in one routine: far more than a day-long session holds, few enough to plan in seconds."""
MAX_LINE_CHARS = 1000
"""Any one thing said in one go (a tip, a summary, a sentence, a respelling): about a minute of speech."""


class Sides(str, Enum):
    """Whether a hold is done once or on each side in turn (switching at its midpoint)."""

    ONE = "one"
    BOTH = "both"


MAX_REPS = 100
MAX_REP_SECONDS = 600
"""The longest a rep may be held, or the pause after it may last (ten minutes)."""
DEFAULT_RELAX_S = 3
REPS_SWITCH_MS = 5000
"""With both sides: the relax after the last rep on the first side is this much longer, to change sides."""


@dataclass(frozen=True)
class Reps:
    """An exercise done in repetitions: each rep held `hold_ms`, then a pause of `relax_ms`."""

    count: int
    hold_ms: int
    relax_ms: int = DEFAULT_RELAX_S * 1000

    @property
    def cycle_ms(self) -> int:
        return self.hold_ms + self.relax_ms

    def length_ms(self, sides: Sides) -> int:
        """The exercise's length: every rep's hold and relax, on each side, with time to change sides."""
        return self.count * self.cycle_ms if sides is Sides.ONE else 2 * self.count * self.cycle_ms + REPS_SWITCH_MS

    def starts_ms(self, sides: Sides) -> list[int]:
        """When each rep's hold starts, from the exercise's first rep: all on one side, then the other."""
        one = [k * self.cycle_ms for k in range(self.count)]
        if sides is Sides.ONE:
            return one
        return one + [self.count * self.cycle_ms + REPS_SWITCH_MS + at for at in one]


@dataclass(frozen=True)
class Exercise:
    """One hold of the routine, in the words of its author."""

    name: str
    duration_ms: int
    """Chime to chime: as written, or what the reps make (`Reps.length_ms`)."""
    sides: Sides = Sides.ONE
    summary: str = ""
    difficulty: str = ""
    instructions: tuple[str, ...] = ()
    tips: tuple[str, ...] = ()
    adjustments: tuple[str, ...] = ()
    reps: Reps | None = None
    """Set when the exercise is counted in repetitions; its length is then fixed by them."""
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
    language: str = DEFAULT_LANGUAGE
    """The language it is written in (a BCP 47 tag, as `language:` says; English when it says none): the
    builder speaks its own words, numbers and lengths in it, with a voice that speaks it."""
    language_line: int = 0
    """Where `language:` is (1-based), for messages; 0 when not stated."""
    phrases: tuple[tuple[str, str], ...] = ()
    """The routine's own words for phrases of the builder's (`phrases: {switch: "Change legs."}`)."""
    plural_phrases: tuple[tuple[str, Plural], ...] = ()
    """The routine's own forms of counts (`phrases: {minutes: {one: ..., other: ...}}`)."""

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
    holds_ms = sum(e.duration_ms if e.reps else s["pace"] * e.duration_ms * (2 if each and e.sides is Sides.BOTH else 1)
                   for e in routine.exercises)
    if holds_ms > MAX_SESSION_MS:
        line = routine.exercises[0].line if routine.exercises else 1
        how = f"at pace {s['pace']:g}" + (", each side held in full" if each else "")
        raise RoutineError([(f"{routine.source}:{line}: the holds would last {format_clock(int(holds_ms))} {how}; "
                            "a session may last at most 24 hours: lower the pace or shorten the holds")])


_TOP_KEYS = ("title", "duration", "about", "targets", "included", "who", "advice", "closing", "outro",
             "language", "pronounce", "phrases", "options", "exercises")
_REQUIRED_TOP = ("title", "exercises")
_EXERCISE_KEYS = ("name", "duration", "reps", "hold", "relax", "sides", "summary", "difficulty", "instructions",
                  "tips", "adjustments")
_REQUIRED_EXERCISE = ("name",)
"""And `duration`, unless the exercise is counted in `reps` (with `hold`): see `_Reader._length`."""
_CLOSING_KEYS = ("title", "text")
_SYNONYMS = {
    "ending": "closing", "cooldown": "closing", "cool_down": "closing", "finish": "closing",
    "steps": "instructions", "how": "instructions", "setup": "instructions",
    "cues": "tips", "notes": "tips", "hints": "tips",
    "time": "duration", "length": "duration", "hold_time": "duration", "seconds": "duration",
    "side": "sides", "bilateral": "sides", "each_side": "sides", "both_sides": "sides",
    "description": "about", "name": "title", "modifications": "adjustments", "variations": "adjustments",
    "level": "difficulty", "repetitions": "reps", "rest": "relax",
    "lang": "language", "locale": "language", "words": "phrases", "texts": "phrases",
}
"""Words people reach for, and the field that does what they mean (for "did you mean")."""


def load_routine(path: str | Path) -> Routine:
    """Read and validate a routine file; raise RoutineError listing every problem found."""
    path = Path(path)
    return parse_routine(decode_text(read_routine_file(path), path), str(path))


def parse_routine(text: str, source: str = "<routine>", lines: Sequence[int] | None = None) -> Routine:
    """Validate routine YAML text; `source` names the file in messages. `lines`, for YAML written from
    another format (see voiceguide.importers), gives for each of its lines the line of `source` it came
    from, so that a problem is shown where the user can fix it."""
    where = Places(source, lines)
    root = compose(text, where)
    reader = _Reader(where)
    routine = reader.routine(root)
    if reader.problems:
        raise RoutineError([message for _, message in sorted(reader.problems, key=lambda p: p[0])])
    assert routine is not None  # a routine is returned whenever no problem was recorded
    return routine


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_OPENING = "\"'¿¡«„“‘"
"""What a sentence may start with besides a capital: a quote, or Spanish's opening ¿ and ¡."""


def sentences(text: str) -> list[str]:
    """Split prose into the sentences a voice speaks one at a time: after . ! ? or … where the next word
    starts with a capital (in any alphabet: "Über", "Éte") or an opening quote or mark ("¿Listo?")."""
    flat = " ".join(text.split())
    out: list[str] = []
    for piece in _SENTENCE_END.split(flat):
        if out and not (piece[:1] in _OPENING or piece[:1].isupper()):
            out[-1] += " " + piece
        elif piece:
            out.append(piece)
    return out


_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_IMPLICIT_TAGS: dict[type[yaml.Node], str] = {yaml.MappingNode: "tag:yaml.org,2002:map",
                                               yaml.SequenceNode: "tag:yaml.org,2002:seq"}


class _Reader:
    """Walks the YAML node tree, converting and recording problems with their marks. Values are read
    from the text as written (as a flag's are), never constructed by YAML's own types."""

    def __init__(self, places: Places) -> None:
        self.places = places
        self.source = places.source
        self.problems: list[tuple[tuple[int, int], str]] = []
        """(where it sorts, the message) of each problem found."""
        self.option_places: list[tuple[str, str]] = []
        self._option_nodes: dict[str, yaml.Node] = {}
        self._resolver = yaml.resolver.Resolver()

    def _problem(self, node: yaml.Node | None, where: str, message: str) -> None:
        if node is None:
            self.problems.append(((0, 0), f"{self.source}: {where}: {message}"))
        else:
            mark = node.start_mark
            self.problems.append((self.places.key(mark.line, mark.column),
                                  f"{self.places.at(mark.line, mark.column)}: {where}: {message}"))

    def _line(self, node: yaml.Node) -> int:
        return self.places.line(node.start_mark.line)

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
                close = _meant(key, allowed)
                hint = f'; did you mean "{close}"?' if close else f"; allowed: {', '.join(allowed)}"
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
              sentences_of: bool = False, required: bool = False, alone: bool = True) -> str:
        """Text that is spoken: refused when no voice could say it (too long to say in one go, or, where it
        is said `alone` and not joined to other words, with no letter or digit in it: "..." gives silence)."""
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
        for part in sentences(text) if sentences_of else [text]:
            if alone and not any(ch.isalnum() for ch in part):
                self._problem(node, where, f'"{briefly(part)}" has no letters or digits, so it cannot be spoken; '
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

    def _length(self, item: yaml.Node, fields: dict[str, yaml.Node], where: str,
                sides: Sides) -> tuple[int | None, Reps | None]:
        """An exercise's length and reps: `duration`, or `reps` with `hold` (and `relax`), or both when
        they agree."""
        duration = self._duration(fields.get("duration"), f"{where}.duration")
        if "reps" not in fields:
            for key in ("hold", "relax"):
                if key in fields:
                    self._problem(fields[key], f"{where}.{key}", f"goes with reps (how many times the exercise is "
                                                                  f"done); add reps or remove {key}")
            if "duration" not in fields:
                self._problem(item, where, 'missing required field "duration"')
            return duration, None
        count = self._whole(fields["reps"], f"{where}.reps", "a whole number of reps", 1, MAX_REPS)
        if "hold" not in fields:
            self._problem(item, where, 'missing required field "hold" (the seconds each rep is held), which reps '
                                       "needs")
        hold = self._rep_seconds(fields.get("hold"), f"{where}.hold", "a rep's hold")
        relax = self._rep_seconds(fields.get("relax"), f"{where}.relax", "the relax after a rep")
        if relax is None and "relax" not in fields:
            relax = DEFAULT_RELAX_S * 1000
        if count is None or hold is None or relax is None:
            return duration, None
        reps = Reps(count, hold, relax)
        length = reps.length_ms(sides)
        if duration is not None and duration != length:
            said = (f"{count} x ({hold / 1000:g} s hold + {relax / 1000:g} s relax)"
                    f"{f' on each side, with {REPS_SWITCH_MS // 1000} s to change sides,' if sides is Sides.BOTH else ''}"
                    f" = {format_clock(length)}")
            self._problem(fields["duration"], f"{where}.duration",
                          f"{format_clock(duration)} does not agree with the reps: {said}; remove duration or "
                          f"make it {format_clock(length)}")
        return length, reps

    def _whole(self, node: yaml.Node, where: str, noun: str, low: int, high: int) -> int | None:
        """A whole number from its text as written, in [low, high]."""
        ok, raw = self._scalar(node, where, noun)
        if not ok:
            return None
        try:
            number = Decimal((raw or "").strip())
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite() or number != number.to_integral_value() \
                or not low <= number <= high:
            self._problem(node, where, f"expected {noun} from {low} to {high}, got {as_written(raw)}")
            return None
        return int(number)

    def _rep_seconds(self, node: yaml.Node | None, where: str, what: str) -> int | None:
        """A rep's hold or relax: a duration (5, "5s", "0:05") of at most MAX_REP_SECONDS."""
        ms = self._duration(node, where)
        if ms is not None and node is not None and ms > MAX_REP_SECONDS * 1000:
            self._problem(node, where, f"expected {what} of at most {MAX_REP_SECONDS} seconds "
                                       f"({format_clock(MAX_REP_SECONDS * 1000)}), got {as_written(node.value)}")
            return None
        return ms

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
        self._option_nodes = fields
        for key, value_node in fields.items():
            mark = value_node.start_mark
            self.option_places.append((key, self.places.at(mark.line, mark.column)))
            ok, raw = self._scalar(value_node, f"options.{key}", "a single value")
            if not ok:
                continue
            try:
                values[key] = self._beside(table[key].parse(raw)) if table[key].file else table[key].parse(raw)
            except ValueError as exc:
                self._problem(value_node, f"options.{key}", str(exc))
        return Settings(values)

    def _beside(self, value: str) -> str:
        """A file named by a relative path, found beside the routine file (where a physio keeps a patient's
        music with the patient's routine) rather than wherever the command is run; else the value as written
        (a shipped name, none, or a path from the current folder)."""
        folder = Path(self.source).parent
        if not value or value.startswith("~") or Path(value).is_absolute() or not Path(self.source).is_file():
            return value
        found = folder / value
        return str(found) if found.is_file() else value

    def routine(self, root: yaml.Node | None) -> Routine | None:
        if root is None:
            self.problems.append(((1, 0), (f"{self.places.at(0, 0)}: routine: the file is empty; a routine needs a "
                                              "title and exercises")))
            return None
        fields = self._mapping(root, "", _TOP_KEYS, _REQUIRED_TOP)
        if fields is None:
            return None
        exercises = self._exercises(fields.get("exercises"))
        if "closing" in fields and "outro" in fields:
            self._problem(fields["outro"], "outro", f"the closing words are given twice (closing, line "
                                                    f"{self._line(fields['closing'])}); keep one of them")
        key = "closing" if "closing" in fields else "outro"
        closing = self._closing(fields.get(key), key)
        options = self._options(fields.get("options"))
        if "duration" in fields and "duration" in self._option_nodes:
            self._two_totals(fields["duration"], self._option_nodes["duration"])
        if "language" in fields and "language" in self._option_nodes:
            self._problem(self._option_nodes["language"], "options.language",
                          f"the language is given twice (language, line {self._line(fields['language'])}); keep "
                          "the top-level language")
        texts, plurals = self._phrases(fields.get("phrases"))
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
            options=options,
            source=self.source,
            duration_line=self._line(fields["duration"]) if "duration" in fields else 0,
            option_places=tuple(self.option_places),
            language=self._language(fields.get("language")),
            language_line=self._line(fields["language"]) if "language" in fields else 0,
            phrases=texts,
            plural_phrases=plurals,
        )

    def _language(self, node: yaml.Node | None) -> str:
        if node is None:
            return DEFAULT_LANGUAGE
        ok, raw = self._scalar(node, "language", "a language tag")
        if not ok:
            return DEFAULT_LANGUAGE
        try:
            return parse_language(raw)
        except ValueError as exc:
            self._problem(node, "language", str(exc))
            return DEFAULT_LANGUAGE

    def _phrases(self, node: yaml.Node | None) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, Plural], ...]]:
        """The routine's own words for the builder's phrases: a text for a phrase, the forms of a count."""
        if node is None:
            return (), ()
        fields = self._mapping(node, "phrases", (*PHRASES, *COUNTS), ())
        if fields is None:
            return (), ()
        texts, plurals = [], []
        for key, value in fields.items():
            where = f"phrases.{key}"
            if key in COUNTS:
                plural = self._plural(value, where)
                if plural is not None:
                    plurals.append((key, plural))
                continue
            joining = key in ("separator", "last_separator")  # ", " and " and ": said between other words
            text = self._said(value, where, required=not joining, alone=not joining)
            if not text and key not in ("separator", "last_separator"):
                continue
            if key in ("separator", "last_separator") and isinstance(value, yaml.ScalarNode):
                text = value.value  # spacing is the point of a separator: kept as written
            problems = phrase_problems(key, text)
            for problem in problems:
                self._problem(value, where, problem)
            if not problems:
                texts.append((key, text))
        return tuple(texts), tuple(plurals)

    def _plural(self, node: yaml.Node, where: str) -> Plural | None:
        """A count's forms: {one: "yksi minuutti", other: "{n} minuuttia"} (and `endings`, as tables have)."""
        fields = self._mapping(node, where, ("one", "other", "endings"), ("one", "other"))
        if fields is None or "one" not in fields or "other" not in fields:  # said by _mapping
            return None
        endings: dict[str, str] = {}
        ending_node = fields.get("endings")
        if isinstance(ending_node, yaml.MappingNode) and not self._tagged(ending_node, f"{where}.endings"):
            for key_node, value_node in ending_node.value:
                endings[self._text(key_node, f"{where}.endings", required=True)] = self._text(
                    value_node, f"{where}.endings", required=True)
        elif ending_node is not None:
            self._problem(ending_node, f"{where}.endings", "expected a mapping of a number's last word to its form "
                                                           "before this noun: {un: une}")
        one = self._said(fields.get("one"), f"{where}.one", required=True)
        other = self._said(fields.get("other"), f"{where}.other", required=True)
        try:
            return plural_of({"one": one, "other": other, "endings": endings})
        except ValueError as exc:
            self._problem(node, where, str(exc))
            return None

    def _closing(self, node: yaml.Node | None, key: str) -> Closing:
        """The closing words: a text (`outro: TEXT`, `closing: TEXT`) or a title and a text."""
        if node is None:
            return Closing()
        if isinstance(node, yaml.ScalarNode):
            return Closing(text=self._said(node, key, sentences_of=True, required=True))
        if isinstance(node, yaml.SequenceNode):
            self._problem(node, key, f"expected the closing words: a text, or a mapping of title, text; got "
                                     f"{_describe(node)}")
            return Closing()
        parts = self._mapping(node, key, _CLOSING_KEYS, ())
        if parts is None:
            return Closing()
        return Closing(self._text(parts.get("title"), f"{key}.title"),
                       self._said(parts.get("text"), f"{key}.text", sentences_of=True))

    def _two_totals(self, stated: yaml.Node, target: yaml.Node) -> None:
        """A routine that states its length and also asks for another: which one it means is a guess."""
        said = stated.value if isinstance(stated, yaml.ScalarNode) else "?"
        asked = target.value if isinstance(target, yaml.ScalarNode) else "?"
        self._problem(target, "options.duration",
                      f"the routine states its length (duration: {as_written(said)}, line {self._line(stated)}), "
                      f"and options.duration asks for a session of {as_written(asked)} with the holds scaled to "
                      "fit; keep one: remove options.duration to keep the stated length, or remove the top-level "
                      "duration to scale the holds (to try another length once, use --duration)")

    def _exercises(self, node: yaml.Node | None) -> tuple[Exercise, ...]:
        if node is None:
            return ()
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self._problem(node, "exercises", f"expected a list of at least one exercise, got {_describe(node)}")
            return ()
        if self._tagged(node, "exercises"):
            return ()
        if len(node.value) > MAX_EXERCISES:
            self._problem(node, "exercises", f"{len(node.value)} exercises; a routine may have at most "
                                             f"{MAX_EXERCISES} (each is spoken, chaptered and timed): split it into "
                                             "several routines")
            return ()
        out = []
        for i, item in enumerate(node.value):
            where = f"exercises[{i}]"
            fields = self._mapping(item, where, _EXERCISE_KEYS, _REQUIRED_EXERCISE)
            if fields is None:
                continue
            get: Callable[[str], yaml.Node | None] = fields.get
            sides = self._choice(get("sides"), f"{where}.sides", Sides, Sides.ONE)
            duration, reps = self._length(item, fields, where, sides)
            out.append(Exercise(
                name=self._said(get("name"), f"{where}.name", title=True, required="name" in fields),
                duration_ms=duration or 0,
                sides=sides,
                reps=reps,
                summary=self._said(get("summary"), f"{where}.summary"),
                difficulty=self._text(get("difficulty"), f"{where}.difficulty"),
                instructions=self._texts(get("instructions"), f"{where}.instructions"),
                tips=self._texts(get("tips"), f"{where}.tips"),
                adjustments=self._texts(get("adjustments"), f"{where}.adjustments"),
                line=self._line(item),
            ))
        holds_ms = sum(e.duration_ms for e in out)
        if holds_ms > MAX_SESSION_MS:
            self._problem(node, "exercises", f"the holds add up to {format_clock(holds_ms)}; a session may "
                                             "last at most 24 hours")
        return tuple(out)


def _meant(key: str, allowed: tuple[str, ...]) -> str | None:
    """The allowed field a key most likely means: the same in other case, a synonym, or a near spelling."""
    plain = key.strip().lower().replace("-", "_").replace(" ", "_")
    if plain in allowed:
        return plain
    if _SYNONYMS.get(plain) in allowed:
        return _SYNONYMS[plain]
    close = difflib.get_close_matches(plain, allowed, n=1)
    if close:
        return close[0]
    synonym = difflib.get_close_matches(plain, [s for s, meant in _SYNONYMS.items() if meant in allowed], n=1)
    return _SYNONYMS[synonym[0]] if synonym else None


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
