"""The timeline rules hold for many routines and options, not just the seed (a seeded random grid)."""
from __future__ import annotations

import itertools
import random
import re

import pytest
from conftest import fake_measure

from voiceguide.errors import PlanError
from voiceguide.plan import (
    BEGIN_TEXT,
    Detail,
    DropCause,
    Kind,
    PlanOptions,
    Role,
    Setup,
    build_plan,
    covered_by_switch,
)
from voiceguide.routine import parse_routine

WORDS = ["breathe", "slowly", "reach", "long", "soften", "knees", "hips", "shoulders", "spine", "gently", "forward", "back"]


def _line(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high))).capitalize() + "."


def _random_case(seed: int):
    rng = random.Random(seed)
    lines = ["title: Random Routine"]
    holds = []
    if rng.random() < 0.5:
        lines.append(f'targets: "{_line(rng, 4, 14)} {_line(rng, 4, 14)}"')
    lines.append(f'closing:\n  text: "{_line(rng, 4, 12)} {_line(rng, 4, 12)}"')
    lines.append("exercises:")
    for i in range(rng.randint(1, 5)):
        hold = rng.choice([8, 10, 12, 16, 20, 30, 45, 60, 90, 120])
        holds.append(hold)
        lines.append(f"  - name: {' '.join(rng.choice(WORDS).capitalize() for _ in range(rng.randint(1, 4)))}")
        if rng.random() < 0.25:  # in reps: their length instead of the hold drawn above
            reps, held, relax = rng.randint(1, 6), rng.choice([2, 3, 5, 8]), rng.choice([2, 3, 5, 10])
            lines.append(f"    reps: {reps}\n    hold: {held}\n    relax: {relax}")
            hold = 0
        else:
            lines.append(f"    duration: {hold}")
        lines.append(f"    sides: {rng.choice(['one', 'both'])}")
        for key, low, high in (("instructions", 3, 25), ("tips", 3, 15), ("adjustments", 3, 15)):
            count = rng.randint(0, 4)
            if count:
                lines.append(f"    {key}:")
                lines += [f'      - "{_line(rng, low, high)}"' for _ in range(count)]
    if rng.random() < 0.5 and all(holds):
        lines.insert(1, f"duration: {sum(holds) + rng.choice([5, 20, 30, 60, 120])}")
    options = PlanOptions(
        detail=rng.choice(list(Detail)), countdown=rng.choice([0, 3, 5]),
        pace=rng.choice([1.0, 1.0, 0.8, 1.5]), total_ms=rng.choice([None, None, None, 600_000]),
        intro=rng.random() < 0.8, next_up=rng.random() < 0.8, sides_each=rng.random() < 0.3,
        chimes=rng.random() < 0.8, setup=Setup.GAP if rng.random() < 0.8 else Setup.NONE)
    return parse_routine("\n".join(lines) + "\n", f"case{seed}.yaml"), options


def _check(routine, options, plan) -> None:
    gap = options.gap_ms
    chapters = plan.chapters
    assert chapters[0].start_ms == 0 and chapters[-1].end_ms == plan.duration_ms
    for a, b in itertools.pairwise(chapters):
        assert a.end_ms == b.start_ms and a.end_ms > a.start_ms
    if options.total_ms:
        assert plan.duration_ms == options.total_ms and plan.setup_added_ms == 0
    elif routine.duration_ms and options.intro and options.pace == 1.0 and not options.sides_each:
        # the stated total, or more when the set-up gaps need more than its spare time (to a whole 5 s)
        assert plan.duration_ms == routine.duration_ms + plan.setup_added_ms
        assert plan.setup_added_ms == 0 or plan.duration_ms % 5000 == 0
    elif not (routine.duration_ms and options.intro):  # only a stated total is added to
        assert plan.setup_added_ms == 0
    offset = 1 if options.intro else 0
    assert [c.title for c in chapters] == (["Intro"] if options.intro else []) + [
        e.name for e in routine.exercises] + ["Outro"]

    speech = plan.speech
    for a, b in itertools.pairwise(speech):
        need = 0 if a.role is b.role is Role.COUNTDOWN else gap
        assert b.start_ms >= a.end_ms + need, (a.text, a.end_ms, b.text, b.start_ms)

    bell = options.bell_ms if options.chimes else 0
    for e in speech:
        if e.exercise is None:
            if options.intro and e.start_ms < chapters[0].end_ms:
                assert e.end_ms <= chapters[0].end_ms - options.settle_ms
            else:
                assert e.end_ms <= plan.duration_ms - bell - options.chime_clear_ms
        else:
            ch = chapters[e.exercise + offset]
            assert ch.start_ms + options.bell_lead_ms <= e.start_ms and e.end_ms <= ch.end_ms - options.chime_clear_ms
            if ch.setup_ms:  # nothing crosses the start of the hold; the set-up ends in quiet, to settle
                assert e.end_ms <= ch.hold_start_ms - options.settle_ms or e.start_ms >= ch.hold_start_ms

    for index, exercise in enumerate(routine.exercises):
        ch = chapters[index + offset]
        hold = ch.end_ms - ch.hold_start_ms
        mine = [e for e in speech if e.exercise == index]
        assert [e.role for e in mine[:2]] == [Role.NAME, Role.LENGTH]
        if exercise.reps:  # set up before the first count, which starts the hold; then counted
            assert ch.setup_ms > 0 and hold == exercise.duration_ms
            starts = [ch.hold_start_ms + at for at in exercise.reps.starts_ms(exercise.sides)]
            assert [e.start_ms for e in mine if e.role is Role.REP] == starts
            ends = [e.start_ms for e in mine if e.role is Role.RELAX]
            assert set(ends) <= {at + exercise.reps.hold_ms for at in starts}
            assert len(ends) == len(starts) - (exercise.sides.value == "both")
        elif not options.total_ms and options.pace == 1.0:
            each = options.sides_each and exercise.sides.value == "both"
            assert hold == (2 * exercise.duration_ms + options.switch_gap_ms if each else exercise.duration_ms)
        elif options.total_ms:
            each = options.sides_each and exercise.sides.value == "both"
            assert ((hold - options.switch_gap_ms) // 2 if each else hold) % 5000 == 0
        holds = [e for e in plan.events if e.role is Role.HOLD and e.exercise == index]
        assert len(holds) == (1 if ch.setup_ms and not exercise.reps and options.chimes else 0)
        assert all(e.start_ms == ch.hold_start_ms for e in holds)
        assert options.setup is Setup.GAP or exercise.reps or ch.setup_ms == 0
        numbers = [e for e in mine if e.role is Role.COUNTDOWN]
        countdown = 0 if exercise.reps else options.countdown
        assert [ch.end_ms - e.start_ms for e in numbers] == [1000 * k for k in range(countdown, 0, -1)]
        switch = [e for e in mine if e.role is Role.SWITCH]
        if exercise.sides.value == "both":
            if exercise.reps:  # where the last relax on the first side starts
                middle = starts[exercise.reps.count - 1] + exercise.reps.hold_ms + options.soft_lead_ms
                assert len(switch) == 1 and switch[0].start_ms == middle
            else:
                middle = (ch.hold_start_ms + ch.end_ms) // 2
                assert len(switch) == 1 and abs(switch[0].start_ms - middle) <= 1000
            assert all(e.end_ms <= switch[0].start_ms for e in mine if e.role in (Role.NAME, Role.LENGTH, Role.INSTRUCTION))
        instructions = [e.text for e in mine if e.role is Role.INSTRUCTION]
        if options.setup is Setup.GAP and options.detail is not Detail.BRIEF:
            # every instruction is said, in order, but those a switch cue says anyway may be left out
            assert [t for t in exercise.instructions if t not in instructions] == [
                t for t in exercise.instructions if t not in instructions and covered_by_switch(t)
                and exercise.sides.value == "both"]
        if ch.setup_ms:
            assert all(e.end_ms <= ch.hold_start_ms for e in mine if e.role is Role.INSTRUCTION)
        nxt = [e for e in mine if e.role is Role.NEXT]
        if nxt:
            assert all(e.start_ms > nxt[0].start_ms for e in mine if e.role is Role.COUNTDOWN)
            assert all(e.end_ms <= nxt[0].start_ms for e in mine if e.role in (
                Role.INSTRUCTION, Role.TIP, Role.SWITCH, Role.ADJUSTMENT, Role.SUMMARY))
    chimes = [e for e in plan.events if e.kind is Kind.CHIME]
    if options.chimes:
        bells = sorted(e.start_ms for e in chimes if e.sound == "bell")
        assert bells == [c.start_ms for c in chapters] + [plan.duration_ms - options.bell_ms]
    else:
        assert chimes == []
    if options.intro:
        intro = [e for e in speech if e.exercise is None and e.start_ms < chapters[0].end_ms]
        assert intro[-1].text == BEGIN_TEXT
    spoken = {(e.exercise, e.text) for e in speech}
    assert not {(d.exercise, d.text) for d in plan.dropped if d.cause.for_lack_of_time} & spoken
    said_as = {DropCause.DETAIL: (f"detail {options.detail.value} leaves it out (spoken with --detail ",),
               DropCause.NO_NEXT_UP: ("--no-next-up leaves it out",),
               DropCause.NO_TIME: ("no room in ", "--setup none: no set-up gap before the first rep "),
               DropCause.BEFORE_SWITCH: ("does not fit before the side switch at ",),
               DropCause.COVERED: ('the "Switch sides." cue says it',)}
    for d in plan.dropped:
        assert d.reason.startswith(said_as[d.cause]), (d.cause, d.reason)
        if d.cause is DropCause.COVERED:
            assert d.role is Role.INSTRUCTION and covered_by_switch(d.text)
        assert d.cause is not DropCause.DETAIL or options.detail is not Detail.FULL
        assert d.cause is not DropCause.NO_NEXT_UP or (d.role is Role.NEXT and not options.next_up)
        if d.cause is DropCause.BEFORE_SWITCH:
            assert d.exercise is not None and routine.exercises[d.exercise].sides.value == "both"
            assert d.role in (Role.INSTRUCTION, Role.SUMMARY)
    unsaid = {d.exercise for d in plan.dropped if d.role is Role.INSTRUCTION and d.cause.for_lack_of_time}
    assert [w.exercise for w in plan.warnings] == sorted(unsaid)
    assert options.setup is Setup.NONE or not unsaid


@pytest.mark.parametrize("chunk", range(8))
def test_rules_hold_across_random_routines(chunk):
    built = failed = 0
    for seed in range(chunk * 60, chunk * 60 + 60):
        routine, options = _random_case(seed)
        try:
            plan = build_plan(routine, fake_measure, options)
        except PlanError as exc:
            assert any(w in str(exc) for w in ("too short", "duration", "too little")), str(exc)
            assert not re.search(r"-\d+:\d\d", str(exc)), str(exc)  # a negative time is never shown
            failed += 1
            continue
        try:
            _check(routine, options, plan)
        except AssertionError as exc:
            raise AssertionError(f"seed {seed}, {options}: {exc}") from None
        built += 1
    assert built > 30  # most random routines do fit; the rest fail cleanly
