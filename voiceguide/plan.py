"""The script builder: turn a routine into a timed Plan of speech and chimes. Pure: no audio, no files.

Speech lengths come from a `measure(utterance) -> ms` function the caller hands in, so the
scheduling rules are tested exactly with a fake one and the real build measures real clips.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import Enum, StrEnum
from itertools import pairwise

from num2words import num2words

from .durations import format_clock, spoken_count, spoken_length
from .engines.base import Utterance
from .errors import PlanError
from .routine import Exercise, Routine, Sides, sentences


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
    NEXT = "next"  # "Next up: ..."
    SUMMARY = "summary"
    INSTRUCTION = "instruction"
    ADJUSTMENT = "adjustment"
    TIP = "tip"
    CLOSING = "closing"
    COMPLETE = "complete"
    CHIME = "chime"  # the bell opening a section, the soft chime at a side switch
    FINAL_CHIME = "final chime"


class DropCause(StrEnum):
    """Why a line of the routine is not spoken; `Dropped.reason` says the same in words."""

    DETAIL = "detail"  # the --detail level leaves it out
    NO_NEXT_UP = "no_next_up"  # --no-next-up leaves it out
    NO_TIME = "no_time"  # no room in its section beside the lines kept
    BEFORE_SWITCH = "before_switch"  # it does not fit before the side switch

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
    """For chimes: which chime ("bell" between sections, "soft" at a side switch)."""

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.duration_ms


@dataclass(frozen=True)
class Chapter:
    """A named span of the session: Intro, each exercise, Outro."""

    title: str
    start_ms: int
    end_ms: int


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
class Plan:
    """The whole session; the MP3, chapters, captions and the `plan` command all derive from it."""

    title: str
    duration_ms: int
    events: tuple[Event, ...]
    chapters: tuple[Chapter, ...]
    dropped: tuple[Dropped, ...]

    @property
    def speech(self) -> tuple[Event, ...]:
        return tuple(e for e in self.events if e.kind is Kind.SPEECH)

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
                {"title": c.title, "start_ms": c.start_ms, "end_ms": c.end_ms} for c in self.chapters
            ],
            "dropped": [
                {"text": d.text, "role": d.role.value, "exercise": d.exercise,
                 "priority": d.priority.value, "reason": d.reason}
                for d in self.dropped
            ],
        }


@dataclass(frozen=True)
class PlanOptions:
    """Everything besides the routine that shapes the timeline."""

    detail: Detail = Detail.STANDARD
    countdown: int = 3
    """Numbers counted down before each exercise ends, one per second; 0 for none."""
    gap_ms: int = 700
    """Least silence between two lines of speech."""
    name_rate_percent: int = 90
    """Exercise names are said this much slower, so they are heard clearly."""
    bell_ms: int = 1800
    """Length of the chime between sections (the shipped bell's length)."""
    soft_ms: int = 1200
    """Length of the softer chime at a side switch."""
    bell_lead_ms: int = 1200
    """Speech after a bell waits this long, so the chime is heard first."""
    soft_lead_ms: int = 400
    """Speech after the soft chime waits this long."""
    chime_clear_ms: int = 200
    """Speech ends at least this long before a chime starts."""
    settle_ms: int = 2000
    """Quiet after the intro's last line, to get into position."""
    pace: float = 1.0
    """Multiplies every hold (intro and outro keep their length)."""
    total_ms: int | None = None
    """A target total: holds scale in proportion so the session lasts exactly this. Wins over pace."""
    intro: bool = True
    """False starts with the first exercise's chime."""
    next_up: bool = True
    """False leaves out "Next up: ...". """
    sides_each: bool = False
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
    """Lay out the session: intro, every exercise chime to chime, outro; fit speech by priority."""
    measured: dict[Utterance, int] = {}

    def length(u: Utterance) -> int:
        if u not in measured:
            ms = int(measure(u))
            if ms <= 0:
                raise PlanError(f'speech for "{u.text}" measured {ms} ms; the engine produced no audio')
            measured[u] = ms
        return measured[u]

    say = _Speaker(_respellings(routine, options), options, length, routine.source)
    try:
        return _lay_out(routine, say, options)
    except _TotalTooShort as short:
        raise PlanError(_total_too_short_message(routine, say, options, short.outside_ms)) from None


def _lay_out(routine: Routine, say: _Speaker, options: PlanOptions) -> Plan:
    """build_plan's work with a given speaker, so trial totals reuse its measured lengths."""
    intro = _intro_cues(routine, say, options, _spoken_total(routine, options)) if options.intro else []
    outro = _outro_cues(routine, say, options)
    intro_ms, outro_ms = _allocate(routine, intro, outro, options)
    if options.total_ms is None:
        lengths = exercise_lengths(routine, options)
    else:  # a target total: holds get what the intro and outro leave
        budget_ms = options.total_ms - intro_ms - outro_ms
        if budget_ms < _least_holds_ms(routine, options):
            raise _TotalTooShort(intro_ms + outro_ms)
        lengths = exercise_lengths(routine, options, budget_ms)

    events: list[Event] = []
    dropped: list[Dropped] = []
    chapters = []
    if options.intro:
        chapters.append(Chapter("Intro", 0, intro_ms))
        # the intro's words end settle_ms before the first chime: time to get into position
        speech_end = intro_ms - options.settle_ms + options.chime_clear_ms
        _add(events, dropped, _fit(Section("the intro", 0, speech_end, None, _chime(0, "bell", None, options)),
                                   intro, options))
    start = intro_ms
    for index, (exercise, span) in enumerate(zip(routine.exercises, lengths)):
        end = start + span
        following = routine.exercises[index + 1] if index + 1 < len(routine.exercises) else None
        cues = _exercise_cues(routine, index, start, span, say, options, following)
        section = Section(f'exercise {index + 1} "{exercise.name}"', start, end, index,
                          _chime(start, "bell", index, options), f"{routine.source}:{exercise.line}")
        _add(events, dropped, _fit(section, cues, options))
        chapters.append(Chapter(exercise.name, start, end))
        start = end
    total = start + outro_ms
    bell_ms = options.bell_ms if options.chimes else 0
    outro_section = Section("the outro", start, total - bell_ms, None, _chime(start, "bell", None, options))
    _add(events, dropped, _fit(outro_section, outro, options))
    final = _chime(total - bell_ms, "bell", None, options, role=Role.FINAL_CHIME)
    if final is not None:
        events.append(final)
    chapters.append(Chapter("Outro", start, total))
    events.sort(key=lambda e: (e.start_ms, e.kind is Kind.SPEECH))
    return Plan(routine.title, total, tuple(events), tuple(chapters), tuple(dropped))


def _add(events: list[Event], dropped: list[Dropped], fitted: tuple[list[Event], list[Dropped]]) -> None:
    events.extend(fitted[0])
    dropped.extend(fitted[1])


_LEAST_HOLD_MS = 5000
"""The shortest a target total may scale one exercise's hold to."""


def exercise_lengths(routine: Routine, options: PlanOptions, budget_ms: int | None = None) -> list[int]:
    """How long each exercise lasts, chime to chime: its hold times the pace, or scaled to a budget.

    With `sides_each`, a two-sided hold is done in full on each side with a switch gap between.
    Scaled holds keep their proportions and add up to the budget exactly.
    """
    each = options.sides_each
    raw = [e.duration_ms * (2 if each and e.sides is Sides.BOTH else 1) for e in routine.exercises]
    fixed = [options.switch_gap_ms if each and e.sides is Sides.BOTH else 0 for e in routine.exercises]
    if budget_ms is None:
        target = round(sum(raw) * options.pace)
    else:
        least_ms = _least_holds_ms(routine, options)
        if budget_ms < least_ms:  # build_plan checks first and says which total would do
            raise PlanError(f"{routine.source}: {len(raw)} exercises need at least {format_clock(least_ms)} "
                            f"between the intro and outro; ask for a longer --duration")
        target = budget_ms - sum(fixed)
    return [held + gap for held, gap in zip(_apportion(raw, target), fixed, strict=True)]


def _apportion(weights: list[int], total: int) -> list[int]:
    """Whole numbers in proportion to `weights` that add up to `total` exactly (largest remainder)."""
    whole = sum(weights)
    shares = [w * total / whole for w in weights]
    out = [int(x) for x in shares]
    by_remainder = sorted(range(len(weights)), key=lambda i: (out[i] - shares[i], i))
    for i in by_remainder[: total - sum(out)]:
        out[i] += 1
    return out


def _least_holds_ms(routine: Routine, options: PlanOptions) -> int:
    """The least time the exercises can be scaled to: the shortest hold each, plus any switch gaps."""
    gaps = sum(options.switch_gap_ms for e in routine.exercises if options.sides_each and e.sides is Sides.BOTH)
    return _LEAST_HOLD_MS * len(routine.exercises) + gaps


class _TotalTooShort(PlanError):
    """A target total leaves the holds less than their least; build_plan says which total would fit."""

    def __init__(self, outside_ms: int) -> None:
        super().__init__(f"the target total leaves too little time beside {outside_ms} ms of intro and outro")
        self.outside_ms = outside_ms


def _total_too_short_message(routine: Routine, say: _Speaker, options: PlanOptions, outside_ms: int) -> str:
    asked = options.total_ms or 0
    least = _least_total_ms(routine, say, options)
    fix = (f"the shortest session that fits is {format_clock(least)}, so ask for at least "
           f"--duration {format_clock(least)}" if least is not None else "ask for a longer --duration")
    return (f"{routine.source}: --duration {format_clock(asked)} leaves too little time for "
            f"{len(routine.exercises)} exercise{'s' * (len(routine.exercises) != 1)} after the intro and outro "
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
    for index, _ in enumerate(routine.exercises):
        following = routine.exercises[index + 1] if index + 1 < len(routine.exercises) else None
        span = lengths[index] if lengths else routine.exercises[index].duration_ms
        cues += _exercise_cues(routine, index, 0, span, say, options, following)
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


class _Speaker:
    """Makes cues from routine text: applies pronunciations, measures, keeps order."""

    def __init__(self, pronounce: Iterable[tuple[str, str]], options: PlanOptions,
                 length: Callable[[Utterance], int], source: str = "<routine>") -> None:
        self._rules = [(re.compile(rf"(?<!\w){re.escape(w)}(?!\w)", re.IGNORECASE), said) for w, said in pronounce]
        self._options = options
        self._source = source
        self._length = length
        self._order = 0

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
                   options: PlanOptions, following: Exercise | None) -> list[Cue]:
    exercise = routine.exercises[index]
    end = start + length_ms
    standard = _detail_skip(options, Detail.STANDARD)
    full = _detail_skip(options, Detail.FULL)
    each = options.sides_each and exercise.sides is Sides.BOTH
    said_length = (f"{spoken_length((length_ms - options.switch_gap_ms) // 2)} each side." if each
                   else f"{spoken_length(length_ms)}.")
    cues = [
        say.cue(Role.NAME, f"{exercise.name}.", Priority.MUST, Anchor.HEAD, rate_percent=options.name_rate_percent),
        say.cue(Role.LENGTH, said_length, Priority.MUST, Anchor.HEAD),
    ]
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
    if following is not None:
        next_by = countdown_start - options.gap_ms if options.countdown else None
        no_next = None if options.next_up else Skip(DropCause.NO_NEXT_UP, "--no-next-up leaves it out")
        cues.append(say.cue(Role.NEXT, f"Next up: {following.name}.", Priority.MEDIUM, Anchor.TAIL,
                            end_by_ms=next_by, skip=standard or no_next))
    if exercise.summary:
        cues.append(say.cue(Role.SUMMARY, exercise.summary, Priority.LOW, Anchor.FLOW, skip=full,
                            before_ms=switch_at))
    for text in exercise.instructions:
        cues.append(say.cue(Role.INSTRUCTION, text, Priority.HIGH, Anchor.FLOW, skip=standard,
                            before_ms=switch_at))
    for text in exercise.adjustments:
        cues.append(say.cue(Role.ADJUSTMENT, text, Priority.LOW, Anchor.SPREAD, skip=full))
    for text in exercise.tips:
        cues.append(say.cue(Role.TIP, text, Priority.MEDIUM, Anchor.SPREAD, skip=standard))
    if options.detail is Detail.FULL:  # long holds hear their tips again, where there is room
        for text in exercise.tips:
            cues.append(say.cue(Role.TIP, text, Priority.LOW, Anchor.SPREAD, repeat=True))
    return cues


def _chime(start_ms: int, sound: str, exercise: int | None, options: PlanOptions,
           role: Role = Role.CHIME) -> Event | None:
    if not options.chimes:
        return None
    duration = options.bell_ms if sound == "bell" else options.soft_ms
    return Event(Kind.CHIME, start_ms, duration, Priority.MUST, exercise, role, sound=sound)


# --- intro and outro share what the stated total leaves -------------------------------------------


def _allocate(routine: Routine, intro: list[Cue], outro: list[Cue], options: PlanOptions) -> tuple[int, int]:
    """Split the time outside the holds between intro and outro.

    The intro gets what its must and high cues need plus time to settle; the outro gets the rest
    (and at least its must cues). Without a stated total, or without an intro, each gets what it wants.
    """
    intro_min = _section_need(intro, options, {Priority.MUST}) + options.settle_ms
    intro_want = _section_need(intro, options, set(Priority)) + options.settle_ms
    closing_ms = options.chime_clear_ms + (options.bell_ms if options.chimes else 0)
    outro_min = _section_need(outro, options, {Priority.MUST}) + closing_ms
    outro_want = _section_need(outro, options, set(Priority)) + closing_ms
    if not options.intro:
        return 0, outro_want
    if routine.duration_ms is None:
        return intro_want, outro_want
    holds_ms = routine.holds_ms
    spare = routine.duration_ms - holds_ms
    if spare < intro_min + outro_min:
        raise PlanError(
            f"{routine.source}:{routine.duration_line}: the stated total {format_clock(routine.duration_ms)} leaves "
            f"{spare / 1000:.1f} s beside {format_clock(holds_ms)} of holds, but the intro and outro need at "
            f"least {(intro_min + outro_min) / 1000:.1f} s; raise `duration` or remove it")
    surplus = spare - intro_want - outro_want
    if surplus > 0:  # time to spare: half of it lets the listener settle before the first exercise
        intro_ms = intro_want + surplus // 2
    else:
        intro_ms = max(intro_min, min(intro_want, spare - outro_min))
    return intro_ms, spare - intro_ms


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
    return (f"{where}{section.label} lasts {span / 1000:.1f} s, too short for what must be said in it ({roles}: "
            f"{speech:.1f} s of speech, with pauses, fitted around the side switch and the countdown); "
            f"lengthen the hold (--pace), use a shorter --countdown, or speak faster (--rate)")


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
    line.block_chime(section.start_ms, options.bell_lead_ms)
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

    cursor = section.start_ms + options.bell_lead_ms
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
