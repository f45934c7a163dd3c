"""A cue is a line that may be spoken, with where it wants to be and how much it matters; the Speaker makes
cues from the routine's text (respellings applied, length measured). A section is a span cues are fitted into."""
from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from ..engines.base import Utterance
from ..errors import PlanError
from ..phrasebook import COUNTS, PHRASES, MissingPhrase, Phrasebook
from ..routine import Routine
from .model import Detail, DropCause, Event, Kind, PlanOptions, Priority, Role, shortened


class Anchor(str, Enum):
    """How a cue finds its time within its section."""

    HEAD = "head"  # one after another from the section's start (name, length)
    FIXED = "fixed"  # at an exact time, the cue's `start_ms` (switch sides, countdown)
    TAIL = "tail"  # as late as possible, ending by the cue's `end_by_ms` (next up, "Routine complete.")
    FLOW = "flow"  # as early as possible, in order (instructions)
    SPREAD = "spread"  # spread over the remaining time, in order (tips)


@dataclass(frozen=True)
class Skip:
    """Why a cue is left out before any fitting: the listener's choice, not a lack of time."""

    cause: DropCause
    reason: str


@dataclass(frozen=True)
class Cue:
    """A line that may be spoken, with where it wants to be and how much it matters."""

    role: Role
    text: str
    utterance: Utterance
    duration_ms: int
    priority: Priority
    anchor: Anchor
    start_ms: int | None = None
    """FIXED cues only, and they need it: when the line starts (absolute ms)."""
    end_by_ms: int | None = None
    """TAIL cues only: when the line must end by (absolute ms); None for the section's end."""
    before_ms: int | None = None
    """FLOW: must end before this time (absolute), e.g. instructions before a side switch."""
    order: int = 0
    """Position among the section's cues; later cues of equal priority are dropped first."""
    extra_events: tuple[Event, ...] = ()
    """Chimes that go with the cue (the soft chime at a side switch)."""
    skip: Skip | None = None
    """Set when an option (the detail level, --no-next-up) leaves the cue out."""
    repeat: bool = False
    """A line said a second time where there is room; not reported when left out."""

    def __post_init__(self) -> None:
        if (self.start_ms is not None) != (self.anchor is Anchor.FIXED):
            raise ValueError(f"{self.role} cue: start_ms is for FIXED cues, and they need it")
        if self.end_by_ms is not None and self.anchor is not Anchor.TAIL:
            raise ValueError(f"{self.role} cue: end_by_ms is for TAIL cues only")


@dataclass(frozen=True)
class Section:
    """A span of the timeline that cues are fitted into."""

    label: str
    start_ms: int
    end_ms: int
    exercise: int | None
    opening_chime: Event | None
    where: str = ""
    """file:line of what the section comes from, for messages."""
    lead_ms: int | None = None
    """Speech waits this long after the section's start (None: the bell's lead)."""
    quiet: tuple[tuple[int, int], ...] = ()
    """Spans where only fixed cues and "next up" speak (the holds of reps): tips and the like go between them."""
    fix: str = ""
    """What to do when the section is too short for its must cues (empty: the usual advice)."""


MAX_SPOKEN_CHARS = 2000
"""The longest line the engine is given (after respellings): about two minutes of speech."""


class Speaker:
    """Makes cues from routine text: applies pronunciations, measures, keeps order; words the builder says
    itself come from its phrase book (a phrase it lacks is noted in `missing`, for one message naming all)."""

    def __init__(self, pronounce: Iterable[tuple[str, str]], options: PlanOptions,
                 length: Callable[[Utterance], int], source: str = "<routine>",
                 known: Mapping[Utterance, int] | None = None, phrases: Phrasebook | None = None) -> None:
        self._rules = [(re.compile(rf"(?<!\w){re.escape(w)}(?!\w)", re.IGNORECASE), said) for w, said in pronounce]
        self._options = options
        self.phrases = phrases or options.phrases
        self.missing: set[str] = set()
        """Phrases asked for that the book lacks (each said as its name in braces meanwhile)."""
        self._source = source
        self._length = length
        self._order = 0
        self.known: Mapping[Utterance, int] = known if known is not None else {}
        """Lengths measured so far."""
        self.trials: dict[tuple[int, int, PlanOptions], int] = {}
        """Set-up gaps worked out so far, by exercise, hold and options: trial totals ask again."""

    def words(self, key: str, **values: str) -> str:
        """A phrase of the book with its placeholders filled."""
        try:
            return self.phrases.text(key, **values)
        except MissingPhrase as missing:
            return self._lacks(missing)

    def length(self, ms: int) -> str:
        """A length in words, lower case: "one minute, thirty seconds"."""
        try:
            return self.phrases.length(ms)
        except MissingPhrase as missing:
            return self._lacks(missing)

    def count(self, key: str, n: int) -> str:
        """A count in words: "seven exercises"."""
        try:
            return self.phrases.count(key, n)
        except MissingPhrase as missing:
            return self._lacks(missing)

    def number(self, n: int) -> str:
        return self.phrases.number(n)

    def _lacks(self, missing: MissingPhrase) -> str:
        self.missing.update(missing.keys)
        return "{" + missing.keys[0] + "}"

    def guessing(self, fallback_ms: int) -> Speaker:
        """A speaker that measures nothing: lines measured before keep their lengths, others last fallback_ms."""
        other = copy.copy(self)
        other._length = lambda u: self.known.get(u, fallback_ms)
        return other

    def cue(self, role: Role, text: str, priority: Priority, anchor: Anchor, *, start_ms: int | None = None,
            end_by_ms: int | None = None, before_ms: int | None = None, rate_percent: int = 100,
            skip: Skip | None = None, extra_events: tuple[Event, ...] = (), repeat: bool = False) -> Cue:
        spoken = text
        for pattern, said in self._rules:
            spoken = pattern.sub(_literally(said), spoken)
            if len(spoken) > MAX_SPOKEN_CHARS:  # checked as it grows: respellings can feed each other
                raise PlanError(f'{self._source}: the line "{shortened(text)}" becomes more than '
                                f"{MAX_SPOKEN_CHARS} characters once its words are respelled (`pronounce`); "
                                "a line is spoken whole, so shorten it or its respellings")
        utterance = Utterance(spoken, rate_percent)
        self._order += 1
        duration = 0 if skip else self._length(utterance)
        return Cue(role, text, utterance, duration, priority, anchor, start_ms=start_ms, end_by_ms=end_by_ms,
                   before_ms=before_ms, order=self._order, extra_events=extra_events, skip=skip, repeat=repeat)


def _literally(said: str) -> Callable[[re.Match[str]], str]:
    """A replacement function, so backslashes in a respelling stay literal (a string would be a template)."""
    return lambda _: said


def phrasebook(routine: Routine, options: PlanOptions) -> Phrasebook:
    """The session's words: the language's table, with the routine's own `phrases:` in place of its."""
    return options.phrases.with_overrides(dict(routine.phrases), dict(routine.plural_phrases))


def missing_message(routine: Routine, say: Speaker) -> str:
    """What to do when the session needs phrases that neither its language's table nor the routine gives."""
    order = [*PHRASES, *COUNTS]
    keys = sorted(say.missing, key=lambda k: order.index(k) if k in order else len(order))
    book = say.phrases
    stated = routine.language_line and routine.language == book.language  # not when --language chose another
    where = f"{routine.source}:{routine.language_line}: language" if stated else routine.source
    return (f"{where}: the session is in {book.language}, and {len(keys)} phrase"
            f"{'s it needs are' if len(keys) != 1 else ' it needs is'} in neither its phrase table nor the routine's "
            f"`phrases:`: {', '.join(keys)}" + (f"; {book.missing_hint}" if book.missing_hint else ""))


def respellings(routine: Routine, options: PlanOptions) -> list[tuple[str, str]]:
    own = {word.lower() for word, _ in routine.pronounce}
    return list(routine.pronounce) + [(w, said) for w, said in options.lexicon if w.lower() not in own]


def detail_skip(options: PlanOptions, needs: Detail) -> Skip | None:
    levels = [Detail.BRIEF, Detail.STANDARD, Detail.FULL]
    if levels.index(options.detail) >= levels.index(needs):
        return None
    return Skip(DropCause.DETAIL, f"detail {options.detail.value} leaves it out (spoken with --detail {needs.value})")


def chime(start_ms: int, sound: str, exercise: int | None, options: PlanOptions,
          role: Role = Role.CHIME) -> Event | None:
    if not options.chimes:
        return None
    duration = options.bell_ms if sound == "bell" else options.soft_ms
    name = options.bell_sound if sound == "bell" else options.soft_sound
    return Event(Kind.CHIME, start_ms, duration, Priority.MUST, exercise, role, sound=name)
