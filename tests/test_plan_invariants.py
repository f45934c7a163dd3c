"""The timeline rules hold for many routines and options, not just the seed (a seeded random grid)."""
from __future__ import annotations

import random
import re

import pytest

from conftest import fake_measure
from voiceguide.errors import PlanError
from voiceguide.plan import BEGIN_TEXT, Detail, DropCause, Kind, PlanOptions, Role, build_plan
from voiceguide.routine import parse_routine

WORDS = "breathe slowly reach long soften knees hips shoulders spine gently forward back".split()


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
        lines.append(f"    duration: {hold}")
        lines.append(f"    sides: {rng.choice(['one', 'both'])}")
        for key, low, high in (("instructions", 3, 25), ("tips", 3, 15), ("adjustments", 3, 15)):
            count = rng.randint(0, 4)
            if count:
                lines.append(f"    {key}:")
                lines += [f'      - "{_line(rng, low, high)}"' for _ in range(count)]
    if rng.random() < 0.5:
        lines.insert(1, f"duration: {sum(holds) + rng.choice([5, 20, 30, 60, 120])}")
    options = PlanOptions(
        detail=rng.choice(list(Detail)), countdown=rng.choice([0, 3, 5]),
        pace=rng.choice([1.0, 1.0, 0.8, 1.5]), total_ms=rng.choice([None, None, None, 600_000]),
        intro=rng.random() < 0.8, next_up=rng.random() < 0.8, sides_each=rng.random() < 0.3,
        chimes=rng.random() < 0.8)
    return parse_routine("\n".join(lines) + "\n", f"case{seed}.yaml"), options


def _check(routine, options, plan) -> None:
    gap = options.gap_ms
    chapters = plan.chapters
    assert chapters[0].start_ms == 0 and chapters[-1].end_ms == plan.duration_ms
    for a, b in zip(chapters, chapters[1:]):
        assert a.end_ms == b.start_ms and a.end_ms > a.start_ms
    if options.total_ms:
        assert plan.duration_ms == options.total_ms
    elif routine.duration_ms and options.intro and options.pace == 1.0 and not options.sides_each:
        assert plan.duration_ms == routine.duration_ms
    offset = 1 if options.intro else 0
    assert [c.title for c in chapters] == (["Intro"] if options.intro else []) + [
        e.name for e in routine.exercises] + ["Outro"]

    speech = plan.speech
    for a, b in zip(speech, speech[1:]):
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

    for index, exercise in enumerate(routine.exercises):
        ch = chapters[index + offset]
        mine = [e for e in speech if e.exercise == index]
        assert [e.role for e in mine[:2]] == [Role.NAME, Role.LENGTH]
        numbers = [e for e in mine if e.role is Role.COUNTDOWN]
        assert [ch.end_ms - e.start_ms for e in numbers] == [1000 * k for k in range(options.countdown, 0, -1)]
        switch = [e for e in mine if e.role is Role.SWITCH]
        if exercise.sides.value == "both":
            middle = (ch.start_ms + ch.end_ms) // 2
            assert len(switch) == 1 and abs(switch[0].start_ms - middle) <= 1000
            assert all(e.end_ms <= switch[0].start_ms for e in mine if e.role in (Role.NAME, Role.LENGTH, Role.INSTRUCTION))
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
    said_as = {DropCause.DETAIL: f"detail {options.detail.value} leaves it out (spoken with --detail ",
               DropCause.NO_NEXT_UP: "--no-next-up leaves it out", DropCause.NO_TIME: "no room in ",
               DropCause.BEFORE_SWITCH: "does not fit before the side switch at "}
    for d in plan.dropped:
        assert d.reason.startswith(said_as[d.cause]), (d.cause, d.reason)
        assert d.cause is not DropCause.DETAIL or options.detail is not Detail.FULL
        assert d.cause is not DropCause.NO_NEXT_UP or (d.role is Role.NEXT and not options.next_up)
        if d.cause is DropCause.BEFORE_SWITCH:
            assert d.exercise is not None and routine.exercises[d.exercise].sides.value == "both"
            assert d.role in (Role.INSTRUCTION, Role.SUMMARY)


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
