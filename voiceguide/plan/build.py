"""The plan's entry points: build_plan (measure, lay out, warn) and utterances (every line it may say, so all
can be synthesised first)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ..engines.base import Utterance
from ..errors import PlanError
from ..routine import Routine
from .advice import setup_warnings, squeezed_message, total_too_short_message
from .cues import Speaker, missing_message, phrasebook, respellings
from .fit import SectionTooShort
from .layout import lay_out
from .lines import exercise_cues, intro_cues, outro_cues, rep_cues, setup_cues
from .model import Plan, PlanOptions
from .timing import TotalTooShort, exercise_lengths, least_holds_ms, spoken_total

Measure = Callable[[Utterance], int]


def estimated_measure(rate_wpm: int) -> Measure:
    """A stand-in for real speech when only the shape of a plan is wanted (e.g. `voiceguide check`)."""
    return lambda u: len(u.text.split()) * 60_000 * 100 // (rate_wpm * u.rate_percent) + 200


_DEFAULTS = PlanOptions()
"""The options when none are given (one frozen instance, as a default argument would be)."""


def build_plan(routine: Routine, measure: Measure, options: PlanOptions = _DEFAULTS) -> Plan:
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

    say = Speaker(respellings(routine, options), options, length, routine.source, known=measured,
                  phrases=phrasebook(routine, options))
    try:
        plan = lay_out(routine, say, options)
        said = None
        for _ in range(_OVERVIEW_ROUNDS):
            # time added beyond the stated total changes the total the intro says, and so the intro's length
            if not plan.setup_added_ms or plan.duration_ms == said:
                break
            said = plan.duration_ms
            plan = lay_out(routine, say, options, said)
    except TotalTooShort as short:
        if say.missing:
            raise PlanError(missing_message(routine, say)) from None
        raise PlanError(total_too_short_message(routine, say, options, short.outside_ms, short.setup_ms)) from None
    except PlanError as error:
        if say.missing:  # a must cue spoken as a phrase's name may not fit: the missing phrase is the problem
            raise PlanError(missing_message(routine, say)) from None
        if isinstance(error, SectionTooShort) and options.total_ms is not None:
            raise PlanError(squeezed_message(routine, say, options, error)) from None
        raise
    if say.missing:
        raise PlanError(missing_message(routine, say))
    return replace(plan, warnings=setup_warnings(routine, say, options, plan))


_OVERVIEW_ROUNDS = 10
"""Each round lengthens the total by at least 5 s, for a few words more in the intro: two rounds do in practice."""


def utterances(routine: Routine, options: PlanOptions = _DEFAULTS) -> list[Utterance]:
    """The lines the plan will consider, in order and without repeats, so all can be synthesised first.

    With a target total and no stated one, exercise lengths depend on the measured intro, so
    their spoken lengths are left out here (the plan measures them when it gets to them). A phrase the
    session needs that neither its language's table nor the routine gives is a PlanError naming every one.
    """
    seen: dict[Utterance, None] = {}
    say = Speaker(respellings(routine, options), options, lambda u: seen.setdefault(u) or 1, routine.source,
                  phrases=phrasebook(routine, options))
    total = spoken_total(routine, options)
    lengths: list[int] | None = None
    if options.total_ms is None:
        lengths = exercise_lengths(routine, options)
    elif routine.duration_ms is not None:  # the stated total fixes what the intro and outro get
        budget_ms = options.total_ms - (routine.duration_ms - routine.holds_ms)
        if budget_ms >= least_holds_ms(routine, options):  # else build_plan says which total fits
            lengths = exercise_lengths(routine, options, budget_ms)
    cues = intro_cues(routine, say, options, total) if options.intro else []
    cues += outro_cues(routine, say, options)
    for index, exercise in enumerate(routine.exercises):
        span = lengths[index] if lengths else exercise.duration_ms
        if exercise.reps:
            cues += setup_cues(routine, index, span, say, options) + rep_cues(routine, index, 0, say, options)
        else:  # in the hold, or its instructions in a set-up gap before it: the same lines
            cues += exercise_cues(routine, index, 0, span, say, options)
    if options.intro:  # the chapters' titles are the book's too
        say.words("intro_chapter")
    say.words("outro_chapter")
    if lengths is None:  # the lengths are not known yet: any of them may need hours, minutes and seconds
        say.length(3_661_000 if (options.total_ms or 0) >= 3_600_000 else 61_000)
    if say.missing:
        raise PlanError(missing_message(routine, say))
    return list(seen)
