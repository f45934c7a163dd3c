"""How long everything lasts: the holds (at a pace, or scaled to a target total in whole 5 s), the set-up
gaps, and what the intro and outro get of the rest."""
from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

from ..durations import format_clock
from ..errors import PlanError
from ..routine import Routine, Sides
from .cues import Cue, Speaker
from .fit import fit
from .lines import covered_lines, exercise_cues, hold_section, setup_cues
from .model import PlanOptions, Priority, Role, Setup


@dataclass(frozen=True)
class Room:
    """What the intro and outro need (their must cues) and want (all their lines)."""

    intro_min: int
    intro_want: int
    outro_min: int
    outro_want: int

    @classmethod
    def of(cls, intro: list[Cue], outro: list[Cue], options: PlanOptions) -> Room:
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


def timing_of(routine: Routine, say: Speaker, options: PlanOptions, room: Room,
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
        total = max(up_to(sum(holds) + sum(setups) + room.least, ROUND_MS), said_total_ms or 0)
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
        if budget_ms < least_holds_ms(routine, options):
            raise TotalTooShort(outside + beyond, sum(setups))
        holds = exercise_lengths(routine, options, budget_ms)
        grown = [max(was, _setup_ms(routine, i, hold, say, options))
                 for i, (was, hold) in enumerate(zip(setups, holds, strict=True))]
        if grown == setups:
            break
        setups = grown
    return _Timing(holds, setups, *room.share(options.total_ms - sum(holds) - sum(setups)), 0)


ROUND_MS = 5000
"""Lengths the session chooses (a scaled hold, a total grown for set-up) are whole multiples of this."""
_LEAST_HOLD_MS = ROUND_MS
"""The shortest a target total may scale a hold to (on each side, with --sides each)."""


def up_to(ms: int, step: int) -> int:
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
        least_ms = least_holds_ms(routine, options)
        if budget_ms < least_ms:  # build_plan checks first and says which total would do
            raise PlanError(f"{routine.source}: {len(out)} exercises need at least {format_clock(least_ms)} "
                            f"between the intro and outro; ask for a longer --duration")
        # the switch gaps of timed holds only: an exercise in reps keeps its own length, gaps and all
        free_ms = budget_ms - sum(out[i] for i in range(len(out)) if i not in timed) - sum(fixed[i] for i in timed)
        steps = _apportion_steps(raw, [sides[i] for i in timed], free_ms // ROUND_MS)
        held = [n * ROUND_MS * sides[i] for n, i in zip(steps, timed, strict=True)]
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


def least_holds_ms(routine: Routine, options: PlanOptions) -> int:
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


class TotalTooShort(PlanError):
    """A target total leaves the holds less than their least; build_plan says which total would fit."""

    def __init__(self, outside_ms: int, setup_ms: int = 0) -> None:
        super().__init__(f"the target total leaves too little time beside {outside_ms} ms of intro and outro")
        self.outside_ms = outside_ms
        self.setup_ms = setup_ms


def spoken_total(routine: Routine, options: PlanOptions) -> int | None:
    """The session's total where it is known before any speech is measured (the intro says it)."""
    if options.total_ms is not None:
        return options.total_ms
    if routine.duration_ms is None:
        return None
    return routine.duration_ms - routine.holds_ms + sum(exercise_lengths(routine, options))


def _setup_need(cues: list[Cue], options: PlanOptions) -> int:
    """A set-up gap's length: its lines one after another after the bell, then time to settle into position."""
    return _section_need(cues, options, set(Priority)) + options.settle_ms


def _setup_ms(routine: Routine, index: int, hold_ms: int, say: Speaker, options: PlanOptions) -> int:
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
            _, dropped = fit(hold_section(routine, index, 0, hold_ms, options),
                             exercise_cues(routine, index, 0, hold_ms, say, options), options)
            covered = covered_lines(exercise)
            needed = any(d.role is Role.INSTRUCTION and d.cause.for_lack_of_time and d.text not in covered
                         for d in dropped)
        say.trials[key] = _setup_need(setup_cues(routine, index, hold_ms, say, options), options) if needed else 0
    return say.trials[key]


def _section_need(cues: list[Cue], options: PlanOptions, priorities: set[Priority]) -> int:
    """Time for the given cues said one after another after the opening bell."""
    spoken = [c.duration_ms for c in cues if c.priority in priorities and c.skip is None]
    if not spoken:
        return options.bell_ms
    return options.bell_lead_ms + sum(spoken) + options.gap_ms * (len(spoken) - 1)
