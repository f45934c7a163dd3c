"""Exercises in reps: counted aloud at exact times, set up before the first rep, tips only where the
person relaxes; planned with a fake speech length, then built for real and listened to."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import ROOT, fake_measure

from voiceguide.errors import PlanError
from voiceguide.plan import (
    LAST_REP_TEXT,
    RELAX_TEXT,
    SWITCH_TEXT,
    Kind,
    PlanOptions,
    Role,
    Setup,
    build_plan,
    utterances,
)
from voiceguide.routine import load_routine, parse_routine

REHAB = """\
title: Rehab
exercises:
  - name: Squeeze
    reps: 3
    hold: 4
    relax: 3
    instructions:
      - Sit tall.
    tips:
      - Breathe.
  - name: Slide
    reps: 2
    hold: 3
    relax: 8
    sides: both
    tips:
      - Keep it slow and easy.
"""
NO_INTRO = PlanOptions(intro=False)


def _plan(options: PlanOptions = NO_INTRO, text: str = REHAB):
    return build_plan(parse_routine(text, "rehab.yaml"), fake_measure, options)


def _cues(plan, index: int) -> list[tuple[int, str, str]]:
    """(ms from the hold's start, role, text) of an exercise's timed cues."""
    t0 = plan.chapters[index].hold_start_ms
    return [(e.start_ms - t0, e.role.value, e.text or e.sound) for e in plan.events
            if e.exercise == index and e.role in (Role.REP, Role.RELAX, Role.SWITCH) or
            (e.exercise == index and e.kind is Kind.CHIME and e.sound == "bell-soft")]


def test_each_rep_is_counted_at_its_start_and_relaxed_at_its_end():
    plan = _plan()
    squeeze = plan.chapters[0]
    # the set-up: the bell's 1.2 s, "Squeeze." (0.54 s at 90 %), "Three reps of four seconds." (1.9 s),
    # "Sit tall." (0.85 s) with 0.7 s between, then 2 s to settle: the count starts the hold's clock
    assert squeeze.start_ms == 0 and squeeze.setup_ms == 1200 + 538 + 700 + 1900 + 700 + 850 + 2000 == 7888
    assert squeeze.end_ms - squeeze.hold_start_ms == 3 * (4000 + 3000)
    assert _cues(plan, 0) == [(0, "rep", "One."), (4000, "relax", RELAX_TEXT), (7000, "rep", "Two."),
                              (11000, "relax", RELAX_TEXT), (14000, "rep", LAST_REP_TEXT),
                              (18000, "relax", RELAX_TEXT)]
    said = [e.text for e in plan.speech if e.exercise == 0 and e.start_ms < squeeze.hold_start_ms]
    assert said == ["Squeeze.", "Three reps of four seconds.", "Sit tall."]
    assert not [e for e in plan.speech if e.role is Role.COUNTDOWN]  # the count is the countdown
    # one chapter per exercise, back to back; the next bell rings as the last relax ends
    assert [c.title for c in plan.chapters] == ["Squeeze", "Slide", "Outro"]
    assert plan.chapters[1].start_ms == squeeze.end_ms == squeeze.hold_start_ms + 21_000


def test_both_sides_do_every_rep_on_one_then_switch_in_a_longer_relax():
    plan = _plan()
    slide = plan.chapters[1]
    assert slide.setup_ms == 1200 + 538 + 700 + 2600 + 2000  # no instructions: name, length, settle
    assert slide.end_ms - slide.hold_start_ms == 2 * 2 * 11_000 + 5000
    assert _cues(plan, 1) == [(0, "rep", "One."), (3000, "relax", RELAX_TEXT), (11_000, "rep", LAST_REP_TEXT),
                              (14_000, "chime", "bell-soft"), (14_400, "switch", SWITCH_TEXT),
                              (27_000, "rep", "One."), (30_000, "relax", RELAX_TEXT),
                              (38_000, "rep", LAST_REP_TEXT), (41_000, "relax", RELAX_TEXT)]
    assert "Two reps of three seconds, each side." in {e.text for e in plan.speech}


def test_tips_only_in_relax_gaps_long_enough_for_them():
    plan = _plan()
    for index, reps in ((0, (4000, 3000)), (1, (3000, 8000))):
        t0 = plan.chapters[index].hold_start_ms
        counted = sorted(e.start_ms for e in plan.speech if e.exercise == index and e.role is Role.REP)
        tips = [e for e in plan.speech if e.exercise == index and e.role is Role.TIP]
        assert len(tips) == 1
        for tip in tips:  # never while a rep is held, and clear of the cues around it
            assert all(tip.end_ms <= at or tip.start_ms >= at + reps[0] for at in counted)
            assert tip.start_ms >= t0
    # a 3 s relax leaves no room for a 1.9 s tip beside "Relax." and the gaps; the relax in which the
    # person changes sides is 5 s longer, and takes it after "Switch sides."
    short = _plan(text=REHAB.replace("relax: 8", "relax: 3"))
    switch = next(e for e in short.speech if e.role is Role.SWITCH and e.exercise == 1)
    tip = next(e for e in short.speech if e.role is Role.TIP and e.exercise == 1)
    assert switch.end_ms + 700 <= tip.start_ms and tip.end_ms + 700 <= switch.start_ms - 400 + 8000
    one_side = _plan(text=REHAB.replace("relax: 8", "relax: 3").replace("    sides: both\n", ""))
    assert [(d.exercise, d.text, d.cause.value) for d in one_side.dropped] == [
        (1, "Keep it slow and easy.", "no_time")]


def test_next_up_after_the_last_relax_or_while_the_last_rep_is_held():
    plan = _plan()  # "Relax." (0.5 s), 0.7 s, "Next up: Slide." (1.2 s) fit in the last 3 s relax
    t0 = plan.chapters[0].hold_start_ms
    assert [(e.start_ms - t0, e.end_ms - t0) for e in plan.speech if e.role is Role.NEXT] == [(19_600, 20_800)]
    # "Next up: Slide Your Heel Slowly." (2.25 s) does not: it is said in the last 6 s hold, after
    # "Last one." and ending 0.7 s before "Relax."
    longer = _plan(text=REHAB.replace("name: Slide", "name: Slide Your Heel Slowly").replace("hold: 4", "hold: 6"))
    t0 = longer.chapters[0].hold_start_ms
    assert [(e.start_ms - t0, e.end_ms - t0) for e in longer.speech if e.role is Role.NEXT] == [(21_050, 23_300)]
    assert _cues(longer, 0)[-2:] == [(18_000, "rep", LAST_REP_TEXT), (24_000, "relax", RELAX_TEXT)]


def test_setup_none_leaves_the_instructions_of_reps_out_and_warns():
    plan = _plan(PlanOptions(intro=False, setup=Setup.NONE))
    assert plan.chapters[0].setup_ms == 1200 + 538 + 700 + 1900 + 2000  # the name and length only
    assert [(d.text, d.reason) for d in plan.dropped if d.role is Role.INSTRUCTION] == [
        ("Sit tall.", ('--setup none: no set-up gap before the first rep of exercise 1 "Squeeze"; spoken with '
                       "--setup gap"))]
    assert [w.message for w in plan.warnings] == [
        'rehab.yaml:3: Squeeze: 1 set-up instruction not spoken ("Sit tall."); --setup gap speaks it before the hold starts']


def test_pace_and_duration_leave_reps_as_written():
    paced = _plan(PlanOptions(intro=False, pace=2.0))
    assert [c.end_ms - c.hold_start_ms for c in paced.chapters[:2]] == [21_000, 49_000]
    with pytest.raises(PlanError) as info:
        _plan(PlanOptions(intro=False, total_ms=600_000))
    assert str(info.value) == ("rehab.yaml: every exercise is counted in reps, which keep the timing written; "
                               "--duration has no timed hold to stretch: leave it out")
    mixed = REHAB + '  - name: Stretch\n    duration: "1:00"\n'
    plan = _plan(PlanOptions(intro=False, total_ms=300_000), mixed)
    holds = [c.end_ms - c.hold_start_ms for c in plan.chapters[:3]]
    assert holds[:2] == [21_000, 49_000] and holds[2] % 5000 == 0 and plan.duration_ms == 300_000


def test_a_relax_too_short_for_its_cue_says_what_to_lengthen():
    with pytest.raises(PlanError) as info:
        _plan(text=REHAB.replace("relax: 3", "relax: 1"))
    # "Relax." (0.5 s) and the gap (0.7 s) do not fit before the next count, 1 s later
    assert str(info.value) == ('rehab.yaml:3: exercise 1 "Squeeze" lasts 15.0 s, too short for what must be said in '
                               "it (rep, relax: 3.4 s of speech, with pauses, each at the start or end of a rep); "
                               "lengthen the exercise's hold or relax (--pace leaves reps as written), or speak "
                               "faster (--rate)")


def test_every_rep_cue_is_in_the_lines_synthesised_first():
    routine = parse_routine(REHAB, "rehab.yaml")
    wanted = set(utterances(routine))
    assert {e.utterance for e in build_plan(routine, fake_measure).speech} <= wanted


def test_the_shipped_knee_rehab_routine():
    routine = load_routine(ROOT / "routines" / "knee-rehab.yaml")
    assert [e.reps.count if e.reps else None for e in routine.exercises] == [10, 10, 10, None]
    plan = build_plan(routine, fake_measure)
    assert not plan.warnings
    assert not [d for d in plan.dropped if d.role is Role.INSTRUCTION]
    for index, exercise in enumerate(routine.exercises):
        chapter = plan.chapters[index + 1]
        assert chapter.end_ms - chapter.hold_start_ms == exercise.duration_ms
        counts = [e.text for e in plan.speech if e.exercise == index and e.role is Role.REP]
        if exercise.reps:
            per_side = [f"{n}." for n in ("One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine")]
            assert counts == (per_side + [LAST_REP_TEXT]) * 2


# --- built for real: the counts are heard when the plan says, and nothing in between ----------------------


def _db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12)) if len(x) else -240.0


def test_a_rehab_session_built_for_real_speaks_each_count_on_time(tmp_path):
    import soundfile

    from voiceguide.build import build_session
    from voiceguide.cache import ClipCache

    routine_file = tmp_path / "rehab.yaml"
    routine_file.write_text(REHAB)
    mp3 = tmp_path / "rehab.mp3"
    build_session(load_routine(routine_file), mp3, cache=ClipCache(tmp_path / "cache"))
    samples, rate = soundfile.read(str(mp3), dtype="float32", always_2d=False)
    plan = json.loads(mp3.with_suffix(".json").read_text())
    assert abs(len(samples) / rate - plan["duration_ms"] / 1000) <= 0.1

    def span(a: int, b: int) -> np.ndarray:
        return samples[a * rate // 1000: b * rate // 1000]

    timed = [e for e in plan["events"] if e["role"] in ("rep", "relax", "switch")]
    assert len(timed) == 6 + 8
    for index, chapter in enumerate(plan["chapters"][1:3]):
        hold_start = chapter["start_ms"] + chapter["setup_ms"]
        first = min(e["start_ms"] for e in timed if e["exercise"] == index)
        assert first == hold_start  # the first count starts the hold's clock
    for e in timed:
        assert _db(span(e["start_ms"], e["end_ms"])) > -40, e
        if e["role"] != "switch":  # (which follows its chime)
            assert _db(span(e["start_ms"] - 250, e["start_ms"] - 50)) < -50, e  # it starts when planned
    # silence wherever the plan says nothing for more than a second: while a rep is held, in the relax
    busy = sorted((e["start_ms"], e["end_ms"]) for e in plan["events"])
    quiet, t = [], 0
    for start, end in busy + [(plan["duration_ms"], plan["duration_ms"])]:
        if start - t > 1000:
            quiet.append((t, start))
        t = max(t, end)
    holds = [(e["end_ms"], e["start_ms"] + 3000) for e in timed if e["role"] == "rep" and e["exercise"] == 1]
    assert all(any(a <= h0 and h1 <= b for a, b in quiet) for h0, h1 in holds if h1 - h0 > 1000)
    assert len(quiet) >= 8
    for a, b in quiet:
        assert _db(span(a + 300, b - 300)) < -50, (a, b)
