"""Routine files: the seed is transcribed word for word; every mistake names file:line:column."""
from __future__ import annotations

import pytest
from conftest import DATA

from voiceguide.errors import RoutineError
from voiceguide.routine import Sides, load_routine, parse_routine, sentences


def _seed_text() -> str:
    return (DATA / "seed-lower-back-relief.txt").read_text(encoding="utf-8").replace("\u2019", "'")


def _seed_exercises() -> list[dict]:
    """The seven exercises as the seed text has them (name, duration, summary, lists)."""
    lines = _seed_text().splitlines()
    out: list[dict] = []
    section = None
    for i, line in enumerate(lines):
        if line.startswith("Duration: "):
            out.append({"name": lines[i - 1], "duration": line.split(": ")[1], "summary": lines[i + 1],
                        "difficulty": lines[i + 2].split(": ")[1], "Instructions": [], "Tips": [],
                        "Adjustments": []})
            section = None
        elif out and line in ("Instructions", "Tips", "Adjustments"):
            section = line
        elif out and section and line.startswith("- "):
            out[-1][section].append(line[2:])
        elif line.strip() == "":
            section = None
    return out


def test_seed_has_seven_exercises_word_for_word(seed):
    expected = _seed_exercises()
    assert len(expected) == 7 == len(seed.exercises)
    for want, got in zip(expected, seed.exercises):
        assert got.name == want["name"]
        m, s = want["duration"].split(":")
        assert got.duration_ms == (int(m) * 60 + int(s)) * 1000
        assert got.summary == want["summary"]
        assert got.difficulty.lower() == want["difficulty"].lower()
        assert list(got.instructions) == want["Instructions"]
        assert list(got.tips) == want["Tips"]
        assert list(got.adjustments) == want["Adjustments"]


def test_seed_sides_follow_the_instructions(seed):
    """`sides: both` exactly where the instructions say to switch sides."""
    for exercise in seed.exercises:
        switches = any("switch" in line.lower() for line in exercise.instructions)
        assert (exercise.sides is Sides.BOTH) == switches, exercise.name
    assert sum(e.sides is Sides.BOTH for e in seed.exercises) == 5


def test_seed_prose_word_for_word(seed):
    text = _seed_text()
    flat = " ".join(text.split())
    # the "1" after "improve function." is a citation marker, not a word to speak
    flat = flat.replace("improve function.1", "improve function.")
    for field in (seed.about, seed.targets, seed.included, seed.who, seed.advice, seed.closing.text):
        assert field and " ".join(field.split()) in flat
    assert seed.title == "Lower Back Relief"
    assert seed.closing.title == "Back Relief Through Hip Freedom"
    assert seed.duration_ms == 360_000 and seed.holds_ms == 330_000


def test_sentences_split_prose():
    assert sentences("One two. Three four? Five!\nSix.") == ["One two.", "Three four?", "Five!", "Six."]


def _problems(text: str) -> list[str]:
    with pytest.raises(RoutineError) as info:
        parse_routine(text, "x.yaml")
    return info.value.problems


MINIMAL = "title: T\nexercises:\n  - name: A\n    duration: 30\n"


def test_minimal_routine_and_duration_forms():
    r = parse_routine(MINIMAL, "x.yaml")
    assert r.exercises[0].duration_ms == 30_000 and r.duration_ms is None
    for raw, ms in (("1:30", 90_000), ('"1:30"', 90_000), ('"1m30s"', 90_000), ("45s", 45_000)):
        r = parse_routine(MINIMAL.replace("duration: 30", f"duration: {raw}"), "x.yaml")
        assert r.exercises[0].duration_ms == ms, raw


def test_every_problem_is_reported_with_file_line_column():
    problems = _problems(
        "title: T\n"
        "exercises:\n"
        "  - name: A\n"
        "    duration: fast\n"
        "    sides: no\n"
        "    tipz: [a]\n"
        "  - name: B\n"
        "durration: 5\n")
    assert problems == [
        'x.yaml:4:15: exercises[0].duration: expected a duration like 45, "0:45", "45s", "1m30s" or "1 minute 30", got "fast"',
        'x.yaml:5:12: exercises[0].sides: expected one of one, both; got "no"',
        'x.yaml:6:5: exercises[0].tipz: unknown field; did you mean "tips"?',
        'x.yaml:7:5: exercises[1]: missing required field "duration"',
        'x.yaml:8:1: durration: unknown field; did you mean "duration"?',
    ]


@pytest.mark.parametrize("text, where", [
    ("title: [unclosed\n", "x.yaml:2:1: not valid YAML"),
    ("", "x.yaml:1:1: routine: the file is empty"),
    ("- a\n- b\n", "x.yaml:1:1: routine: expected a mapping"),
    ("title: T\n", 'x.yaml:1:1: routine: missing required field "exercises"'),
    ("title: T\ntitle: U\nexercises: []\n", "x.yaml:2:1: title: duplicate key"),
    ("title: T\nexercises: []\n", "x.yaml:2:12: exercises: expected a list of at least one exercise, got an empty list"),
    (MINIMAL + "    instructions: do it\n", "x.yaml:5:19: exercises[0].instructions: expected a list of lines"),
    (MINIMAL + "    tips: [[nested]]\n", "x.yaml:5:12: exercises[0].tips[0]: expected text, got a list"),
    (MINIMAL.replace("name: A", "name:"), "x.yaml:3:10: exercises[0].name: expected text, got nothing"),
    ("title: T\nduration: soon\n" + MINIMAL[9:], 'x.yaml:2:11: duration: expected a duration'),
    (MINIMAL + "pronounce: [a]\n", "x.yaml:5:12: pronounce: expected a mapping"),
])
def test_bad_input_names_the_place(text, where):
    assert any(p.startswith(where) for p in _problems(text)), _problems(text)


def test_missing_file_says_how_to_fix(tmp_path):
    with pytest.raises(RoutineError) as info:
        load_routine(tmp_path / "nope.yaml")
    assert "no such file" in str(info.value) and "voiceguide routines" in str(info.value)


def test_pronounce_pairs_are_read():
    r = parse_routine(MINIMAL + "pronounce:\n  Psoas: SO-us\n", "x.yaml")
    assert r.pronounce == (("Psoas", "SO-us"),)


def test_yaml_mistakes_get_a_hint():
    tabs = _problems("title: T\nexercises:\n\t- name: A\n")
    assert "indent with spaces, not tabs" in tabs[0]


@pytest.mark.parametrize("text, problem", [
    # a missing colon: the line that lacks it, not the line after (nor line 8 of a 7-line file)
    ("title: T\nexercises:\n  - name A\n    duration: 30\n",
     'x.yaml:3:5: not valid YAML: "name A" is missing the ":" after "name"; write "name: A"'),
    ("title: T\nabout: x\nexercises:\n  - name: A\n    duration: 30\n    tips:\n      - a\n    summary x\n",
     'x.yaml:8:5: not valid YAML: "summary x" is missing the ":" after "summary"; write "summary: x"'),
    ("title T\nexercises:\n  - name: A\n    duration: 30\n",
     'x.yaml:1:1: not valid YAML: "title T" is missing the ":" after "title"; write "title: T"'),
    # a mis-indented line
    ("title: T\nexercises:\n  - name: A\n   duration: 30\n",
     ('x.yaml:4:4: not valid YAML: this line is indented 3 spaces, which lines up with nothing above it ("name" on '
     "line 3 is indented 4); the fields of one mapping start in the same column")),
    ("title: T\nexercises:\n  - name: A\n    duration: 30\n     tips: [a]\n",
     ('x.yaml:5:6: not valid YAML: this line is indented 5 spaces, more than "duration" above it (4 spaces); the '
     "fields of one mapping start in the same column")),
    ("title: T\nexercises:\n  - name: A\n    duration: 30\n    tips:\n      - a\n     - b\n",
     "x.yaml:7:6: not valid YAML: this list item is indented 5 spaces, the one above it (line 6) 6; line them up"),
    # an unclosed quote: where it opens
    ('title: T\nabout: "x\nexercises:\n  - name: A\n    duration: 30\n',
     ('x.yaml:2:8: not valid YAML: the quote (") that opens this text is never closed; end the text with " on the '
     "same line, or write it without quotes")),
    ("title: T\nexercises:\n  - name: 'Child's Pose'\n    duration: 30\n",
     ("x.yaml:3:18: not valid YAML: the text in quotes ends early, at a ' inside it; put text that holds ' in \" "
     "quotes, or write it without quotes")),
    # a list item without "- "
    ("title: T\nexercises:\n  - name: A\n    duration: 30\n    tips:\n      - one\n      two\n",
     ('x.yaml:7:7: not valid YAML: "two" is in a list, but does not start with "- " as the items above it do; write '
     '"- two"')),
    ("title: T\nexercises:\n  - name: A\n    duration: 30\n  name: B\n  duration: 20\n",
     ('x.yaml:5:3: not valid YAML: this line lines up with the list item on line 3 but does not start with "- "; '
     'indent it 4 spaces to belong to that item, or start a new item with "- "')),
    # a text that holds ": "
    ("title: T\nexercises:\n  - name: A\n    duration: 30\n    summary: Note: breathe\n",
     ('x.yaml:5:18: not valid YAML: this text holds ": ", which YAML reads as a new field; put the whole text in '
     "quotes")),
])
def test_common_yaml_mistakes_are_said_plainly_at_the_line_to_change(text, problem):
    assert _problems(text) == [problem]
    assert int(problem.split(":")[1]) <= text.count("\n")  # a line the file has


def test_the_closing_words_can_be_a_text_under_outro_or_closing():
    from voiceguide.routine import Closing

    for key in ("outro", "closing"):
        r = parse_routine(MINIMAL + f"{key}: Well done. Stand up slowly.\n", "x.yaml")
        assert r.closing == Closing("", "Well done. Stand up slowly.")
    r = parse_routine(MINIMAL + "outro:\n  title: Rest\n  text: Well done.\n", "x.yaml")
    assert r.closing == Closing("Rest", "Well done.")
    assert _problems(MINIMAL + "closing: Bye.\noutro: Bye.\n") == [
        "x.yaml:6:8: outro: the closing words are given twice (closing, line 5); keep one of them"]


@pytest.mark.parametrize("written, meant", [
    ("zzz", None), ("ending", "closing"), ("cooldown", "closing"), ("Title", "title"),
    ("    steps", "instructions"), ("    cues", "tips"), ("    notes", "tips"), ("    time", "duration"),
    ("    length", "duration"), ("    side", "sides"), ("    bilateral", "sides"), ("    Tips", "tips"),
])
def test_did_you_mean_knows_the_words_people_reach_for(written, meant):
    problems = _problems(MINIMAL + f"{written}: x\n")
    field = written.strip()
    where = f"exercises[0].{field}" if written.startswith(" ") else field
    hint = f'did you mean "{meant}"?' if meant else "allowed: title, duration,"
    assert any(p.startswith("x.yaml:5:") and f"{where}: unknown field; {hint}" in p for p in problems), problems


def test_a_stated_length_and_a_target_length_together_are_refused_where_the_target_is():
    text = 'title: T\nduration: "6:00"\n' + MINIMAL[9:] + 'options:\n  duration: "10:00"\n'
    assert _problems(text) == [
        ('x.yaml:7:13: options.duration: the routine states its length (duration: "6:00", line 2), and '
        'options.duration asks for a session of "10:00" with the holds scaled to fit; keep one: remove '
        "options.duration to keep the stated length, or remove the top-level duration to scale the holds (to try "
        "another length once, use --duration)")]
    assert parse_routine('title: T\nduration: "6:00"\n' + MINIMAL[9:], "x.yaml").duration_ms == 360_000
    assert dict(parse_routine(MINIMAL + 'options:\n  duration: "10:00"\n', "x.yaml").options) == {
        "duration": 600_000}


def test_choices_ignore_case():
    r = parse_routine(MINIMAL + "    sides: Both\n", "x.yaml")
    assert r.exercises[0].sides is Sides.BOTH


def test_options_are_validated_with_their_place():
    problems = _problems(MINIMAL + "options:\n  rate: fast\n  sides: no\n  pase: 2\n")
    assert problems == [
        'x.yaml:6:9: options.rate: expected words per minute from 80 to 300, got "fast"',
        'x.yaml:7:10: options.sides: expected how to do two-sided holds: one of split, each; got "no"',
        'x.yaml:8:3: options.pase: unknown field; did you mean "pace"?',
    ]
    r = parse_routine(MINIMAL + 'options:\n  pace: 1.5\n  duration: "10:00"\n  intro: false\n  chime: none\n',
                      "x.yaml")
    assert dict(r.options) == {"pace": 1.5, "duration": 600_000, "intro": False, "chime": "none"}


def test_json_schema_is_shipped_current_and_matches_the_loader(seed):
    import json

    import jsonschema
    import yaml
    from conftest import ROOT

    from voiceguide.schema import schema_json

    shipped = ROOT / "routines" / "routine.schema.json"
    assert shipped.read_text() == schema_json()  # refresh with: voiceguide schema > routines/routine.schema.json
    schema = json.loads(schema_json())
    text = (ROOT / "routines" / "lower-back-relief.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=routine.schema.json")
    jsonschema.validate(yaml.safe_load(text), schema)
    for bad in ("title: T\nexercises: []\n", MINIMAL + "    tipz: [a]\n", MINIMAL + "options:\n  pace: 9\n",
                MINIMAL.replace("duration: 30", "duration: fast")):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(yaml.safe_load(bad), schema)
        with pytest.raises(RoutineError):
            parse_routine(bad, "x.yaml")


def test_alias_bombs_are_refused_before_expanding():
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    problems = _problems("\n".join(lines) + "\n")
    assert len(problems) == 1 and "more than 50 aliases" in problems[0] and problems[0].startswith("x.yaml:7:")


def test_values_are_read_as_written_like_a_flags():
    r = parse_routine(MINIMAL + "options:\n  bitrate: 128\n  sides: Each\n  intro: no\n  duration: 1:30:00\n"
                      '  rate: "140"\n  voice: 123\n', "x.yaml")
    assert dict(r.options) == {"bitrate": 128, "sides": "each", "intro": False, "duration": 5_400_000,
                               "rate": 140, "voice": "123"}
    r = parse_routine(MINIMAL.replace("title: T", "title: !!str 2024"), "x.yaml")
    assert r.title == "2024"  # !!str is the one tag a routine may use: it only says "this is text"


def test_tags_are_refused_wherever_they_are():
    problems = _problems("!!omap\n- title: T\n")
    assert problems == [("x.yaml:1:1: routine: the YAML tag !!omap is not allowed in a routine; remove it and "
                        "write the value plainly")]
    problems = _problems(MINIMAL.replace("    duration: 30", "    !!python/object:os.system duration: 30"))
    assert problems[1].startswith("x.yaml:4:5: exercises[0].duration: the YAML tag !!python/object:os.system")
    problems = _problems(MINIMAL + "    tips: !custom [a]\n")
    assert problems == [("x.yaml:5:11: exercises[0].tips: the YAML tag !custom is not allowed in a routine; "
                        "remove it and write the value plainly")]


def test_nesting_is_refused_just_past_the_limit():
    from voiceguide.routine_file import MAX_DEPTH

    def nested(depth: int) -> str:  # the tips list itself is depth 4
        return MINIMAL + "    tips: " + "[" * (depth - 3) + "a" + "]" * (depth - 3) + "\n"

    assert "expected text, got a list" in _problems(nested(MAX_DEPTH))[0]
    assert f"nested more than {MAX_DEPTH} deep" in _problems(nested(MAX_DEPTH + 1))[0]


def test_text_limits_hold_at_their_edges():
    from voiceguide.routine import MAX_LINE_CHARS, MAX_TITLE_CHARS

    ok = parse_routine(MINIMAL.replace("title: T", "title: " + "t" * MAX_TITLE_CHARS)
                       + "    tips:\n      - " + "w" * MAX_LINE_CHARS + "\n", "x.yaml")
    assert len(ok.title) == MAX_TITLE_CHARS and len(ok.exercises[0].tips[0]) == MAX_LINE_CHARS
    assert _problems(MINIMAL.replace("title: T", "title: " + "t" * (MAX_TITLE_CHARS + 1)))[0].startswith(
        "x.yaml:1:8: title: 201 characters")
    assert parse_routine(MINIMAL.replace("name: A", "name: '1'"), "x.yaml").exercises[0].name == "1"


def test_a_text_with_a_tab_or_line_break_inside_is_fine():
    r = parse_routine(MINIMAL + '    summary: "one\\ttwo\\nthree"\n', "x.yaml")
    assert r.exercises[0].summary == "one two\nthree"


# --- exercises in reps ------------------------------------------------------------------------------------

REPS = "title: T\nexercises:\n  - name: Quad Sets\n    reps: 10\n    hold: 5\n"


def test_reps_make_the_length():
    from voiceguide.routine import REPS_SWITCH_MS, Reps

    r = parse_routine(REPS, "x.yaml")
    assert r.exercises[0].reps == Reps(10, 5000, 3000) and r.exercises[0].duration_ms == 80_000  # relax: 3
    r = parse_routine(REPS + "    relax: 2.5\n    sides: both\n", "x.yaml")
    assert r.exercises[0].reps == Reps(10, 5000, 2500)
    assert r.exercises[0].duration_ms == 2 * 10 * 7500 + REPS_SWITCH_MS == 155_000
    assert r.exercises[0].reps.starts_ms(Sides.BOTH)[9:11] == [67_500, 80_000]  # 5 s more to change sides
    for written in ('"1:20"', "80", '"80s"'):  # a duration that agrees is fine
        assert parse_routine(REPS + f"    duration: {written}\n", "x.yaml").exercises[0].duration_ms == 80_000
    assert parse_routine(REPS.replace("hold: 5", 'hold: "0:05"'), "x.yaml").exercises[0].reps == Reps(10, 5000)


def test_a_duration_that_disagrees_with_the_reps_names_its_place():
    assert _problems(REPS + "    duration: 90\n") == [
        ("x.yaml:6:15: exercises[0].duration: 1:30 does not agree with the reps: 10 x (5 s hold + 3 s relax) = 1:20; "
        "remove duration or make it 1:20")]
    assert _problems(REPS + "    duration: 160\n    sides: both\n") == [
        ("x.yaml:6:15: exercises[0].duration: 2:40 does not agree with the reps: 10 x (5 s hold + 3 s relax) on each "
        "side, with 5 s to change sides, = 2:45; remove duration or make it 2:45")]


@pytest.mark.parametrize("text, problem", [
    (REPS.replace("reps: 10", "reps: 2.5"), ("x.yaml:4:11: exercises[0].reps: expected a whole number of reps from 1 "
                                            "to 100, got 2.5")),
    (REPS.replace("reps: 10", "reps: 0"), ("x.yaml:4:11: exercises[0].reps: expected a whole number of reps from 1 to "
                                          "100, got 0")),
    (REPS.replace("reps: 10", "reps: 101"), ("x.yaml:4:11: exercises[0].reps: expected a whole number of reps from 1 "
                                            "to 100, got 101")),
    (REPS.replace("reps: 10", "reps: .nan"), ('x.yaml:4:11: exercises[0].reps: expected a whole number of reps from '
                                             '1 to 100, got ".nan"')),
    (REPS.replace("reps: 10", "reps: ten"), ('x.yaml:4:11: exercises[0].reps: expected a whole number of reps from 1 '
                                            'to 100, got "ten"')),
    (REPS.replace("reps: 10", "reps: [10]"), ("x.yaml:4:11: exercises[0].reps: expected a whole number of reps, got a "
                                             "list")),
    (REPS.replace("hold: 5", "hold: 601"), ("x.yaml:5:11: exercises[0].hold: expected a rep's hold of at most 600 "
                                           "seconds (10:00), got 601")),
    (REPS.replace("hold: 5", "hold: 0"), ("x.yaml:5:11: exercises[0].hold: expected a duration of at least one "
                                         "second, got 0")),
    (REPS.replace("hold: 5", "hold: .inf"), ('x.yaml:5:11: exercises[0].hold: expected a duration like 45, "0:45", '
                                            '"45s", "1m30s" or "1 minute 30", got ".inf"')),
    (REPS + "    relax: 0\n", "x.yaml:6:12: exercises[0].relax: expected a duration of at least one second, got 0"),
    (REPS + "    relax: 11m\n", ('x.yaml:6:12: exercises[0].relax: expected the relax after a rep of at most 600 '
                                'seconds (10:00), got "11m"')),
    (REPS.replace("    hold: 5\n", ""), ('x.yaml:3:5: exercises[0]: missing required field "hold" (the seconds each '
                                        'rep is held), which reps needs')),
])
def test_bad_reps_name_their_place(text, problem):
    assert _problems(text) == [problem]


def test_hold_and_relax_go_with_reps():
    assert _problems("title: T\nexercises:\n  - name: A\n    duration: 30\n    hold: 5\n    relax: 2\n") == [
        ("x.yaml:5:11: exercises[0].hold: goes with reps (how many times the exercise is done); add reps or remove "
        "hold"),
        ("x.yaml:6:12: exercises[0].relax: goes with reps (how many times the exercise is done); add reps or remove "
        "relax")]
    assert _problems("title: T\nexercises:\n  - name: A\n    hold: 5\n") == [
        'x.yaml:3:5: exercises[0]: missing required field "duration"',
        ("x.yaml:4:11: exercises[0].hold: goes with reps (how many times the exercise is done); add reps or remove "
        "hold")]


def test_reps_keep_their_length_under_pace_in_the_day_limit():
    from voiceguide.options import Settings
    from voiceguide.routine import check_length

    routine = parse_routine("title: T\nexercises:\n  - name: A\n    reps: 60\n    hold: 600\n    relax: 600\n"
                            '  - name: B\n    duration: "3:00:00"\n', "x.yaml")
    assert routine.holds_ms == 23 * 3_600_000
    check_length(routine, Settings(pace=0.25))
    with pytest.raises(RoutineError, match="the holds would last 26:00:00 at pace 2;"):
        check_length(routine, Settings(pace=2))  # 20 hours of reps as written, 3 hours of hold doubled
