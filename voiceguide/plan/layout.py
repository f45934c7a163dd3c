"""One session laid out at the lengths timing gives: the intro, each exercise (a set-up gap, then its hold),
the outro."""
from __future__ import annotations

from ..routine import Routine
from .cues import Section, Speaker, chime
from .fit import fit
from .lines import (
    exercise_cues,
    fixed_cues,
    hold_extras,
    hold_section,
    intro_cues,
    outro_cues,
    relabel_covered,
    rep_cues,
    setup_cues,
    summary_cues,
)
from .model import Chapter, Dropped, Event, Kind, Plan, PlanOptions, Role
from .timing import Room, spoken_total, timing_of


def lay_out(routine: Routine, say: Speaker, options: PlanOptions, said_total_ms: int | None = None) -> Plan:
    """build_plan's work with a given speaker, so trial totals reuse its measured lengths; `said_total_ms` is
    the total the intro says when time was added beyond the stated one (the session lasts at least that)."""
    spoken = said_total_ms if said_total_ms is not None else spoken_total(routine, options)
    intro = intro_cues(routine, say, options, spoken) if options.intro else []
    outro = outro_cues(routine, say, options)
    timing = timing_of(routine, say, options, Room.of(intro, outro, options), said_total_ms)

    events: list[Event] = []
    dropped: list[Dropped] = []
    chapters = []
    if options.intro:
        chapters.append(Chapter(say.words("intro_chapter"), 0, timing.intro_ms))
        # the intro's words end settle_ms before the first chime: time to get into position
        speech_end = timing.intro_ms - options.settle_ms + options.chime_clear_ms
        _add(events, dropped, fit(Section("the intro", 0, speech_end, None, chime(0, "bell", None, options)),
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
    outro_section = Section("the outro", start, total - bell_ms, None, chime(start, "bell", None, options))
    _add(events, dropped, fit(outro_section, outro, options))
    final = chime(total - bell_ms, "bell", None, options, role=Role.FINAL_CHIME)
    if final is not None:
        events.append(final)
    chapters.append(Chapter(say.words("outro_chapter"), start, total))
    events.sort(key=lambda e: (e.start_ms, e.kind is Kind.SPEECH))
    return Plan(routine.title, total, tuple(events), tuple(chapters), tuple(dropped), timing.added_ms,
                language=say.phrases.language)


def _add(events: list[Event], dropped: list[Dropped], fitted: tuple[list[Event], list[Dropped]]) -> None:
    events.extend(fitted[0])
    dropped.extend(fitted[1])


def _exercise(routine: Routine, index: int, start: int, setup_ms: int, hold_ms: int, say: Speaker,
              options: PlanOptions) -> tuple[list[Event], list[Dropped]]:
    """Place one exercise: its hold alone, or a set-up gap (name, length, instructions) and then its hold."""
    exercise = routine.exercises[index]
    if not setup_ms:
        events, dropped = fit(hold_section(routine, index, start, hold_ms, options),
                              exercise_cues(routine, index, start, hold_ms, say, options), options)
        return events, relabel_covered(exercise, dropped)
    hold_start = start + setup_ms
    setup = Section(f'the set-up of exercise {index + 1} "{exercise.name}"', start,
                    hold_start - options.settle_ms + options.chime_clear_ms, index, chime(start, "bell", index, options),
                    f"{routine.source}:{exercise.line}")
    events, dropped = fit(setup, setup_cues(routine, index, hold_ms, say, options), options)
    if exercise.reps:
        section = hold_section(routine, index, hold_start, hold_ms, options, opening=None)
        cues = rep_cues(routine, index, hold_start, say, options)
    else:
        section = hold_section(routine, index, hold_start, hold_ms, options, opening=Role.HOLD)
        switch_at, cues = fixed_cues(routine, index, hold_start, hold_ms, say, options)
        cues += summary_cues(exercise, say, options, switch_at) + hold_extras(exercise, say, options)
    held, left_out = fit(section, cues, options)
    return events + held, dropped + left_out
