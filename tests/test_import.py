"""Routines people already have: routine pages, w2a workouts and workout timer exports, read into the
same routine a YAML file makes; `import` writes them, `new` starts one; every mistake at its line."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml
from conftest import DATA, SEED, fake_measure, refused

from voiceguide.cli import FORMATS, main
from voiceguide.errors import RoutineError
from voiceguide.export import plan_json
from voiceguide.importers import Format, convert, detect, load
from voiceguide.plan import build_plan
from voiceguide.routine import Sides, load_routine

SEED_PAGE = (DATA / "seed-lower-back-relief.txt").read_text(encoding="utf-8")


def _one(text: str, source: str = "page.txt", fmt: Format | None = None) -> object:
    [loaded] = convert(text, source, fmt, stem=Path(source).stem, yaml_suffix=source.endswith(".yaml"))
    return loaded


# --- the seed page ----------------------------------------------------------------------------------------

def test_the_seed_page_imports_to_the_shipped_routine_and_its_plan():
    loaded = _one(SEED_PAGE, "lower-back-relief.txt")
    assert loaded.format is Format.PAGE
    assert yaml.safe_load(loaded.yaml) == yaml.safe_load(SEED.read_text())  # the shipped file is the import
    shipped = load_routine(SEED)
    imported = loaded.routine
    assert plan_json(build_plan(imported, fake_measure)) == plan_json(build_plan(shipped, fake_measure))
    assert imported.duration_ms == 360_000 and [e.sides for e in imported.exercises].count(Sides.BOTH) == 5


def test_the_seed_import_says_what_it_inferred_at_its_line():
    notes = {(n.line, n.text.split(":")[0]) for n in _one(SEED_PAGE, "lower-back-relief.txt").notes}
    assert (1, 'title "Lower Back Relief", from the heading "About This Lower Back Relief Routine"') in notes
    assert (5, "duration") in notes  # "This six-minute routine", in What's Included
    assert (2, 'left out "1" after "and improve function."') in notes
    assert {line for line, what in notes if what in ("Kneeling Psoas", "Hurdler", "Elbow Side Plank")} == {35, 63, 94}


def _headings(text: str, change) -> str:
    headings = ("About This Lower Back Relief Routine", "What This Routine Targets", "What’s Included",
                "Who Should Try This", "Tips for Best Results", "Instructions", "Tips", "Adjustments")
    return "\n".join(change(line) if line in headings else line for line in text.split("\n"))


def _without_sections(text: str, *names: str) -> str:
    lines = text.split("\n")
    for name in names:
        at = lines.index(name)
        del lines[at:at + 2]  # the heading and its paragraph
    return "\n".join(lines)


VARIATIONS = {
    "CRLF line ends": lambda t: t.replace("\n", "\r\n"),
    "no blank lines": lambda t: re.sub(r"\n\n+", "\n", t),
    "blank lines everywhere": lambda t: t.replace("\n", "\n\n"),
    "a blank line between name and Duration": lambda t: t.replace("\nDuration:", "\n\nDuration:"),
    "headings in capitals": lambda t: _headings(t, str.upper),
    "headings in small letters, with a colon": lambda t: _headings(t, lambda h: h.lower() + ":"),
    "straight quotes": lambda t: t.replace("’", "'"),
    "the citation as [1]": lambda t: t.replace("function.1", "function.[1]"),
    "the citation as a superscript": lambda t: t.replace("function.1", "function.¹"),
    "no optional sections": lambda t: _without_sections(t, "What This Routine Targets", "What’s Included",
                                                        "Who Should Try This", "Tips for Best Results"),
    "bullets as •": lambda t: t.replace("\n- ", "\n• "),
    "spaces and tabs at line ends": lambda t: t.replace("\n", " \t\n"),
    "a byte order mark": lambda t: "\ufeff" + t,
}


@pytest.mark.parametrize("name", list(VARIATIONS))
def test_the_seed_page_reads_the_same_however_it_was_copied(name):
    shipped = yaml.safe_load(SEED.read_text())
    data = yaml.safe_load(_one(VARIATIONS[name](SEED_PAGE), "lower-back-relief.txt").yaml)
    assert data["title"] == "Lower Back Relief"
    assert data["exercises"] == shipped["exercises"]  # names, durations, sides, difficulty, every item
    assert data["closing"] == shipped["closing"]
    for prose in ("about", "targets", "who", "advice"):
        assert data.get(prose, shipped[prose]) == shipped[prose]


def test_a_page_written_by_someone_else_imports_every_field():
    """Capitals, colons, bullets (•, 1., -), CRLF, curly quotes, a [1], no About paragraph headings but
    Who, blank lines here and there, a closing with a title."""
    routine = _one((DATA / "page-desk-reset.txt").read_text(encoding="utf-8"), "page-desk-reset.txt").routine
    assert routine.title == "Desk Reset"
    assert routine.about == "Sitting all day stiffens your neck, chest and hips. This short routine undoes the worst of it."
    assert routine.who == "Anyone who works at a desk and feels it by the afternoon."
    assert [(e.name, e.duration_ms, e.sides, e.difficulty) for e in routine.exercises] == [
        ("Chin Tucks", 45_000, Sides.ONE, "beginner"),
        ("Doorway Chest Stretch", 90_000, Sides.BOTH, "intermediate"),
        ("Seated Figure Four", 60_000, Sides.BOTH, "beginner")]
    chin, doorway, figure_four = routine.exercises
    assert chin.summary == "Draw your head back to stack your ears over your shoulders."
    assert chin.instructions == ("Sit tall with your feet flat on the floor.",
                                 'Glide your chin straight back, as if making a "double chin."')
    assert chin.tips == ("Keep your eyes level and your jaw soft.",) and chin.adjustments == ()
    assert doorway.instructions[1] == "Step through gently until you feel the stretch, then repeat on the other side."
    assert doorway.tips == ("Keep your ribs down and your neck long.",)
    assert doorway.adjustments == ("Lower your arm if you feel tingling in your hand.",)
    assert figure_four.tips == ("Keep your back long; the fold comes from the hips.",)
    assert (routine.closing.title, routine.closing.text) == (
        "Back to Work", "Roll your shoulders once more. You're ready for the rest of the day.")
    assert [e.line for e in routine.exercises] == [9, 22, 33]  # the page's lines, for messages


def test_a_page_without_a_title_takes_the_files_name_and_says_so():
    loaded = _one("Neck Release\nDuration: 1:00\nInstructions\n- Sit tall.\n", "evening-stretch.txt")
    assert loaded.routine.title == "Evening Stretch"
    assert any("from the file's name" in n.text for n in loaded.notes)


def test_a_stated_length_that_leaves_no_room_is_not_taken():
    page = "About This Quick Routine\nThis one-minute routine is quick.\n\nNeck\nDuration: 1:00\n- Sit tall.\n"
    loaded = _one(page)
    assert loaded.routine.duration_ms is None
    assert any('"one-minute routine" is not used' in n.text for n in loaded.notes)


# --- w2a and Just Another Workout Timer ------------------------------------------------------------------

def test_a_w2a_workout_reads_as_w2a_would_say_it():
    loaded = _one((DATA / "w2a-workout.yaml").read_text(), "w2a-workout.yaml")
    routine = loaded.routine
    assert loaded.format is Format.W2A and routine.title == "W2A Workout"
    assert [(e.name, e.duration_ms, e.sides) for e in routine.exercises] == [
        ("Warm Up", 60_000, Sides.ONE), ("Squats", 30_000, Sides.ONE), ("Side Plank", 40_000, Sides.BOTH),
        ("Squats", 30_000, Sides.ONE)]  # the <<: *squats merges, in place
    assert routine.exercises[0].instructions == ("Neck Roll from Side to Side", "Shoulder Roll")
    assert routine.about == ("4 exercises will take a total of 2 minutes and 40 seconds. The pure training time "
                             "is 2 minutes and 40 seconds.")
    assert routine.closing.text == "You trained for 2 minutes and 40 seconds! You have done well."
    assert any(n.text.startswith("not used: tts") for n in loaded.notes)


def test_a_workout_timer_export_is_one_routine_per_workout_with_repetitions_written_out():
    quick, stretch = load(DATA / "jawt-backup.json")
    assert quick.format is Format.JAWT
    assert [(e.name, e.duration_ms) for e in quick.routine.exercises] == [
        ("Plank", 30_000), ("Rest", 15_000), ("Plank", 30_000), ("Rest", 15_000), ("Dead Bug", 40_000)]
    assert [e.name for e in stretch.routine.exercises] == ["Neck Stretch", "Shoulder Rolls"]
    assert (quick.routine.title, stretch.routine.title) == ("Quick Core", "Stretch Break")
    assert [n.text for n in quick.notes] == ['set "Circuit": its 2 exercises written out 2 times (repetitions)']


def test_a_single_workout_as_the_app_shares_it_reads_too():
    text = '{"title":"Tiny","sets":[{"repetitions":1,"exercises":[{"name":"Plank","duration":20}]}]}'
    assert _one(text, "tiny.json").routine.exercises[0].duration_ms == 20_000


def test_an_export_in_latin_1_as_the_app_writes_accents_is_read(tmp_path):
    export = tmp_path / "backup.json"
    export.write_bytes('{"workouts":[{"title":"Étirement","sets":[{"repetitions":1,"exercises":[{"name":"Épaules",'
                       '"duration":30}]}]}]}'.encode("latin-1"))
    [loaded] = load(export)
    assert (loaded.routine.title, loaded.routine.exercises[0].name) == ("Étirement", "Épaules")
    assert loaded.notes[0].text.startswith("not UTF-8: read as Latin-1")


# --- telling formats apart --------------------------------------------------------------------------------

@pytest.mark.parametrize("file, fmt", [
    ("seed-lower-back-relief.txt", Format.PAGE), ("page-desk-reset.txt", Format.PAGE),
    ("w2a-workout.yaml", Format.W2A), ("jawt-backup.json", Format.JAWT),
])
def test_the_format_is_told_from_the_text(file, fmt):
    assert detect((DATA / file).read_text(encoding="utf-8")) is fmt
    assert detect(SEED.read_text()) is Format.ROUTINE
    assert detect((SEED.parent / "knee-rehab.yaml").read_text()) is Format.ROUTINE


def test_from_names_the_formats_the_importers_know():
    assert FORMATS == tuple(f.value for f in Format)


def test_from_forces_a_format():
    page = "Neck Release\nDuration: 1:00\n"
    assert _one(page, "notes.yaml", Format.PAGE).routine.exercises[0].name == "Neck Release"
    with pytest.raises(RoutineError, match=r"notes\.yaml:1:1: not valid YAML"):
        _one("Neck Release\nDuration: 1:00\n", "notes.yaml", Format.ROUTINE)


def test_a_problem_in_an_imported_file_is_shown_at_its_own_line():
    page = SEED_PAGE.replace("Duration: 0:45", "Duration: three quarters", 1)
    with pytest.raises(RoutineError) as info:
        _one(page, "seed.txt")
    line = SEED_PAGE.split("\n").index("Duration: 0:45") + 1
    assert info.value.problems == [(f'seed.txt:{line}: exercises[3].duration: expected a duration like 45, "0:45", '
                                   f'"45s", "1m30s" or "1 minute 30", got "three quarters"')]


# --- malformed pages and exports, through the command line ------------------------------------------------

PAGE = ("Neck Release\nDuration: 1:00\nEase your neck.\nDifficulty: Beginner\nInstructions\n- Sit tall.\n"
        "- Tilt your head, then switch sides.\nTips\n- Breathe.\n\nShoulder Rolls\nDuration: 0:30\nInstructions\n"
        "- Roll your shoulders back.\n")
W2A = (DATA / "w2a-workout.yaml").read_text()
JAWT = (DATA / "jawt-backup.json").read_text()

MALFORMED: dict[str, tuple[str, str | bytes, str]] = {  # name: (suffix, content, the first line a user sees)
    "a page with no exercise": (".txt", ("About This Calm Routine\nA calm routine.\nInstructions\n- Breathe.\nTips\n"
                                        "- Relax.\n"),
                                ('bad.txt:1: a routine page needs at least one exercise: its name on a line, then '
                                '"Duration: M:SS" on the next (as in "Wide Leg Bend" then "Duration: 0:30"), then its '
                                '"- " lists under Instructions, Tips and Adjustments')),
    "a last exercise without its Duration": (".txt", PAGE + "Child Pose\nInstructions\n- Rest.\n",
                                             ('bad.txt:15: "Child Pose" comes after the last exercise, with the heading '
                                             '"Instructions" (line 16) as an exercise has, but no "Duration: M:SS" '
                                             "line; if it is an exercise, put its Duration on the line after its name "
                                             "(the closing words after the last exercise have no lists)")),
    "a page of 1,001 exercises": (".txt", "".join(f"Ex {n}\nDuration: 0:10\n- Go.\n" for n in range(1001)),
                                  ("bad.txt:1: 1001 exercises; a routine may have at most 1000: split the page into "
                                  "several")),
    "a page duration in words": (".txt", PAGE.replace("Duration: 1:00", "Duration: one minute"),
                                 ('bad.txt:2: exercises[0].duration: expected a duration like 45, "0:45", "45s", '
                                 '"1m30s" or "1 minute 30", got "one minute"')),
    "a page duration of 0:00": (".txt", PAGE.replace("Duration: 1:00", "Duration: 0:00"),
                                ('bad.txt:2: exercises[0].duration: expected a duration of at least one second, got '
                                '"0:00"')),
    "a page duration of 1:75": (".txt", PAGE.replace("Duration: 1:00", "Duration: 1:75"),
                                'bad.txt:2: exercises[0].duration: expected minutes and seconds below 60 in "1:75"'),
    "a page Duration with no length": (".txt", PAGE.replace("Duration: 0:30", "Duration:"),
                                       ('bad.txt:12: Shoulder Rolls: "Duration:" gives no length; write it as in '
                                       '"Duration: 0:30" or "Duration: 1 minute 30"')),
    "a page exercise without its name": (".txt", PAGE.replace("\nShoulder Rolls\n", "\n"),
                                         ('bad.txt:11: "Duration: 0:30" has no exercise name on the line before it '
                                         '(the line above is "- Breathe."); put the exercise\'s name on its own line '
                                         'above its "Duration:"')),
    "a stray line inside an exercise": (".txt", PAGE.replace("Tips\n- Breathe.", "Tips\n- Breathe.\nHold it there"),
                                        ('bad.txt:10: Neck Release: expected a "- " list item, a heading (Instructions, '
                                        'Tips, Adjustments) or the next exercise\'s name with "Duration: M:SS" on the '
                                        'line after it; got "Hold it there"')),
    "a page hold over a day": (".txt", PAGE.replace("Duration: 1:00", "Duration: 25:00:00"),
                               ('bad.txt:2: exercises[0].duration: expected a duration of at most 24 hours (24:00:00), '
                               'got "25:00:00"')),
    "a page name of 300 characters": (".txt", PAGE.replace("Neck Release", "Neck " * 60),
                                      ("bad.txt:1: exercises[0].name: 299 characters; a title or name may have at most "
                                      "200 (it is spoken, and names chapters and files)")),
    "a page item of 1,500 characters": (".txt", PAGE.replace("- Sit tall.", "- " + "breathe " * 190),
                                        ("bad.txt:6: exercises[0].instructions[0]: 1519 characters; one spoken line may "
                                        "have at most 1000 (about a minute of speech); use shorter lines")),
    "a page name that is only punctuation": (".txt", PAGE.replace("Neck Release", "???"),
                                             ('bad.txt:1: exercises[0].name: "???" has no letters or digits, so it '
                                             "cannot be spoken; write it in words")),
    "a control character in a page": (".txt", PAGE.replace("Sit tall.", "Sit\x01 tall."),
                                      ("bad.txt:6: exercises[0].instructions[0]: the text holds the control character "
                                      "U+0001; remove it")),
    "a page that is not UTF-8": (".txt", PAGE.replace("Ease your neck.", "Ease your n\xe9ck.").encode("latin-1"),
                                 ("bad.txt:3:12: not UTF-8 text (invalid continuation byte at byte 39); save the file "
                                 "as UTF-8")),
    "a text that is none of the formats": (".txt", "Some notes about stretching.\nDo it daily.\n",
                                           ("bad.txt:1: not a routine voiceguide can read; it reads a voiceguide routine "
                                           "(YAML with a title and exercises); a routine page (each exercise's name on "
                                           'a line, then "Duration: M:SS", then its "- " lists); a w2a workout (YAML '
                                           'with exercises, each with a name and a duration like "30s"); a Just Another '
                                           'Workout Timer export (JSON with "workouts", each with a title and sets). If '
                                           "it is one of these, say which with --from (routine, page, w2a or jawt)")),
    "a w2a exercise without a duration": (".yaml", W2A.replace("    duration: '40s'\n", ""),
                                          ('bad.yaml:35: exercises[2]: missing "duration" (w2a needs a name and a '
                                          'duration like "30s")')),
    "a w2a duration in words": (".yaml", W2A.replace("'40s'", "'forty'"),
                                ('bad.yaml:36: exercises[2].duration: expected a duration like 45, "0:45", "45s", '
                                '"1m30s" or "1 minute 30", got "forty"')),
    "a w2a template voiceguide cannot fill": (".yaml", W2A.replace("You have done well.", "Well done, {{ .UserName }}."),
                                              ('bad.yaml:16: after_workout_announce: the template "{{ .UserName }}" is '
                                              "not one voiceguide can fill (it fills {{ .WorkoutExercisesCount }}, "
                                              "{{ .WorkoutDuration }}, {{ .WorkoutDurationWithoutPauses }}); write the "
                                              "words out instead")),
    "a w2a line missing its colon": (".yaml", W2A.replace("  - name: 'Side Plank'", "  - name 'Side Plank'"),
                                     ("bad.yaml:35:5: not valid YAML: \"name 'Side Plank'\" is missing the \":\" after "
                                     "\"name\"; write \"name: 'Side Plank'\"")),
    "w2a exercises as a mapping": (".yaml", W2A.split("exercises:")[0] + "exercises:\n  name: Squats\n  duration: 30s\n",
                                   "bad.yaml:29: exercises: expected a list of exercises, got a mapping"),
    "a w2a half_time: maybe": (".yaml", W2A.replace("half_time: true", "half_time: maybe"),
                               'bad.yaml:37: exercises[2].half_time: expected true or false, got "maybe"'),
    "an export that is not valid JSON": (".json", JAWT.replace('"duration":40}', '"duration":40,}'),
                                         ("bad.json:1: not valid JSON at column 449: Expecting property name enclosed "
                                         "in double quotes; an export of Just Another Workout Timer is JSON as the app "
                                         "wrote it")),
    "an export exercise of 0 seconds": (".json", JAWT.replace('"duration":40', '"duration":0'),
                                        ("bad.json:1: workouts[0].sets[1].exercises[0].duration: expected a duration in "
                                        'whole seconds from 1 to 86400, got "0"')),
    "an export duration as text": (".json", JAWT.replace('"duration":40', '"duration":"forty"'),
                                   ("bad.json:1: workouts[0].sets[1].exercises[0].duration: expected a duration in "
                                   'whole seconds from 1 to 86400, got "forty"')),
    "an export set of 0 repetitions": (".json", JAWT.replace('"repetitions":2', '"repetitions":0'),
                                       ('bad.json:1: workouts[0].sets[0].repetitions: expected repetitions from 1 to '
                                       '1000, got "0"')),
    "an export of 100,000 repetitions": (".json", JAWT.replace('"repetitions":2', '"repetitions":100000'),
                                         ('bad.json:1: workouts[0].sets[0].repetitions: expected repetitions from 1 to '
                                         '1000, got "100000"')),
    "an export workout without a title": (".json", JAWT.replace('"title":"Quick Core",', ""),
                                          'bad.json:1: workouts[0]: missing "title" (a workout has a title and sets)'),
    "an export exercise without a name": (".json", JAWT.replace('"name":"Dead Bug",', ""),
                                          ('bad.json:1: workouts[0].sets[1].exercises[0]: missing "name" (an exercise '
                                          "has a name and a duration in seconds)")),
    "an export with no workouts": (".json", '{"workouts":[]}',
                                   "bad.json:1: workouts: expected a list of workouts, got an empty list"),
    "an export nested 20,000 deep": (".json", '{"workouts":' + "[" * 20_000 + "]" * 20_000 + "}",
                                     ("bad.json:1:32: routine: lists or mappings nested more than 20 deep; a "
                                     "routine needs 4 (exercises, an exercise, its tips)")),
    "an export with a number of 5,000 digits": (".json", JAWT.replace('"repetitions":2', '"repetitions":' + "1" * 5000),
                                                ("bad.json:1: not valid JSON at column 1: a number with thousands of "
                                                "digits; an export of Just Another Workout Timer is JSON as the app "
                                                "wrote it")),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_a_malformed_page_or_export_is_refused_at_its_line_and_nothing_is_written(name, tmp_path, capsys,
                                                                                   monkeypatch):
    suffix, content, message = MALFORMED[name]
    bad = tmp_path / f"bad{suffix}"
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    monkeypatch.chdir(tmp_path)
    err = refused(["import", bad.name], capsys)
    assert err.splitlines()[0] == f"error: {message}"
    assert re.match(rf"error: {re.escape(bad.name)}:\d+", err)
    out = tmp_path / "out"
    err = refused(["build", str(bad), "-o", str(out / "s.mp3"), "-q"], capsys)
    assert err.splitlines()[0] == f"error: {message.replace(bad.name, str(bad), 1)}"
    assert sorted(p.name for p in tmp_path.iterdir()) == [bad.name]  # no routine file, no output folder


def test_there_are_enough_malformed_cases():
    assert len(MALFORMED) >= 15
    assert {suffix for suffix, _, _ in MALFORMED.values()} == {".txt", ".yaml", ".json"}


# --- import and new, as a user types them ----------------------------------------------------------------

def test_import_writes_a_commented_routine_and_says_what_to_do_next(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lower-back-relief.txt").write_text(SEED_PAGE, encoding="utf-8")
    with pytest.raises(SystemExit) as info:
        main(["import", "lower-back-relief.txt"])
    out = capsys.readouterr().out
    assert info.value.code == 0
    written = tmp_path / "lower-back-relief.yaml"
    assert yaml.safe_load(written.read_text()) == yaml.safe_load(SEED.read_text())
    assert "lower-back-relief.txt:35: Kneeling Psoas: sides: both" in out
    assert out.splitlines()[-2:] == ["Wrote lower-back-relief.yaml: Lower Back Relief, 7 exercises",
                                     ("Next: voiceguide check lower-back-relief.yaml, then voiceguide build "
                                     "lower-back-relief.yaml")]
    text = written.read_text()
    assert text.startswith("# Imported from lower-back-relief.txt (a routine page)")
    assert '    # Kneeling Psoas: sides: both, as it says "switch sides"' in text
    before = written.read_bytes()
    err = refused(["import", "lower-back-relief.txt"], capsys)
    assert err == ("error: lower-back-relief.yaml: already exists; give another name with -o, or add --force to "
                   "replace it\n")
    assert written.read_bytes() == before
    written.write_text("# mine\n")
    with pytest.raises(SystemExit) as info:
        main(["import", "lower-back-relief.txt", "--force"])
    assert info.value.code == 0 and written.read_bytes() == before


def test_import_of_several_workouts_writes_one_file_each_in_a_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = refused(["import", str(DATA / "jawt-backup.json"), "-o", "one.yaml"], capsys)
    assert err.startswith("error: one.yaml: the file holds 2 routines, written one file each; give -o a folder")
    with pytest.raises(SystemExit) as info:
        main(["import", str(DATA / "jawt-backup.json"), "-o", "mine/"])
    assert info.value.code == 0
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["quick-core.yaml", "stretch-break.yaml"]


def test_import_never_writes_over_what_it_reads_nor_imports_a_routine(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    w2a = tmp_path / "w2a-workout.yaml"
    w2a.write_text(W2A)
    err = refused(["import", "w2a-workout.yaml", "--force"], capsys)  # its title makes the same name
    assert err == ("error: w2a-workout.yaml: is the file being imported; give the routine another name with -o\n")
    assert w2a.read_text() == W2A
    err = refused(["import", str(SEED)], capsys)
    assert "is already a voiceguide routine; check it with `voiceguide check" in err


def test_new_then_check_then_build_as_a_newcomer_types_them(tmp_path, capsys, monkeypatch):
    """The README's first section, run: a file every field of which is explained, that checks and builds."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(["new", "Evening Unwind"])
    out = capsys.readouterr().out
    assert info.value.code == 0
    assert out.splitlines()[-1] == "Next: voiceguide check evening-unwind.yaml, then voiceguide build evening-unwind.yaml"
    text = (tmp_path / "evening-unwind.yaml").read_text()
    explained = {m.group(1) for m in re.finditer(r"^#? *-? *([a-z_]+):.*  # \S", text, re.MULTILINE)}
    assert explained >= {"title", "about", "targets", "duration", "closing", "exercises", "name", "sides", "summary",
                         "difficulty", "instructions", "tips", "adjustments", "options"}
    with pytest.raises(SystemExit) as info:
        main(["check", "evening-unwind.yaml"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("evening-unwind.yaml: ok: Evening Unwind, 3 exercises")
    with pytest.raises(SystemExit) as info:
        main(["build", "evening-unwind.yaml", "-q"])
    assert info.value.code == 0 and (tmp_path / "output" / "evening-unwind.mp3").stat().st_size > 0
    assert refused(["new", "Evening Unwind"], capsys).startswith("error: evening-unwind.yaml: already exists")


def test_new_and_import_write_files_anyone_may_read_as_the_umask_says(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    old = os.umask(0o022)
    try:
        with pytest.raises(SystemExit) as info:
            main(["new", "Evening Unwind"])
        assert info.value.code == 0
        with pytest.raises(SystemExit) as info:
            main(["import", str(DATA / "w2a-workout.yaml"), "-o", "w2a.yaml"])
        assert info.value.code == 0
    finally:
        os.umask(old)
    assert {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()} == {"evening-unwind.yaml": 0o644,
                                                                                 "w2a.yaml": 0o644}


def test_new_refuses_a_title_no_voice_could_say_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = refused(["new", "???", "-o", "x.yaml"], capsys)
    assert err == 'error: the title: "???" has no letters or digits, so it cannot be spoken; write it in words\n'
    assert list(tmp_path.iterdir()) == []


def test_new_takes_a_title_of_several_words_without_quotes(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(["new", "Evening", "Unwind"])
    assert info.value.code == 0
    assert [p.name for p in tmp_path.iterdir()] == ["evening-unwind.yaml"]
    assert load(tmp_path / "evening-unwind.yaml")[0].routine.title == "Evening Unwind"


def test_pages_and_exports_build_directly(tmp_path, capsys):
    """A routine page, a w2a workout and an export of two workouts, each given to `build` as it is."""
    import json

    for file, names in (("page-desk-reset.txt", ["desk-reset"]), ("w2a-workout.yaml", ["w2a-workout"]),
                        ("jawt-backup.json", ["quick-core", "stretch-break"])):
        out = tmp_path / file.split(".")[0]
        with pytest.raises(SystemExit) as info:
            main(["build", str(DATA / file), "-o", f"{out}/", "-q"])
        assert info.value.code == 0, capsys.readouterr().err
        for name in names:
            plan = json.loads((out / f"{name}.json").read_text())
            assert (out / f"{name}.mp3").stat().st_size > 0
            assert plan["made_with"]["source"] == str(DATA / file)
    chapters = json.loads((tmp_path / "jawt-backup" / "quick-core.json").read_text())["chapters"]
    assert [c["title"] for c in chapters] == ["Intro", "Plank", "Rest", "Plank", "Rest", "Dead Bug", "Outro"]


@pytest.mark.parametrize("command", ["import", "new"])
def test_help_of_import_and_new_teaches_with_an_example(command):
    from click.testing import CliRunner

    from voiceguide.cli import cli

    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0 and "Example:" in result.output and f"voiceguide {command} " in result.output
    assert f"  {command} " in CliRunner().invoke(cli, ["--help"]).output


def test_check_says_what_a_page_import_inferred_and_from_forces_the_format(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.yaml").write_text("Neck Release\nDuration: 1:00\nInstructions\n- Sit tall, then switch sides.\n")
    with pytest.raises(SystemExit) as info:
        main(["check", "notes.yaml"])  # told from its text, whatever its name
    out = capsys.readouterr().out
    assert info.value.code == 0
    assert "notes.yaml:4: Neck Release: sides: both, as it says \"switch sides\"" in out
    assert "notes.yaml: ok: Notes, 1 exercise," in out
    err = refused(["check", "notes.yaml", "--from", "routine"], capsys)
    assert err == 'error: notes.yaml:1:1: not valid YAML: "Neck Release" is missing the ":" after "Neck"; write "Neck: Release"\n'


def test_plan_as_json_takes_one_routine(capsys):
    err = refused(["plan", str(DATA / "jawt-backup.json"), "--json"], capsys)
    assert err == (f"error: {DATA / 'jawt-backup.json'}: holds 2 routines; --json shows one: import them "
                   "(`voiceguide import`) and plan each file\n")


def test_an_exercise_needs_only_its_name_and_duration():
    page = ("Cat Cow\nDuration: 45 secs\n\nBird Dog\nDuration: 1 minute\nInstructions\n- Reach long.\n"
            "Child's Pose\nDuration: 90 seconds\nRest here.\n")
    routine = _one(page).routine
    assert [(e.name, e.duration_ms, e.instructions, e.summary, e.difficulty) for e in routine.exercises] == [
        ("Cat Cow", 45_000, (), "", ""), ("Bird Dog", 60_000, ("Reach long.",), "", ""),
        ("Child's Pose", 90_000, (), "Rest here.", "")]
    assert routine.title == "Page" and routine.closing.text == ""


@pytest.mark.parametrize("text, said", [
    ("improve function.1 This routine", "improve function. This routine"),
    ("die Funktion verbessern können.1 Diese Übung", "die Funktion verbessern können. Diese Übung"),
    ("mejora la función.2 Esta rutina", "mejora la función. Esta rutina"),
    ("la función[3] y la fuerza", "la función y la fuerza"),
    ("since 2019.1 more people", "since 2019.1 more people"),  # a number, not a marker
])
def test_citation_markers_after_a_word_in_any_language(text, said):
    from voiceguide.importers.page import _CITATION

    assert _CITATION.sub(lambda m: m.group("mark") or "", text) == said
