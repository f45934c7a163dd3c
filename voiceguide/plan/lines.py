"""What each section may say: the intro, the outro, a timed hold, a set-up gap, the reps. Only the lines,
where each wants to be and how much it matters; placing them is fit's job."""
from __future__ import annotations

import re
from dataclasses import replace

from ..routine import Exercise, Reps, Routine, Sides, sentences
from .cues import Anchor, Cue, Section, Skip, Speaker, chime, detail_skip
from .model import (
    SWITCH_TEXT,
    Detail,
    DropCause,
    Dropped,
    PlanOptions,
    Priority,
    Role,
    Setup,
)


def intro_cues(routine: Routine, say: Speaker, options: PlanOptions, total_ms: int | None) -> list[Cue]:
    count = say.count("exercises", len(routine.exercises))
    overview = (say.words("overview", length=say.length(total_ms), count=count) if total_ms
                else say.words("overview_count", count=count))
    cues = [
        say.cue(Role.TITLE, say.words("title", title=routine.title), Priority.MUST, Anchor.HEAD,
                rate_percent=options.name_rate_percent),
        say.cue(Role.OVERVIEW, overview, Priority.MUST, Anchor.HEAD),
    ]
    for i, sentence in enumerate(sentences(routine.targets)):
        if i == 0:
            cues.append(say.cue(Role.TARGETS, sentence, Priority.HIGH, Anchor.FLOW,
                                skip=detail_skip(options, Detail.STANDARD)))
        else:
            cues.append(say.cue(Role.TARGETS, sentence, Priority.LOW, Anchor.FLOW,
                                skip=detail_skip(options, Detail.FULL)))
    cues.append(say.cue(Role.BEGIN, say.words("begin"), Priority.MUST, Anchor.FLOW))
    return cues


def outro_cues(routine: Routine, say: Speaker, options: PlanOptions) -> list[Cue]:
    cues = [say.cue(Role.CLOSING, s, Priority.HIGH, Anchor.FLOW, skip=detail_skip(options, Detail.STANDARD))
            for s in sentences(routine.closing.text)]
    cues.append(say.cue(Role.COMPLETE, say.words("complete"), Priority.MUST, Anchor.TAIL))
    return cues


def exercise_cues(routine: Routine, index: int, start: int, length_ms: int, say: Speaker,
                  options: PlanOptions) -> list[Cue]:
    """Every line of a timed exercise in one section, its hold (no set-up gap)."""
    exercise = routine.exercises[index]
    cues = head_cues(exercise, length_ms, say, options)
    switch_at, timed = fixed_cues(routine, index, start, length_ms, say, options)
    cues += timed
    cues += summary_cues(exercise, say, options, switch_at)
    cues += _instruction_cues(exercise, say, options, before_ms=switch_at)
    return cues + hold_extras(exercise, say, options)


def head_cues(exercise: Exercise, length_ms: int, say: Speaker, options: PlanOptions) -> list[Cue]:
    """The exercise's name and length."""
    if exercise.reps:
        said_length = _reps_length(exercise.reps, exercise.sides is Sides.BOTH, say)
    elif options.sides_each and exercise.sides is Sides.BOTH:
        said_length = say.words("length_each_side", length=say.length((length_ms - options.switch_gap_ms) // 2))
    else:
        said_length = say.words("length", length=say.length(length_ms))
    return [
        say.cue(Role.NAME, say.words("name", name=exercise.name), Priority.MUST, Anchor.HEAD,
                rate_percent=options.name_rate_percent),
        say.cue(Role.LENGTH, said_length, Priority.MUST, Anchor.HEAD),
    ]


def _reps_length(reps: Reps, both: bool, say: Speaker) -> str:
    """"Ten reps of five seconds." ("..., each side." for both sides)."""
    return say.words("reps_length_each_side" if both else "reps_length", reps=say.count("reps", reps.count),
                     length=say.length(reps.hold_ms))


def fixed_cues(routine: Routine, index: int, start: int, length_ms: int, say: Speaker,
               options: PlanOptions) -> tuple[int | None, list[Cue]]:
    """A timed hold's switch (at its midpoint), countdown and "next up"; and when the switch is."""
    exercise = routine.exercises[index]
    end = start + length_ms
    cues = []
    switch_at = None
    if exercise.sides is Sides.BOTH:
        middle = start + length_ms // 2
        switch_at = middle
        soft = chime(middle, "soft", index, options)
        cues.append(say.cue(Role.SWITCH, say.words("switch"), Priority.MUST, Anchor.FIXED,
                            start_ms=middle + options.soft_lead_ms, extra_events=(soft,) if soft else ()))
    countdown_start = end - options.countdown * 1000
    for n in range(options.countdown, 0, -1):
        number = say.words("countdown", number=say.number(n))
        cues.append(say.cue(Role.COUNTDOWN, number, Priority.MUST, Anchor.FIXED, start_ms=end - n * 1000))
    cues += _next_up_cues(routine, index, say, options, countdown_start - options.gap_ms if options.countdown
                          else None)
    return switch_at, cues


def _next_up_cues(routine: Routine, index: int, say: Speaker, options: PlanOptions,
                  end_by_ms: int | None) -> list[Cue]:
    if index + 1 >= len(routine.exercises):
        return []
    no_next = None if options.next_up else Skip(DropCause.NO_NEXT_UP, "--no-next-up leaves it out")
    return [say.cue(Role.NEXT, say.words("next", name=routine.exercises[index + 1].name), Priority.MEDIUM, Anchor.TAIL,
                    end_by_ms=end_by_ms, skip=detail_skip(options, Detail.STANDARD) or no_next)]


def summary_cues(exercise: Exercise, say: Speaker, options: PlanOptions, switch_at: int | None) -> list[Cue]:
    if not exercise.summary:
        return []
    return [say.cue(Role.SUMMARY, exercise.summary, Priority.LOW, Anchor.FLOW,
                    skip=detail_skip(options, Detail.FULL), before_ms=switch_at)]


def _instruction_cues(exercise: Exercise, say: Speaker, options: PlanOptions, *, before_ms: int | None = None,
                      skip_covered: bool = False, skip_all: Skip | None = None) -> list[Cue]:
    """The set-up instructions, in order; with `skip_covered`, those a cue says anyway are left out."""
    covered = covered_lines(exercise) if skip_covered else set()
    return [say.cue(Role.INSTRUCTION, text, Priority.HIGH, Anchor.FLOW, before_ms=before_ms,
                    skip=detail_skip(options, Detail.STANDARD) or skip_all
                    or (_COVERED_SKIP if text in covered else None))
            for text in exercise.instructions]


def hold_extras(exercise: Exercise, say: Speaker, options: PlanOptions) -> list[Cue]:
    """Adjustments and tips, spread over the hold where there is room (tips again at --detail full)."""
    full = detail_skip(options, Detail.FULL)
    standard = detail_skip(options, Detail.STANDARD)
    cues = [say.cue(Role.ADJUSTMENT, text, Priority.LOW, Anchor.SPREAD, skip=full) for text in exercise.adjustments]
    cues += [say.cue(Role.TIP, text, Priority.MEDIUM, Anchor.SPREAD, skip=standard) for text in exercise.tips]
    if options.detail is Detail.FULL:  # long holds hear their tips again, where there is room
        cues += [say.cue(Role.TIP, text, Priority.LOW, Anchor.SPREAD, repeat=True) for text in exercise.tips]
    return cues


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


def covered_lines(exercise: Exercise) -> set[str]:
    """The exercise's instructions a cue says anyway: only where a switch cue is spoken (both sides)."""
    if exercise.sides is not Sides.BOTH:
        return set()
    return {text for text in exercise.instructions if covered_by_switch(text)}


def relabel_covered(exercise: Exercise, dropped: list[Dropped]) -> list[Dropped]:
    """A line left out for lack of time that a cue says anyway is reported as covered by that cue."""
    covered = covered_lines(exercise)
    return [replace(d, cause=DropCause.COVERED, reason=_COVERED_REASON)
            if d.role is Role.INSTRUCTION and d.cause.for_lack_of_time and d.text in covered else d
            for d in dropped]


def setup_cues(routine: Routine, index: int, hold_ms: int, say: Speaker, options: PlanOptions) -> list[Cue]:
    """What is said in a set-up gap: the name and length, then every instruction a cue does not say anyway
    (an exercise in reps with --setup none: none of them)."""
    exercise = routine.exercises[index]
    none = None
    if options.setup is Setup.NONE and exercise.reps:
        none = Skip(DropCause.NO_TIME, f'--setup none: no set-up gap before the first rep of exercise {index + 1} '
                                       f'"{exercise.name}"; spoken with --setup gap')
    return head_cues(exercise, hold_ms, say, options) + _instruction_cues(exercise, say, options, skip_covered=True,
                                                                          skip_all=none)


def hold_section(routine: Routine, index: int, start: int, hold_ms: int, options: PlanOptions,
                 opening: Role | None = Role.CHIME) -> Section:
    """An exercise's hold as a section: opened by the bell (no set-up gap), by the soft hold chime (after
    one), or by nothing (the first rep's count)."""
    exercise = routine.exercises[index]
    label = f'exercise {index + 1} "{exercise.name}"'
    where = f"{routine.source}:{exercise.line}"
    if opening is Role.CHIME:
        return Section(label, start, start + hold_ms, index, chime(start, "bell", index, options), where)
    if opening is Role.HOLD:
        return Section(label, start, start + hold_ms, index, chime(start, "soft", index, options, role=Role.HOLD),
                       where, lead_ms=options.soft_lead_ms)
    assert exercise.reps is not None  # only reps start their hold without a chime
    reps = exercise.reps
    holds = tuple((start + at, start + at + reps.hold_ms) for at in reps.starts_ms(exercise.sides))
    return Section(label, start, start + hold_ms, index, None, where, lead_ms=0, quiet=holds,
                   fix="lengthen the exercise's hold or relax (--pace leaves reps as written), or speak faster "
                       "(--rate)")


def rep_cues(routine: Routine, index: int, start: int, say: Speaker, options: PlanOptions) -> list[Cue]:
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
        count = say.words("last_rep") if k + 1 == reps.count > 1 else say.words("rep", number=say.number(k + 1))
        cues.append(say.cue(Role.REP, count, Priority.MUST, Anchor.FIXED, start_ms=at))
        relax_at = at + reps.hold_ms
        if both and side == 0 and k + 1 == reps.count:
            switch_at = relax_at
            soft = chime(relax_at, "soft", index, options)
            cues.append(say.cue(Role.SWITCH, say.words("switch"), Priority.MUST, Anchor.FIXED,
                                start_ms=relax_at + options.soft_lead_ms, extra_events=(soft,) if soft else ()))
        else:
            cues.append(say.cue(Role.RELAX, say.words("relax"), Priority.MUST, Anchor.FIXED, start_ms=relax_at))
    last = start + reps.starts_ms(exercise.sides)[-1]
    relax = next(c for c in cues if c.start_ms == last + reps.hold_ms)
    after = _next_up_cues(routine, index, say, options, None)
    if after and relax.duration_ms + options.gap_ms + after[0].duration_ms > reps.relax_ms - options.chime_clear_ms:
        # no room after the last "Relax.": said while the last rep is held, as a timed hold says it before
        # its countdown
        after = [replace(after[0], end_by_ms=last + reps.hold_ms - options.gap_ms)]
    cues += after
    cues += summary_cues(exercise, say, options, switch_at)
    return cues + hold_extras(exercise, say, options)
