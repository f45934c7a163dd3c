"""What would fit, searched by trying: the shortest --duration a session fits in (for the error when a target
total is too short) and the shortest hold that keeps an exercise's set-up instructions (for the warnings)."""
from __future__ import annotations

import math
from dataclasses import replace

from ..durations import format_clock
from ..errors import PlanError
from ..options import OPTIONS
from ..routine import Exercise, Routine, Sides
from .cues import Speaker
from .fit import SectionTooShort, fit
from .layout import lay_out
from .lines import exercise_cues, head_cues, hold_section
from .model import Plan, PlanOptions, Role, Setup, SetupWarning
from .timing import ROUND_MS, up_to


def total_too_short_message(routine: Routine, say: Speaker, options: PlanOptions, outside_ms: int,
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


def squeezed_message(routine: Routine, say: Speaker, options: PlanOptions, short: SectionTooShort) -> str:
    """A target total that scales a hold below what must be said in it: the total is the thing to change
    when a longer one fits (the hold written in the file is not to blame)."""
    asked = options.total_ms
    least = _least_total_ms(routine, say, options)
    if asked is None or least is None or least <= asked:
        return str(short)
    return (f"{routine.source}: --duration {format_clock(asked)} scales {short.label} down to "
            f"{short.span_ms / 1000:.1f} s, too short for what must be said in it; the shortest session that fits "
            f"is {format_clock(least)}, so ask for at least --duration {format_clock(least)}")


_LONGEST_SEARCHED_MS = 24 * 3_600_000


def _least_total_ms(routine: Routine, say: Speaker, options: PlanOptions) -> int | None:
    """The shortest whole-second target total the session fits in; None if not even a day does.

    Searched, not computed: the overview says the total and each exercise says its length, so
    what must be said, and its length, changes with the total.
    """
    def fits(total_ms: int) -> bool:
        try:
            lay_out(routine, say, replace(options, total_ms=total_ms))
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


def setup_warnings(routine: Routine, say: Speaker, options: PlanOptions, plan: Plan) -> tuple[SetupWarning, ...]:
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
        where = f"{routine.source}:{exercise.line}" if exercise.line else ""
        warnings.append(SetupWarning(index, exercise.name, lines, hold_ms, shortest,
                                     _pace_for(exercise, shortest, options), options.setup, where))
    return tuple(warnings)


def _shortest_hold(routine: Routine, index: int, hold_ms: int, lines: set[str], say: Speaker,
                   options: PlanOptions) -> int | None:
    """The shortest whole-5 s hold that keeps `lines`, with the lines measured so far (a length said aloud
    that was not measured is taken to be as long as the one said now): a hint costs no speech."""
    now = next(c for c in head_cues(routine.exercises[index], hold_ms, say, options) if c.role is Role.LENGTH)
    guess = say.guessing(now.duration_ms)

    def keeps(ms: int) -> bool:
        try:
            _, dropped = fit(hold_section(routine, index, 0, ms, options),
                             exercise_cues(routine, index, 0, ms, guess, options), options)
        except PlanError:
            return False
        return not lines & {d.text for d in dropped}

    low, high = hold_ms, up_to(hold_ms + 1, ROUND_MS)
    while not keeps(high):
        low, high = high, up_to(high * 2, ROUND_MS)
        if high > _LONGEST_SEARCHED_MS:
            return None
    while high - low > ROUND_MS:
        middle = up_to((low + high) // 2, ROUND_MS)
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
