"""The script builder: turn a routine into a timed Plan of speech and chimes. Pure: no audio, no files.

Speech lengths come from a `measure(utterance) -> ms` function the caller hands in, so the
scheduling rules are tested exactly with a fake one and the real build measures real clips.
"""
from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum, StrEnum
from fractions import Fraction
from itertools import pairwise

from num2words import num2words

from .durations import format_clock, spoken_count, spoken_length
from .engines.base import Utterance
from .errors import PlanError
from .options import OPTIONS, default
from .routine import Exercise, Reps, Routine, Sides, sentences


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

    @property
    def message(self) -> str:
        first = f'"{_shortened(self.lines[0])}"' + (f" and {len(self.lines) - 1} more" if len(self.lines) > 1 else "")
        count = f"{len(self.lines)} set-up instruction{'s' * (len(self.lines) != 1)}"
        them = "them" if len(self.lines) > 1 else "it"
        fixes = []
        if self.shortest_hold_ms is not None:
            pace = f" (--pace {self.pace:g})" if self.pace is not None else ""
            fixes.append(f"a hold of {format_clock(self.shortest_hold_ms)} instead of {format_clock(self.hold_ms)}"
                         f"{pace} would keep {them}")
        if self.setup is Setup.NONE:
            fixes.append(f"--setup gap speaks {them} before the hold starts")
        return f"{self.name}: {count} not spoken ({first})" + (f"; {', or '.join(fixes)}" if fixes else "")


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
    """Default respellings (word, how to say it) for every engine; a routine's `pronounce` wins."""


Measure = Callable[[Utterance], int]

MAX_SPOKEN_CHARS = 2000
"""The longest line the engine is given (after respellings): about two minutes of speech."""


def estimated_measure(rate_wpm: int) -> Measure:
    """A stand-in for real speech when only the shape of a plan is wanted (e.g. `voiceguide check`)."""
    return lambda u: len(u.text.split()) * 60_000 * 100 // (rate_wpm * u.rate_percent) + 200

# The builder's own words; everything else spoken comes from the routine.
SWITCH_TEXT = "Switch sides."
BEGIN_TEXT = "Let's begin."
COMPLETE_TEXT = "Routine complete."


def build_plan(routine: Routine, measure: Measure, options: PlanOptions = PlanOptions()) -> Plan:
    """Lay out the session: intro, every exercise (set-up gap, then its hold chime to chime), outro; fit
    speech by priority."""
    measured: dict[Utterance, int] = {}

    def length(u: Utterance) -> int:
        if u not in measured:
            ms = int(measure(u))
            if ms <= 0:
                raise PlanError(f'speech for "{u.text}" measured {ms} ms; the engine produced no audio')
            measured[u] = ms
        return measured[u]

    say = _Speaker(_respellings(routine, options), options, length, routine.source, known=measured)
    try:
        plan = _lay_out(routine, say, options)
        said = None
        for _ in range(_OVERVIEW_ROUNDS):
            # time added beyond the stated total changes the total the intro says, and so the intro's length
            if not plan.setup_added_ms or plan.duration_ms == said:
                break
            said = plan.duration_ms
            plan = _lay_out(routine, say, options, said)
    except _TotalTooShort as short:
        raise PlanError(_total_too_short_message(routine, say, options, short.outside_ms, short.setup_ms)) from None
    return replace(plan, warnings=_setup_warnings(routine, say, options, plan))


_OVERVIEW_ROUNDS = 10
"""Each round lengthens the total by at least 5 s, for a few words more in the intro: two rounds do in practice."""


def _lay_out(routine: Routine, say: _Speaker, options: PlanOptions, said_total_ms: int | None = None) -> Plan:
    """build_plan's work with a given speaker, so trial totals reuse its measured lengths; `said_total_ms` is
    the total the intro says when time was added beyond the stated one (the session lasts at least that)."""
    spoken = said_total_ms if said_total_ms is not None else _spoken_total(routine, options)
    intro = _intro_cues(routine, say, options, spoken) if options.intro else []
    outro = _outro_cues(routine, say, options)
    timing = _timing(routine, say, options, _Room.of(intro, outro, options), said_total_ms)

    events: list[Event] = []
    dropped: list[Dropped] = []
    chapters = []
    if options.intro:
        chapters.append(Chapter("Intro", 0, timing.intro_ms))
        # the intro's words end settle_ms before the first chime: time to get into position
        speech_end = timing.intro_ms - options.settle_ms + options.chime_clear_ms
        _add(events, dropped, _fit(Section("the intro", 0, speech_end, None, _chime(0, "bell", None, options)),
                                   intro, options))
    start = timing.intro_ms
    for index, exercise in enumerate(routine.exercises):
        setup_ms, hold_ms = timing.setups_ms[index], timing.holds_ms[index]
        _add(events, dropped, _exercise(routine, index, start, setup_ms, hold_ms, say, options))
        end = start + setup_ms + hold_ms
        chapters.append(Chapter(exercise.name, start, end, setup_ms))
        start = end
    total = start + timing.outro_ms
    bell_ms = options.bell_ms if options.chimes else 0
    outro_section = Section("the outro", start, total - bell_ms, None, _chime(start, "bell", None, options))
    _add(events, dropped, _fit(outro_section, outro, options))
    final = _chime(total - bell_ms, "bell", None, options, role=Role.FINAL_CHIME)
    if final is not None:
        events.append(final)
    chapters.append(Chapter("Outro", start, total))
    events.sort(key=lambda e: (e.start_ms, e.kind is Kind.SPEECH))
    return Plan(routine.title, total, tuple(events), tuple(chapters), tuple(dropped), timing.added_ms)


def _add(events: list[Event], dropped: list[Dropped], fitted: tuple[list[Event], list[Dropped]]) -> None:
    events.extend(fitted[0])
    dropped.extend(fitted[1])


# --- how long everything lasts: holds, set-up gaps, intro and outro ----------------------------------------


@dataclass(frozen=True)
class _Room:
    """What the intro and outro need (their must cues) and want (all their lines)."""

    intro_min: int
    intro_want: int
    outro_min: int
    outro_want: int

    @classmethod
    def of(cls, intro: list[Cue], outro: list[Cue], options: PlanOptions) -> _Room:
        closing_ms = options.chime_clear_ms + (options.bell_ms if options.chimes else 0)
        outro_min = _section_need(outro, options, {Priority.MUST}) + closing_ms
        outro_want = _section_need(outro, options, set(Priority)) + closing_ms
        if not options.intro:
            return cls(0, 0, outro_min, outro_want)
        return cls(_section_need(intro, options, {Priority.MUST}) + options.settle_ms,
                   _section_need(intro, options, set(Priority)) + options.settle_ms, outro_min, outro_want)

    @property
    def least(self) -> int:
        return self.intro_min + self.outro_min

    @property
    def wanted(self) -> int:
        return self.intro_want + self.outro_want

    def share(self, outside_ms: int) -> tuple[int, int]:
        """Split time between intro and outro: the intro gets what its must and high cues need plus time to
        settle, the outro the rest (at least its must cues); time to spare is shared."""
        if not self.intro_want:
            return 0, outside_ms
        surplus = outside_ms - self.wanted
        if surplus > 0:  # time to spare: half of it lets the listener settle before the first exercise
            intro_ms = self.intro_want + surplus // 2
        else:
            intro_ms = max(self.intro_min, min(self.intro_want, outside_ms - self.outro_min))
        return intro_ms, outside_ms - intro_ms


@dataclass(frozen=True)
class _Timing:
    holds_ms: list[int]
    """Each exercise's hold, chime to chime (for reps, from the first rep to the end of the last relax)."""
    setups_ms: list[int]
    """Each exercise's set-up gap before its hold; 0 where the instructions fit in the hold."""
    intro_ms: int
    outro_ms: int
    added_ms: int
    """Time added beyond the stated total for set-up gaps its spare time could not pay for."""


def _timing(routine: Routine, say: _Speaker, options: PlanOptions, room: _Room,
            said_total_ms: int | None) -> _Timing:
    """The lengths of everything. Set-up gaps are paid first from a stated total's spare time (the intro and
    outro shrink toward their must cues); what that cannot pay is added beyond the stated total, or, with a
    target total (--duration), taken from the holds."""
    spare = None
    if options.intro and routine.duration_ms is not None:
        spare = routine.duration_ms - routine.holds_ms
        if spare < room.least:
            raise PlanError(
                f"{routine.source}:{routine.duration_line}: the stated total {format_clock(routine.duration_ms)} "
                f"leaves {spare / 1000:.1f} s beside {format_clock(routine.holds_ms)} of holds, but the intro and "
                f"outro need at least {room.least / 1000:.1f} s; raise `duration` or remove it")
    if options.total_ms is None:
        holds = exercise_lengths(routine, options)
        setups = [_setup_ms(routine, i, hold, say, options) for i, hold in enumerate(holds)]
        if spare is None:
            return _Timing(holds, setups, *room.share(room.wanted), 0)
        if said_total_ms is None and spare - sum(setups) >= room.least:
            return _Timing(holds, setups, *room.share(spare - sum(setups)), 0)
        # not enough: the intro and outro keep their must cues, and the total grows to a whole 5 s
        total = max(_up_to(sum(holds) + sum(setups) + room.least, _ROUND_MS), said_total_ms or 0)
        return _Timing(holds, setups, *room.share(total - sum(holds) - sum(setups)),
                       total - (spare + sum(holds)))
    if all(e.reps for e in routine.exercises):
        raise PlanError(f"{routine.source}: every exercise is counted in reps, which keep the timing written; "
                        "--duration has no timed hold to stretch: leave it out")
    outside = spare if spare is not None else room.wanted
    payable = outside - room.least if spare is not None else 0
    setups = [0] * len(routine.exercises)
    while True:  # set-up gaps shorten the holds, and shorter holds may need set-up gaps: until nothing changes
        beyond = max(0, sum(setups) - payable)
        budget_ms = options.total_ms - outside - beyond
        if budget_ms < _least_holds_ms(routine, options):
            raise _TotalTooShort(outside + beyond, sum(setups))
        holds = exercise_lengths(routine, options, budget_ms)
        grown = [max(was, _setup_ms(routine, i, hold, say, options))
                 for i, (was, hold) in enumerate(zip(setups, holds, strict=True))]
        if grown == setups:
            break
        setups = grown
    return _Timing(holds, setups, *room.share(options.total_ms - sum(holds) - sum(setups)), 0)


_ROUND_MS = 5000
"""Lengths the session chooses (a scaled hold, a total grown for set-up) are whole multiples of this."""
_LEAST_HOLD_MS = _ROUND_MS
"""The shortest a target total may scale a hold to (on each side, with --sides each)."""


def _up_to(ms: int, step: int) -> int:
    return -(-ms // step) * step


def exercise_lengths(routine: Routine, options: PlanOptions, budget_ms: int | None = None) -> list[int]:
    """How long each exercise's hold lasts, chime to chime (not counting a set-up gap before it): its hold
    times the pace, or scaled to a budget; an exercise counted in reps keeps the length its reps make.

    With `sides_each`, a two-sided hold is done in full on each side with a switch gap between. Holds scaled
    to a budget keep their proportions in whole 5 s (on each side) and add up to at most the budget, less
    than 5 s short of it (the rest goes to the intro, outro and set-up gaps).
    """
    timed = [i for i, e in enumerate(routine.exercises) if e.reps is None]
    sides = [2 if options.sides_each and e.sides is Sides.BOTH else 1 for e in routine.exercises]
    fixed = [options.switch_gap_ms if n == 2 else 0 for n in sides]
    out = [e.duration_ms for e in routine.exercises]  # reps keep theirs
    raw = [routine.exercises[i].duration_ms * sides[i] for i in timed]
    if budget_ms is None:
        held = _apportion(raw, round(sum(raw) * options.pace)) if timed else []
    else:
        least_ms = _least_holds_ms(routine, options)
        if budget_ms < least_ms:  # build_plan checks first and says which total would do
            raise PlanError(f"{routine.source}: {len(out)} exercises need at least {format_clock(least_ms)} "
                            f"between the intro and outro; ask for a longer --duration")
        free_ms = budget_ms - sum(out[i] for i in range(len(out)) if i not in timed) - sum(fixed)
        steps = _apportion_steps(raw, [sides[i] for i in timed], free_ms // _ROUND_MS)
        held = [n * _ROUND_MS * sides[i] for n, i in zip(steps, timed, strict=True)]
    for i, ms in zip(timed, held, strict=True):
        out[i] = ms + fixed[i]
    return out


def _apportion(weights: list[int], total: int) -> list[int]:
    """Whole numbers in proportion to `weights` that add up to `total` exactly (largest remainder)."""
    whole = sum(weights)
    shares = [w * total / whole for w in weights]
    out = [int(x) for x in shares]
    by_remainder = sorted(range(len(weights)), key=lambda i: (out[i] - shares[i], i))
    for i in by_remainder[: total - sum(out)]:
        out[i] += 1
    return out


def _apportion_steps(weights: list[int], costs: list[int], units: int) -> list[int]:
    """Steps per item, in proportion to `weights`, where a step of item i costs `costs[i]` units: at least one
    step each, at most `units` in all, and fewer than the cheapest step left over (largest remainder)."""
    whole = sum(weights)
    ideal = [Fraction(w * units, whole * c) for w, c in zip(weights, costs, strict=True)]
    steps = [max(1, int(x)) for x in ideal]
    while sum(s * c for s, c in zip(steps, costs)) > units:  # the one-step floor overspent: take back
        i = max((i for i, s in enumerate(steps) if s > 1), key=lambda i: (steps[i] - ideal[i], -i))
        steps[i] -= 1
    left = units - sum(s * c for s, c in zip(steps, costs))
    for i in sorted(range(len(steps)), key=lambda i: (steps[i] - ideal[i], i)):
        if costs[i] <= left:
            steps[i] += 1
            left -= costs[i]
    while any(c <= left for c in costs):  # what is left after every remainder had its step
        i = min(i for i, c in enumerate(costs) if c <= left)
        steps[i] += 1
        left -= costs[i]
    return steps


def _least_holds_ms(routine: Routine, options: PlanOptions) -> int:
    """The least time the exercises can be scaled to: the shortest hold each (on each side), the switch gaps,
    and the exercises counted in reps as they are."""
    least = 0
    for e in routine.exercises:
        if e.reps:
            least += e.duration_ms
        elif options.sides_each and e.sides is Sides.BOTH:
            least += 2 * _LEAST_HOLD_MS + options.switch_gap_ms
        else:
            least += _LEAST_HOLD_MS
    return least


class _TotalTooShort(PlanError):
    """A target total leaves the holds less than their least; build_plan says which total would fit."""

    def __init__(self, outside_ms: int, setup_ms: int = 0) -> None:
        super().__init__(f"the target total leaves too little time beside {outside_ms} ms of intro and outro")
        self.outside_ms = outside_ms
        self.setup_ms = setup_ms


def _total_too_short_message(routine: Routine, say: _Speaker, options: PlanOptions, outside_ms: int,
                             setup_ms: int = 0) -> str:
    asked = options.total_ms or 0
    least = _least_total_ms(routine, say, options)
    fix = (f"the shortest session that fits is {format_clock(least)}, so ask for at least "
           f"--duration {format_clock(least)}" if least is not None else "ask for a longer --duration")
    beside = "the intro, outro and set-up gaps" if setup_ms else "the intro and outro"
    if options.setup is Setup.GAP:
        without = _least_total_ms(routine, say, replace(options, setup=Setup.NONE))
        if without is not None and least is not None and without < least:
            fix += (f" (or {format_clock(without)} with --setup none, which leaves out the instructions that do "
                    "not fit in a hold)")
    return (f"{routine.source}: --duration {format_clock(asked)} leaves too little time for "
            f"{len(routine.exercises)} exercise{'s' * (len(routine.exercises) != 1)} after {beside} "
            f"({format_clock(_whole_seconds_up(outside_ms))}); {fix}")


_LONGEST_SEARCHED_MS = 24 * 3_600_000


def _least_total_ms(routine: Routine, say: _Speaker, options: PlanOptions) -> int | None:
    """The shortest whole-second target total the session fits in; None if not even a day does.

    Searched, not computed: the overview says the total and each exercise says its length, so
    what must be said, and its length, changes with the total.
    """
    def fits(total_ms: int) -> bool:
        try:
            _lay_out(routine, say, replace(options, total_ms=total_ms))
        except PlanError:
            return False
        return True

    low, high = 0, 1000  # low never fits (nothing does in no time); find a high that does
    while not fits(high):
        low, high = high, high * 2
        if high > _LONGEST_SEARCHED_MS:
            return None
    while high - low > 1000:
        middle = _whole_seconds_up((low + high) // 2)
        if fits(middle):
            high = middle
        else:
            low = middle
    return high


def _whole_seconds_up(ms: int) -> int:
    return -(-ms // 1000) * 1000


def _spoken_total(routine: Routine, options: PlanOptions) -> int | None:
    """The session's total where it is known before any speech is measured (the intro says it)."""
    if options.total_ms is not None:
        return options.total_ms
    if routine.duration_ms is None:
        return None
    return routine.duration_ms - routine.holds_ms + sum(exercise_lengths(routine, options))


def utterances(routine: Routine, options: PlanOptions = PlanOptions()) -> list[Utterance]:
    """The lines the plan will consider, in order and without repeats, so all can be synthesised first.

    With a target total and no stated one, exercise lengths depend on the measured intro, so
    their spoken lengths are left out here (the plan measures them when it gets to them).
    """
    seen: dict[Utterance, None] = {}
    say = _Speaker(_respellings(routine, options), options, lambda u: seen.setdefault(u) or 1, routine.source)
    total = _spoken_total(routine, options)
    lengths: list[int] | None = None
    if options.total_ms is None:
        lengths = exercise_lengths(routine, options)
    elif routine.duration_ms is not None:  # the stated total fixes what the intro and outro get
        budget_ms = options.total_ms - (routine.duration_ms - routine.holds_ms)
        if budget_ms >= _least_holds_ms(routine, options):  # else build_plan says which total fits
            lengths = exercise_lengths(routine, options, budget_ms)
    cues = _intro_cues(routine, say, options, total) if options.intro else []
    cues += _outro_cues(routine, say, options)
    for index, exercise in enumerate(routine.exercises):
        span = lengths[index] if lengths else exercise.duration_ms
        if exercise.reps:
            cues += _setup_cues(routine, index, span, say, options) + _rep_cues(routine, index, 0, say, options)
        else:  # in the hold, or its instructions in a set-up gap before it: the same lines
            cues += _exercise_cues(routine, index, 0, span, say, options)
    return list(seen)


# --- cues: the candidate lines of each section, before placement ---------------------------------


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


class _Speaker:
    """Makes cues from routine text: applies pronunciations, measures, keeps order."""

    def __init__(self, pronounce: Iterable[tuple[str, str]], options: PlanOptions,
                 length: Callable[[Utterance], int], source: str = "<routine>",
                 known: Mapping[Utterance, int] | None = None) -> None:
        self._rules = [(re.compile(rf"(?<!\w){re.escape(w)}(?!\w)", re.IGNORECASE), said) for w, said in pronounce]
        self._options = options
        self._source = source
        self._length = length
        self._order = 0
        self.known: Mapping[Utterance, int] = known if known is not None else {}
        """Lengths measured so far."""
        self.trials: dict[tuple[int, int, PlanOptions], int] = {}
        """Set-up gaps worked out so far, by exercise, hold and options: trial totals ask again."""

    def guessing(self, fallback_ms: int) -> _Speaker:
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
                raise PlanError(f'{self._source}: the line "{_shortened(text)}" becomes more than '
                                f"{MAX_SPOKEN_CHARS} characters once its words are respelled (`pronounce`); "
                                "a line is spoken whole, so shorten it or its respellings")
        utterance = Utterance(spoken, rate_percent)
        self._order += 1
        duration = 0 if skip else self._length(utterance)
        return Cue(role, text, utterance, duration, priority, anchor, start_ms=start_ms, end_by_ms=end_by_ms,
                   before_ms=before_ms, order=self._order, extra_events=extra_events, skip=skip, repeat=repeat)


def _shortened(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _literally(said: str) -> Callable[[re.Match[str]], str]:
    """A replacement function, so backslashes in a respelling stay literal (a string would be a template)."""
    return lambda _: said


def _respellings(routine: Routine, options: PlanOptions) -> list[tuple[str, str]]:
    own = {word.lower() for word, _ in routine.pronounce}
    return list(routine.pronounce) + [(w, said) for w, said in options.lexicon if w.lower() not in own]


def _detail_skip(options: PlanOptions, needs: Detail) -> Skip | None:
    levels = [Detail.BRIEF, Detail.STANDARD, Detail.FULL]
    if levels.index(options.detail) >= levels.index(needs):
        return None
    return Skip(DropCause.DETAIL, f"detail {options.detail.value} leaves it out (spoken with --detail {needs.value})")


def _intro_cues(routine: Routine, say: _Speaker, options: PlanOptions, total_ms: int | None) -> list[Cue]:
    count = len(routine.exercises)
    length = spoken_length(total_ms) if total_ms else None
    overview = ", ".join(p for p in (length, spoken_count(count, "exercise")) if p) + "."
    overview = overview[0].upper() + overview[1:]
    cues = [
        say.cue(Role.TITLE, f"{routine.title}.", Priority.MUST, Anchor.HEAD,
                rate_percent=options.name_rate_percent),
        say.cue(Role.OVERVIEW, overview, Priority.MUST, Anchor.HEAD),
    ]
    for i, sentence in enumerate(sentences(routine.targets)):
        if i == 0:
            cues.append(say.cue(Role.TARGETS, sentence, Priority.HIGH, Anchor.FLOW,
                                skip=_detail_skip(options, Detail.STANDARD)))
        else:
            cues.append(say.cue(Role.TARGETS, sentence, Priority.LOW, Anchor.FLOW,
                                skip=_detail_skip(options, Detail.FULL)))
    cues.append(say.cue(Role.BEGIN, BEGIN_TEXT, Priority.MUST, Anchor.FLOW))
    return cues


def _outro_cues(routine: Routine, say: _Speaker, options: PlanOptions) -> list[Cue]:
    cues = [say.cue(Role.CLOSING, s, Priority.HIGH, Anchor.FLOW, skip=_detail_skip(options, Detail.STANDARD))
            for s in sentences(routine.closing.text)]
    cues.append(say.cue(Role.COMPLETE, COMPLETE_TEXT, Priority.MUST, Anchor.TAIL))
    return cues


def _exercise_cues(routine: Routine, index: int, start: int, length_ms: int, say: _Speaker,
                   options: PlanOptions) -> list[Cue]:
    """Every line of a timed exercise in one section, its hold (no set-up gap)."""
    exercise = routine.exercises[index]
    cues = _head_cues(exercise, length_ms, say, options)
    switch_at, timed = _fixed_cues(routine, index, start, length_ms, say, options)
    cues += timed
    cues += _summary_cues(exercise, say, options, switch_at)
    cues += _instruction_cues(exercise, say, options, before_ms=switch_at)
    return cues + _hold_extras(exercise, say, options)


def _head_cues(exercise: Exercise, length_ms: int, say: _Speaker, options: PlanOptions) -> list[Cue]:
    """The exercise's name and length."""
    if exercise.reps:
        said_length = _reps_length(exercise.reps, exercise.sides is Sides.BOTH)
    elif options.sides_each and exercise.sides is Sides.BOTH:
        said_length = f"{spoken_length((length_ms - options.switch_gap_ms) // 2)} each side."
    else:
        said_length = f"{spoken_length(length_ms)}."
    return [
        say.cue(Role.NAME, f"{exercise.name}.", Priority.MUST, Anchor.HEAD, rate_percent=options.name_rate_percent),
        say.cue(Role.LENGTH, said_length, Priority.MUST, Anchor.HEAD),
    ]


def _reps_length(reps: Reps, both: bool) -> str:
    """"Ten reps of five seconds." ("..., each side." for both sides)."""
    text = f"{spoken_count(reps.count, 'rep')} of {spoken_length(reps.hold_ms).lower()}"
    return text[0].upper() + text[1:] + (", each side." if both else ".")


def _fixed_cues(routine: Routine, index: int, start: int, length_ms: int, say: _Speaker,
                options: PlanOptions) -> tuple[int | None, list[Cue]]:
    """A timed hold's switch (at its midpoint), countdown and "next up"; and when the switch is."""
    exercise = routine.exercises[index]
    end = start + length_ms
    cues = []
    switch_at = None
    if exercise.sides is Sides.BOTH:
        middle = start + length_ms // 2
        switch_at = middle
        soft = _chime(middle, "soft", index, options)
        cues.append(say.cue(Role.SWITCH, SWITCH_TEXT, Priority.MUST, Anchor.FIXED,
                            start_ms=middle + options.soft_lead_ms, extra_events=(soft,) if soft else ()))
    countdown_start = end - options.countdown * 1000
    for n in range(options.countdown, 0, -1):
        number = num2words(n).capitalize()
        cues.append(say.cue(Role.COUNTDOWN, f"{number}.", Priority.MUST, Anchor.FIXED, start_ms=end - n * 1000))
    cues += _next_up_cues(routine, index, say, options, countdown_start - options.gap_ms if options.countdown
                          else None)
    return switch_at, cues


def _next_up_cues(routine: Routine, index: int, say: _Speaker, options: PlanOptions,
                  end_by_ms: int | None) -> list[Cue]:
    if index + 1 >= len(routine.exercises):
        return []
    no_next = None if options.next_up else Skip(DropCause.NO_NEXT_UP, "--no-next-up leaves it out")
    return [say.cue(Role.NEXT, f"Next up: {routine.exercises[index + 1].name}.", Priority.MEDIUM, Anchor.TAIL,
                    end_by_ms=end_by_ms, skip=_detail_skip(options, Detail.STANDARD) or no_next)]


def _summary_cues(exercise: Exercise, say: _Speaker, options: PlanOptions, switch_at: int | None) -> list[Cue]:
    if not exercise.summary:
        return []
    return [say.cue(Role.SUMMARY, exercise.summary, Priority.LOW, Anchor.FLOW,
                    skip=_detail_skip(options, Detail.FULL), before_ms=switch_at)]


def _instruction_cues(exercise: Exercise, say: _Speaker, options: PlanOptions, *, before_ms: int | None = None,
                      skip_covered: bool = False, skip_all: Skip | None = None) -> list[Cue]:
    """The set-up instructions, in order; with `skip_covered`, those a cue says anyway are left out."""
    covered = _covered_lines(exercise) if skip_covered else set()
    return [say.cue(Role.INSTRUCTION, text, Priority.HIGH, Anchor.FLOW, before_ms=before_ms,
                    skip=_detail_skip(options, Detail.STANDARD) or skip_all
                    or (_COVERED_SKIP if text in covered else None))
            for text in exercise.instructions]


def _hold_extras(exercise: Exercise, say: _Speaker, options: PlanOptions) -> list[Cue]:
    """Adjustments and tips, spread over the hold where there is room (tips again at --detail full)."""
    full = _detail_skip(options, Detail.FULL)
    standard = _detail_skip(options, Detail.STANDARD)
    cues = [say.cue(Role.ADJUSTMENT, text, Priority.LOW, Anchor.SPREAD, skip=full) for text in exercise.adjustments]
    cues += [say.cue(Role.TIP, text, Priority.MEDIUM, Anchor.SPREAD, skip=standard) for text in exercise.tips]
    if options.detail is Detail.FULL:  # long holds hear their tips again, where there is room
        cues += [say.cue(Role.TIP, text, Priority.LOW, Anchor.SPREAD, repeat=True) for text in exercise.tips]
    return cues


# --- set-up gaps and reps ---------------------------------------------------------------------------------

RELAX_TEXT = "Relax."
LAST_REP_TEXT = "Last one."

_COVERED_REASON = f'the "{SWITCH_TEXT}" cue says it'
_COVERED_SKIP = Skip(DropCause.COVERED, _COVERED_REASON)
_HOLD_WORDS = frozenset({"for", "a", "few", "breath", "breaths", "breathing", "the", "stretch", "pose", "position",
                         "it", "here", "with", "while", "steady", "steadily", "slow", "slowly", "deep", "deeply",
                         "calm", "calmly", "and"})
_SWITCH_LINE = re.compile(r"hold(?P<how>(?: [a-z]+)*?),? (?:and )?then switch sides(?: halfway(?: through)?)?[.!]?")


def covered_by_switch(line: str) -> bool:
    """True when an instruction only says what the "Switch sides." cue says: "Hold", how to breathe, "then
    switch sides" ("Hold for a few breaths, then switch sides."). Any other word (what to hold, where, for how
    long, a comma-separated list) keeps it a set-up line that must be said."""
    found = _SWITCH_LINE.fullmatch(" ".join(line.lower().split()))
    return found is not None and set(found.group("how").split()) <= _HOLD_WORDS


def _covered_lines(exercise: Exercise) -> set[str]:
    """The exercise's instructions a cue says anyway: only where a switch cue is spoken (both sides)."""
    if exercise.sides is not Sides.BOTH:
        return set()
    return {text for text in exercise.instructions if covered_by_switch(text)}


def _relabel_covered(exercise: Exercise, dropped: list[Dropped]) -> list[Dropped]:
    """A line left out for lack of time that a cue says anyway is reported as covered by that cue."""
    covered = _covered_lines(exercise)
    return [replace(d, cause=DropCause.COVERED, reason=_COVERED_REASON)
            if d.role is Role.INSTRUCTION and d.cause.for_lack_of_time and d.text in covered else d
            for d in dropped]


def _setup_cues(routine: Routine, index: int, hold_ms: int, say: _Speaker, options: PlanOptions) -> list[Cue]:
    """What is said in a set-up gap: the name and length, then every instruction a cue does not say anyway
    (an exercise in reps with --setup none: none of them)."""
    exercise = routine.exercises[index]
    none = None
    if options.setup is Setup.NONE and exercise.reps:
        none = Skip(DropCause.NO_TIME, f'--setup none: no set-up gap before the first rep of exercise {index + 1} '
                                       f'"{exercise.name}"; spoken with --setup gap')
    return _head_cues(exercise, hold_ms, say, options) + _instruction_cues(exercise, say, options, skip_covered=True,
                                                                           skip_all=none)


def _setup_need(cues: list[Cue], options: PlanOptions) -> int:
    """A set-up gap's length: its lines one after another after the bell, then time to settle into position."""
    return _section_need(cues, options, set(Priority)) + options.settle_ms


def _setup_ms(routine: Routine, index: int, hold_ms: int, say: _Speaker, options: PlanOptions) -> int:
    """The set-up gap before an exercise's hold: 0 when its instructions fit in the hold before its first fixed
    cue (or with --setup none); else the time to say its name, length and instructions. An exercise in reps
    always has one: its first rep starts the clock."""
    exercise = routine.exercises[index]
    if exercise.reps is None and options.setup is Setup.NONE:
        return 0
    key = (index, hold_ms, replace(options, total_ms=None))
    if key not in say.trials:
        needed = True
        if exercise.reps is None:
            _, dropped = _fit(_hold_section(routine, index, 0, hold_ms, options),
                              _exercise_cues(routine, index, 0, hold_ms, say, options), options)
            covered = _covered_lines(exercise)
            needed = any(d.role is Role.INSTRUCTION and d.cause.for_lack_of_time and d.text not in covered
                         for d in dropped)
        say.trials[key] = _setup_need(_setup_cues(routine, index, hold_ms, say, options), options) if needed else 0
    return say.trials[key]


def _hold_section(routine: Routine, index: int, start: int, hold_ms: int, options: PlanOptions,
                  opening: Role | None = Role.CHIME) -> Section:
    """An exercise's hold as a section: opened by the bell (no set-up gap), by the soft hold chime (after
    one), or by nothing (the first rep's count)."""
    exercise = routine.exercises[index]
    label = f'exercise {index + 1} "{exercise.name}"'
    where = f"{routine.source}:{exercise.line}"
    if opening is Role.CHIME:
        return Section(label, start, start + hold_ms, index, _chime(start, "bell", index, options), where)
    if opening is Role.HOLD:
        return Section(label, start, start + hold_ms, index, _chime(start, "soft", index, options, role=Role.HOLD),
                       where, lead_ms=options.soft_lead_ms)
    assert exercise.reps is not None  # only reps start their hold without a chime
    reps = exercise.reps
    holds = tuple((start + at, start + at + reps.hold_ms) for at in reps.starts_ms(exercise.sides))
    return Section(label, start, start + hold_ms, index, None, where, lead_ms=0, quiet=holds,
                   fix="lengthen the exercise's hold or relax (--pace leaves reps as written), or speak faster "
                       "(--rate)")


def _exercise(routine: Routine, index: int, start: int, setup_ms: int, hold_ms: int, say: _Speaker,
              options: PlanOptions) -> tuple[list[Event], list[Dropped]]:
    """Place one exercise: its hold alone, or a set-up gap (name, length, instructions) and then its hold."""
    exercise = routine.exercises[index]
    if not setup_ms:
        events, dropped = _fit(_hold_section(routine, index, start, hold_ms, options),
                               _exercise_cues(routine, index, start, hold_ms, say, options), options)
        return events, _relabel_covered(exercise, dropped)
    hold_start = start + setup_ms
    setup = Section(f'the set-up of exercise {index + 1} "{exercise.name}"', start,
                    hold_start - options.settle_ms + options.chime_clear_ms, index, _chime(start, "bell", index, options),
                    f"{routine.source}:{exercise.line}")
    events, dropped = _fit(setup, _setup_cues(routine, index, hold_ms, say, options), options)
    if exercise.reps:
        section = _hold_section(routine, index, hold_start, hold_ms, options, opening=None)
        cues = _rep_cues(routine, index, hold_start, say, options)
    else:
        section = _hold_section(routine, index, hold_start, hold_ms, options, opening=Role.HOLD)
        switch_at, cues = _fixed_cues(routine, index, hold_start, hold_ms, say, options)
        cues += _summary_cues(exercise, say, options, switch_at) + _hold_extras(exercise, say, options)
    held, left_out = _fit(section, cues, options)
    return events + held, dropped + left_out


def _rep_cues(routine: Routine, index: int, start: int, say: _Speaker, options: PlanOptions) -> list[Cue]:
    """The count at the start of each rep's hold ("One.", ..., "Last one."), "Relax." at its end; with both
    sides, all reps on one side, "Switch sides." (with the soft chime) where the last relax on it starts (a
    longer one), then all on the other. Tips go in relax gaps long enough for them; "next up" after the last
    "Relax.", or while the last rep is held when that relax is too short; no countdown: the count is one."""
    exercise = routine.exercises[index]
    reps = exercise.reps
    assert reps is not None  # the caller's exercise is counted in reps
    both = exercise.sides is Sides.BOTH
    cues = []
    switch_at = None
    for n, offset in enumerate(reps.starts_ms(exercise.sides)):
        side, k = divmod(n, reps.count)
        at = start + offset
        count = LAST_REP_TEXT if k + 1 == reps.count > 1 else f"{num2words(k + 1).capitalize()}."
        cues.append(say.cue(Role.REP, count, Priority.MUST, Anchor.FIXED, start_ms=at))
        relax_at = at + reps.hold_ms
        if both and side == 0 and k + 1 == reps.count:
            switch_at = relax_at
            soft = _chime(relax_at, "soft", index, options)
            cues.append(say.cue(Role.SWITCH, SWITCH_TEXT, Priority.MUST, Anchor.FIXED,
                                start_ms=relax_at + options.soft_lead_ms, extra_events=(soft,) if soft else ()))
        else:
            cues.append(say.cue(Role.RELAX, RELAX_TEXT, Priority.MUST, Anchor.FIXED, start_ms=relax_at))
    last = start + reps.starts_ms(exercise.sides)[-1]
    relax = next(c for c in cues if c.start_ms == last + reps.hold_ms)
    after = _next_up_cues(routine, index, say, options, None)
    if after and relax.duration_ms + options.gap_ms + after[0].duration_ms > reps.relax_ms - options.chime_clear_ms:
        # no room after the last "Relax.": said while the last rep is held, as a timed hold says it before
        # its countdown
        after = [replace(after[0], end_by_ms=last + reps.hold_ms - options.gap_ms)]
    cues += after
    cues += _summary_cues(exercise, say, options, switch_at)
    return cues + _hold_extras(exercise, say, options)


# --- warnings: set-up instructions still not spoken ------------------------------------------------------


def _setup_warnings(routine: Routine, say: _Speaker, options: PlanOptions, plan: Plan) -> tuple[SetupWarning, ...]:
    """One warning per exercise whose instructions are not all spoken for lack of time (only with
    --setup none: a set-up gap says them all), with the shortest hold that would keep them."""
    warnings = []
    offset = 1 if options.intro else 0
    for index, exercise in enumerate(routine.exercises):
        lines = tuple(d.text for d in plan.dropped
                      if d.exercise == index and d.role is Role.INSTRUCTION and d.cause.for_lack_of_time)
        if not lines:
            continue
        chapter = plan.chapters[index + offset]
        hold_ms = chapter.end_ms - chapter.hold_start_ms
        shortest = None if exercise.reps else _shortest_hold(routine, index, hold_ms, set(lines), say, options)
        warnings.append(SetupWarning(index, exercise.name, lines, hold_ms, shortest,
                                     _pace_for(exercise, shortest, options), options.setup))
    return tuple(warnings)


def _shortest_hold(routine: Routine, index: int, hold_ms: int, lines: set[str], say: _Speaker,
                   options: PlanOptions) -> int | None:
    """The shortest whole-5 s hold that keeps `lines`, with the lines measured so far (a length said aloud
    that was not measured is taken to be as long as the one said now): a hint costs no speech."""
    now = next(c for c in _head_cues(routine.exercises[index], hold_ms, say, options) if c.role is Role.LENGTH)
    guess = say.guessing(now.duration_ms)

    def keeps(ms: int) -> bool:
        try:
            _, dropped = _fit(_hold_section(routine, index, 0, ms, options),
                              _exercise_cues(routine, index, 0, ms, guess, options), options)
        except PlanError:
            return False
        return not lines & {d.text for d in dropped}

    low, high = hold_ms, _up_to(hold_ms + 1, _ROUND_MS)
    while not keeps(high):
        low, high = high, _up_to(high * 2, _ROUND_MS)
        if high > _LONGEST_SEARCHED_MS:
            return None
    while high - low > _ROUND_MS:
        middle = _up_to((low + high) // 2, _ROUND_MS)
        if middle >= high:
            break
        low, high = (low, middle) if keeps(middle) else (middle, high)
    return high


def _pace_for(exercise: Exercise, hold_ms: int | None, options: PlanOptions) -> float | None:
    """The --pace (in tenths) that makes the written hold at least `hold_ms`; None beside --duration, or
    when no pace in range does."""
    if hold_ms is None or options.total_ms is not None:
        return None
    each = options.sides_each and exercise.sides is Sides.BOTH
    held = hold_ms - (options.switch_gap_ms if each else 0)
    pace = math.ceil(held * 10 / (exercise.duration_ms * (2 if each else 1))) / 10
    low, high = OPTIONS["pace"].range or (0, 0)
    return pace if low <= pace <= high else None


def _chime(start_ms: int, sound: str, exercise: int | None, options: PlanOptions,
           role: Role = Role.CHIME) -> Event | None:
    if not options.chimes:
        return None
    duration = options.bell_ms if sound == "bell" else options.soft_ms
    name = options.bell_sound if sound == "bell" else options.soft_sound
    return Event(Kind.CHIME, start_ms, duration, Priority.MUST, exercise, role, sound=name)


def _section_need(cues: list[Cue], options: PlanOptions, priorities: set[Priority]) -> int:
    """Time for the given cues said one after another after the opening bell."""
    spoken = [c.duration_ms for c in cues if c.priority in priorities and c.skip is None]
    if not spoken:
        return options.bell_ms
    return options.bell_lead_ms + sum(spoken) + options.gap_ms * (len(spoken) - 1)


# --- fitting: place cues by priority; drop what does not fit --------------------------------------


def _fit(section: Section, cues: list[Cue], options: PlanOptions) -> tuple[list[Event], list[Dropped]]:
    """Place the section's cues; drop lowest priority first until the rest fit, then re-add what fits."""
    dropped = [Dropped(c.text, c.role, section.exercise, c.priority, c.skip.cause, c.skip.reason)
               for c in cues if c.skip is not None]
    wanted = [c for c in cues if c.skip is None]
    musts = [c for c in wanted if c.priority is Priority.MUST]
    if _place(section, musts, options) is None:
        raise PlanError(_must_message(section, musts, options))
    keep = list(wanted)
    removed: list[Cue] = []
    placed = _place(section, keep, options)
    while placed is None:
        victim = max((c for c in keep if c.priority is not Priority.MUST),
                     key=lambda c: (c.priority.rank, c.order))
        keep.remove(victim)
        removed.append(victim)
        placed = _place(section, keep, options)
    for cue in sorted(removed, key=lambda c: (c.priority.rank, c.order)):
        # steps are said in order or not at all: a later step never returns after an earlier one left
        if cue.anchor is Anchor.FLOW and any(r.order < cue.order and r.role is cue.role for r in removed
                                             if r not in keep):
            attempt = None
        else:
            trial = sorted(keep + [cue], key=lambda c: c.order)
            attempt = _place(section, trial, options)
        if attempt is not None:
            keep, placed = trial, attempt
        elif not cue.repeat:
            dropped.append(_dropped(section, cue))
    dropped.sort(key=lambda d: [c.text for c in cues].index(d.text))
    return placed, dropped


def _dropped(section: Section, cue: Cue) -> Dropped:
    """A cue that did not fit, with why."""
    if cue.before_ms is not None:
        return Dropped(cue.text, cue.role, section.exercise, cue.priority, DropCause.BEFORE_SWITCH,
                       f"does not fit before the side switch at {format_clock(cue.before_ms - section.start_ms)} "
                       f"into {section.label}; it needs {cue.duration_ms / 1000:.1f} s")
    return Dropped(cue.text, cue.role, section.exercise, cue.priority, DropCause.NO_TIME,
                   f"no room in {section.label} ({format_clock(section.end_ms - section.start_ms)}) beside the "
                   f"lines kept; it needs {cue.duration_ms / 1000:.1f} s")


def _must_message(section: Section, musts: list[Cue], options: PlanOptions) -> str:
    span = section.end_ms - section.start_ms
    speech = sum(c.duration_ms for c in musts) / 1000
    roles = ", ".join(dict.fromkeys(c.role for c in musts))
    where = f"{section.where}: " if section.where else ""
    fix = section.fix or "lengthen the hold (--pace), use a shorter --countdown, or speak faster (--rate)"
    around = "each at the start or end of a rep" if section.quiet else "fitted around the side switch and the countdown"
    return (f"{where}{section.label} lasts {span / 1000:.1f} s, too short for what must be said in it ({roles}: "
            f"{speech:.1f} s of speech, with pauses, {around}); {fix}")


@dataclass
class _Timeline:
    """Busy spans of one section, for finding where a line of speech may go."""

    start: int
    end: int
    gap: int
    clear: int
    busy: list[tuple[int, int]] = field(default_factory=list)

    def block_speech(self, a: int, b: int) -> None:
        self.busy.append((a - self.gap, b + self.gap))

    def block_chime(self, at: int, lead: int) -> None:
        self.busy.append((at - self.clear, at + lead))

    def fits(self, a: int, duration: int) -> bool:
        b = a + duration
        if a < self.start or b > self.end:
            return False
        return all(b <= s or a >= e for s, e in self.busy)

    def earliest(self, after: int, duration: int, limit: int) -> int | None:
        """First start >= after where the line fits and ends by limit."""
        candidates = sorted({after} | {e for _, e in self.busy if e > after})
        for a in candidates:
            if a + duration > min(limit, self.end):
                return None
            if self.fits(a, duration):
                return a
        return None

    def latest(self, end_by: int, duration: int, floor: int) -> int | None:
        """Last start where the line fits, ends by end_by and starts at or after floor."""
        candidates = sorted({end_by - duration} | {s - duration for s, _ in self.busy if s - duration < end_by - duration},
                            reverse=True)
        for a in candidates:
            if a < max(floor, self.start):
                return None
            if self.fits(a, duration):
                return a
        return None


def _place(section: Section, cues: list[Cue], options: PlanOptions) -> list[Event] | None:
    """Give every cue a time, or return None if they cannot all fit.

    Order within a section: fixed cues at their times; the name and length before the first fixed
    cue; "next up" as late as it can before the countdown but after the switch; instructions as
    early as they can (before the switch when there is one); tips spread over what is left before
    "next up".
    """
    gap = options.gap_ms
    line = _Timeline(section.start_ms, section.end_ms, gap, options.chime_clear_ms)
    chimes = [section.opening_chime] if section.opening_chime else []
    lead = options.bell_lead_ms if section.lead_ms is None else section.lead_ms
    line.block_chime(section.start_ms, lead)
    line.busy.append((section.end_ms - options.chime_clear_ms, section.end_ms + gap))
    times: dict[int, int] = {}

    fixed = _fixed_starts(cues)
    for fixed_at, cue in fixed:
        for chime in cue.extra_events:
            chimes.append(chime)
            line.block_chime(chime.start_ms, fixed_at - chime.start_ms)
    if not _fixed_apart(fixed, gap) or not all(line.fits(f, c.duration_ms) for f, c in fixed):
        return None
    for fixed_at, cue in fixed:
        times[cue.order] = fixed_at
        line.block_speech(fixed_at, fixed_at + cue.duration_ms)

    cursor = section.start_ms + lead
    head_limit = min([f - gap for f, _ in fixed] + [section.end_ms])
    for cue in (c for c in cues if c.anchor is Anchor.HEAD):
        at = line.earliest(cursor, cue.duration_ms, head_limit)
        if at is None:
            return None
        times[cue.order] = at
        line.block_speech(at, at + cue.duration_ms)
        cursor = at + cue.duration_ms + gap

    tail_starts = []
    for cue in (c for c in cues if c.anchor is Anchor.TAIL):
        end_by = cue.end_by_ms if cue.end_by_ms is not None else section.end_ms - options.chime_clear_ms
        floor = max([cursor] + [f + c.duration_ms + gap for f, c in fixed if f + c.duration_ms <= end_by])
        at = line.latest(end_by, cue.duration_ms, floor)
        if at is None:
            return None
        times[cue.order] = at
        line.block_speech(at, at + cue.duration_ms)
        tail_starts.append(at)
    body_limit = min(tail_starts) - gap if tail_starts else section.end_ms
    line.busy.extend(section.quiet)  # after "next up", which may come in the last rep's hold

    for cue in (c for c in cues if c.anchor is Anchor.FLOW):
        limit = body_limit if cue.before_ms is None else min(body_limit, cue.before_ms - options.chime_clear_ms)
        at = line.earliest(cursor, cue.duration_ms, limit)
        if at is None:
            return None
        times[cue.order] = at
        line.block_speech(at, at + cue.duration_ms)
        cursor = at + cue.duration_ms + gap

    spread = [c for c in cues if c.anchor is Anchor.SPREAD]
    if spread and not _spread(line, spread, cursor, body_limit, times, options):
        return None

    events = list(chimes)
    for cue in cues:
        at = times[cue.order]
        events.append(Event(Kind.SPEECH, at, cue.duration_ms, cue.priority, section.exercise, cue.role,
                            cue.text, cue.utterance))
    return events


def _fixed_starts(cues: list[Cue]) -> list[tuple[int, Cue]]:
    """The FIXED cues (those with a start) with their starts, earliest first."""
    return sorted(((c.start_ms, c) for c in cues if c.start_ms is not None), key=lambda pair: pair[0])


def _fixed_apart(fixed: list[tuple[int, Cue]], gap_ms: int) -> bool:
    """Fixed cues keep the usual gap from each other, except countdown numbers (one a second)."""
    for (a_at, a), (b_at, b) in pairwise(fixed):
        need = 0 if a.role is b.role is Role.COUNTDOWN else gap_ms
        if b_at < a_at + a.duration_ms + need:
            return False
    return True


def _spread(line: _Timeline, cues: list[Cue], cursor: int, limit: int, times: dict[int, int],
            options: PlanOptions) -> bool:
    """Spread lines evenly between their earliest and latest feasible times, keeping their order."""
    probe = replace(line, busy=list(line.busy))
    earliest = []
    at = cursor
    for cue in cues:
        start = probe.earliest(at, cue.duration_ms, limit)
        if start is None:
            return False
        earliest.append(start)
        probe.block_speech(start, start + cue.duration_ms)
        at = start + cue.duration_ms + options.gap_ms
    probe = replace(line, busy=list(line.busy))
    latest = [0] * len(cues)
    end_by = min(limit, line.end - options.chime_clear_ms)
    for i in range(len(cues) - 1, -1, -1):
        start = probe.latest(end_by, cues[i].duration_ms, cursor)
        if start is None:
            return False
        latest[i] = start
        probe.block_speech(start, start + cues[i].duration_ms)
        end_by = start - options.gap_ms
    at = cursor
    n = len(cues)
    for i, cue in enumerate(cues):
        target = earliest[i] + (latest[i] - earliest[i]) * (i + 1) // (n + 1)
        start = line.earliest(max(target, at), cue.duration_ms, limit)
        if start is None:
            return False
        times[cue.order] = start
        line.block_speech(start, start + cue.duration_ms)
        at = start + cue.duration_ms + options.gap_ms
    return True
