"""The plan's data: what the builder makes (a Plan of events, chapters, dropped lines and warnings), what
shapes it (PlanOptions), and the few words the builder says itself."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum

from ..durations import format_clock
from ..engines.base import Utterance
from ..options import default
from ..phrasebook import ENGLISH, Phrasebook


class Kind(str, Enum):
    """What an event puts on the timeline."""

    SPEECH = "speech"
    CHIME = "chime"


class Priority(str, Enum):
    """How much a cue matters when time is short; lower ranks are dropped first."""

    MUST = "must"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {Priority.MUST: 0, Priority.HIGH: 1, Priority.MEDIUM: 2, Priority.LOW: 3}


class Detail(str, Enum):
    """How much of the routine's text is spoken."""

    BRIEF = "brief"  # names, lengths, switch sides, countdown
    STANDARD = "standard"  # plus instructions, tips and "next up" that fit
    FULL = "full"  # plus summaries and adjustments


class Setup(str, Enum):
    """Where an exercise's instructions go when they do not fit in its hold before its first fixed cue."""

    GAP = "gap"  # in a set-up gap before the hold's clock starts (a soft chime starts the hold)
    NONE = "none"  # in the hold only; what does not fit is left out


class Role(StrEnum):
    """What a line or chime is for; the values are what the plan JSON and `voiceguide plan` show.

    A StrEnum, unlike the module's other enums, so an f-string shows the value ("next"), not "Role.NEXT".
    """

    TITLE = "title"
    OVERVIEW = "overview"  # "Six minutes, seven exercises."
    TARGETS = "targets"
    BEGIN = "begin"
    NAME = "name"
    LENGTH = "length"
    SWITCH = "switch"
    COUNTDOWN = "countdown"
    REP = "rep"  # the count at the start of each rep's hold: "One.", ..., "Last one."
    RELAX = "relax"  # "Relax." at the end of each rep's hold
    NEXT = "next"  # "Next up: ..."
    SUMMARY = "summary"
    INSTRUCTION = "instruction"
    ADJUSTMENT = "adjustment"
    TIP = "tip"
    CLOSING = "closing"
    COMPLETE = "complete"
    CHIME = "chime"  # the bell opening a section, the soft chime at a side switch
    HOLD = "hold"  # the soft chime that starts a hold after its set-up gap
    FINAL_CHIME = "final chime"


class DropCause(StrEnum):
    """Why a line of the routine is not spoken; `Dropped.reason` says the same in words."""

    DETAIL = "detail"  # the --detail level leaves it out
    NO_NEXT_UP = "no_next_up"  # --no-next-up leaves it out
    NO_TIME = "no_time"  # no room in its section beside the lines kept
    BEFORE_SWITCH = "before_switch"  # it does not fit before the side switch
    COVERED = "covered"  # a cue says the same ("Hold for a few breaths, then switch sides." / "Switch sides.")

    @property
    def for_lack_of_time(self) -> bool:
        """True when time was short (a longer hold would say it); False when the listener chose to leave it out."""
        return self in (DropCause.NO_TIME, DropCause.BEFORE_SWITCH)


@dataclass(frozen=True)
class Event:
    """One sound on the timeline, at integer milliseconds."""

    kind: Kind
    start_ms: int
    duration_ms: int
    priority: Priority
    exercise: int | None
    """Index of the exercise it belongs to; None for the intro and outro."""
    role: Role
    text: str = ""
    """The words as written, for captions and the plan; empty for chimes."""
    utterance: Utterance | None = None
    sound: str = ""
    """For chimes: the chime's own name (PlanOptions.bell_sound between sections, soft_sound at a side switch)."""

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.duration_ms


@dataclass(frozen=True)
class Chapter:
    """A named span of the session: Intro, each exercise, Outro. An exercise's chapter starts where it is
    announced, so its set-up gap (if any) is part of it."""

    title: str
    start_ms: int
    end_ms: int
    setup_ms: int = 0
    """Time from the chapter's start to the start of the hold's clock: the set-up gap (0 without one)."""

    @property
    def hold_start_ms(self) -> int:
        return self.start_ms + self.setup_ms


@dataclass(frozen=True)
class Dropped:
    """A line of the routine that is not spoken, and why."""

    text: str
    role: Role
    exercise: int | None
    priority: Priority
    cause: DropCause
    reason: str
    """The cause in words, for people; code branches on `cause`."""


@dataclass(frozen=True)
class SetupWarning:
    """An exercise whose set-up instructions are not all spoken for lack of time, and what would keep them."""

    exercise: int
    name: str
    lines: tuple[str, ...]
    hold_ms: int
    """The hold as built."""
    shortest_hold_ms: int | None
    """The shortest hold (a whole 5 s) that keeps every one of them; None when no hold would (reps)."""
    pace: float | None
    """The --pace that makes the written hold at least that long; None when no pace in range does."""
    setup: Setup
    where: str = ""
    """The exercise's place in the routine file ("knee.yaml:12"), where its hold can be changed."""

    @property
    def message(self) -> str:
        first = f'"{shortened(self.lines[0])}"' + (f" and {len(self.lines) - 1} more" if len(self.lines) > 1 else "")
        count = f"{len(self.lines)} set-up instruction{'s' * (len(self.lines) != 1)}"
        them = "them" if len(self.lines) > 1 else "it"
        fixes = []
        if self.shortest_hold_ms is not None:
            pace = f" (--pace {self.pace:g})" if self.pace is not None else ""
            fixes.append(f"a hold of {format_clock(self.shortest_hold_ms)} instead of {format_clock(self.hold_ms)}"
                         f"{pace} would keep {them}")
        if self.setup is Setup.NONE:
            fixes.append(f"--setup gap speaks {them} before the hold starts")
        place = f"{self.where}: " if self.where else ""
        return f"{place}{self.name}: {count} not spoken ({first})" + (f"; {', or '.join(fixes)}" if fixes else "")


@dataclass(frozen=True)
class Plan:
    """The whole session; the MP3, chapters, captions and the `plan` command all derive from it."""

    title: str
    duration_ms: int
    events: tuple[Event, ...]
    chapters: tuple[Chapter, ...]
    dropped: tuple[Dropped, ...]
    setup_added_ms: int = 0
    """Time added beyond the routine's stated total so that every exercise is set up before its hold (the
    stated total's spare time was not enough); 0 when the stated total holds, or none is stated."""
    warnings: tuple[SetupWarning, ...] = ()
    language: str = "en"
    """BCP 47 tag of the language the session speaks (its captions, tags and chapter titles too)."""

    @property
    def speech(self) -> tuple[Event, ...]:
        return tuple(e for e in self.events if e.kind is Kind.SPEECH)

    @property
    def setup_note(self) -> str:
        """What the summary of a build says when set-up gaps made the session longer than its stated total."""
        if not self.setup_added_ms:
            return ""
        names = [c.title for c in self.chapters if c.setup_ms]
        listed = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]
        return (f"Set-up: {format_clock(self.setup_added_ms)} added beyond the stated "
                f"{format_clock(self.duration_ms - self.setup_added_ms)}, so that {listed} "
                f"{'are' if len(names) > 1 else 'is'} set up before the hold starts (the intro and outro "
                "gave what they could)")

    def to_dict(self) -> dict:
        """The JSON form written beside the MP3."""
        return {
            "title": self.title,
            "lang": self.language,
            "duration_ms": self.duration_ms,
            "events": [
                {
                    "kind": e.kind.value,
                    "start_ms": e.start_ms,
                    "end_ms": e.end_ms,
                    "exercise": e.exercise,
                    "role": e.role.value,
                    "priority": e.priority.value,
                    **({"text": e.text} if e.kind is Kind.SPEECH else {"sound": e.sound}),
                }
                for e in self.events
            ],
            "chapters": [
                {"title": c.title, "start_ms": c.start_ms, "end_ms": c.end_ms, "setup_ms": c.setup_ms}
                for c in self.chapters
            ],
            "setup_added_ms": self.setup_added_ms,
            "dropped": [
                {"text": d.text, "role": d.role.value, "exercise": d.exercise,
                 "priority": d.priority.value, "reason": d.reason}
                for d in self.dropped
            ],
            "warnings": [w.message for w in self.warnings],
        }


_DEFAULT_DETAIL = Detail(default("detail"))
_DEFAULT_SETUP = Setup(default("setup"))


@dataclass(frozen=True)
class PlanOptions:
    """Everything besides the routine that shapes the timeline."""

    detail: Detail = _DEFAULT_DETAIL
    countdown: int = default("countdown")
    """Numbers counted down before each exercise ends, one per second; 0 for none."""
    gap_ms: int = 700
    """Least silence between two lines of speech."""
    name_rate_percent: int = 90
    """Exercise names are said this much slower, so they are heard clearly."""
    bell_ms: int = 1800
    """Length of the chime between sections (the shipped bell's length)."""
    soft_ms: int = 1200
    """Length of the softer chime at a side switch."""
    bell_sound: str = "bell"
    """The name of the chime between sections, as the plan shows it (the default chime's)."""
    soft_sound: str = "bell-soft"
    """The name of the softer chime at a side switch."""
    bell_lead_ms: int = 1200
    """Speech after a bell waits this long, so the chime is heard first."""
    soft_lead_ms: int = 400
    """Speech after the soft chime waits this long."""
    chime_clear_ms: int = 200
    """Speech ends at least this long before a chime starts."""
    settle_ms: int = 2000
    """Quiet after the intro's last line, and after a set-up gap's, to get into position."""
    pace: float = default("pace")
    """Multiplies every timed hold (intro, outro and exercises counted in reps keep their length)."""
    total_ms: int | None = default("duration")
    """A target total: timed holds scale in proportion, in whole 5 s, so the session lasts exactly this.
    Wins over pace."""
    intro: bool = default("intro")
    """False starts with the first exercise's chime."""
    next_up: bool = default("next_up")
    """False leaves out "Next up: ...". """
    setup: Setup = _DEFAULT_SETUP
    """Where instructions that do not fit in a hold before its first fixed cue go."""
    sides_each: bool = default("sides") == "each"
    """Two-sided holds done in full on each side (with a switch gap) instead of split in half."""
    switch_gap_ms: int = 5000
    """With sides_each: time between the sides to change position."""
    chimes: bool = True
    """False: no chimes at all (speech keeps its timing)."""
    lexicon: tuple[tuple[str, str], ...] = ()
    """Default respellings (word, how to say it) for every engine, in the session's language; a routine's
    `pronounce` wins."""
    phrases: Phrasebook = ENGLISH
    """The builder's own words, in the session's language (a routine's `phrases:` win)."""


# The builder's own words in English (PlanOptions.phrases says them in the session's language); everything
# else spoken comes from the routine.
SWITCH_TEXT = ENGLISH.text("switch")
BEGIN_TEXT = ENGLISH.text("begin")
COMPLETE_TEXT = ENGLISH.text("complete")
RELAX_TEXT = ENGLISH.text("relax")
LAST_REP_TEXT = ENGLISH.text("last_rep")


def shortened(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
