"""Hand-written mistakes, through the real command line: exit 2, file:line, no traceback, nothing written."""
from __future__ import annotations

import re

import pytest
from conftest import refused

from voiceguide.cli import main

OK = 'title: T\nexercises:\n  - name: A\n    duration: 30\n'

CASES: dict[str, bytes | str] = {
    "empty file": "",
    "only comments": "# nothing here\n",
    "a list at the top": "- a\n- b\n",
    "plain text at the top": "just some words\n",
    "no title": "exercises:\n  - name: A\n    duration: 30\n",
    "no exercises": "title: T\n",
    "empty exercises": "title: T\nexercises: []\n",
    "exercises as a mapping": "title: T\nexercises:\n  name: A\n",
    "exercise as text": "title: T\nexercises:\n  - stretch\n",
    "exercise without name": "title: T\nexercises:\n  - duration: 30\n",
    "exercise without duration": "title: T\nexercises:\n  - name: A\n",
    "duration in words": OK.replace("30", "fast"),
    "zero duration": OK.replace("30", "0"),
    "negative duration": OK.replace("30", "-5"),
    "seconds over 59": OK.replace("30", '"1:75"'),
    "infinite duration": OK.replace("30", ".inf"),
    "sides: no (YAML false)": OK + "    sides: no\n",
    "sides: maybe": OK + "    sides: maybe\n",
    "unknown top field": OK + "descripton: x\n",
    "unknown exercise field": OK + "    tipz: [a]\n",
    "duplicate top key": "title: T\ntitle: U\n" + OK[9:],
    "duplicate exercise key": OK + "    name: B\n",
    "instructions as one string": OK + "    instructions: do it\n",
    "a tip that is a list": OK + "    tips: [[a, b]]\n",
    "tab indentation": "title: T\nexercises:\n\t- name: A\n",
    "missing colon": "title: T\nexercises:\n  - name A\n    duration: 30\n",
    "unclosed bracket": "title: [T\nexercises: []\n",
    "unclosed quote": 'title: "T\nexercises: []\n',
    "not UTF-8": b"title: caf\xe9\nexercises: []\n",
    "alias bomb": "a: &a [x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 8)}]\n" for p, n in zip("abcdefg", "bcdefgh")),
    "option rate in words": OK + "options:\n  rate: fast\n",
    "unknown option": OK + "options:\n  speed: 2\n",
    "bad detail option": OK + "options:\n  detail: loads\n",
    "pronounce as a list": OK + "pronounce: [a]\n",
    "closing as a list": OK + "closing: [goodbye]\n",
    "empty title": OK.replace("title: T", 'title: ""'),
    "stated total below the holds": 'title: T\nduration: "1:00"\nexercises:\n  - name: A\n    duration: "1:45"\n',
    "hold too short for its cues": "title: T\nexercises:\n  - name: Quick One\n    duration: 3\n",
    "over one MiB": OK + "# " + "x" * (1024 * 1024) + "\n",
    # values YAML would build into something else, or nothing the program can use
    "an explicit !!int tag": OK.replace("30", "!!int abc"),
    "an explicit !!float tag on an option": OK + "options:\n  pace: !!float fast\n",
    "a !!python/name tag": OK + "options:\n  voice: !!python/name:os.system\n",
    "a !!binary title": OK.replace("title: T", "title: !!binary aGVsbG8="),
    "a !!set": OK + "pronounce: !!set {a, b}\n",
    "a !!timestamp as a duration": OK.replace("30", "!!timestamp 2024-01-01"),
    "a date as a duration": OK.replace("30", "2024-01-01"),
    "rate: .inf": OK + "options:\n  rate: .inf\n",
    "pace: nan": OK + "options:\n  pace: nan\n",
    "a 400-digit duration": OK.replace("30", "9" * 400),
    "duration: 1.0e+9": OK.replace("30", "1.0e+9"),
    # a session longer than a day
    "a hold over a day": OK.replace("30", '"25:00:00"'),
    "holds adding up to more than a day": (OK + '  - name: B\n    duration: "23:00:00"\n'
                                           + '  - name: C\n    duration: "1:00:01"\n'),
    "a stated total over a day": 'title: T\nduration: "48:00:00"\n' + OK[9:],
    "an options duration over a day": OK + 'options:\n  duration: "30:00:00"\n',
    "a pace that makes the holds last over a day": OK.replace("30", '"10:00:00"') + "options:\n  pace: 4\n",
    # files that would take the loader a long time
    "nested 20,000 deep ([[[...)": "[" * 20_000 + "]" * 20_000 + "\n",
    "nested 20,000 deep (- - - ...)": "- " * 20_000 + "x\n",
    # text no voice should be given
    "a control character": OK.replace("name: A", "name: A\x01"),
    "a NUL in the file": OK.replace("name: A", "name: A\x00"),
    "a NUL escaped in a text": OK.replace("name: A", 'name: "A\\0B"'),
    "a lone surrogate escaped in a text": OK.replace("name: A", 'name: "Cat \\ud800 Cow"'),
    "a title of 10,000 characters": OK.replace("title: T", "title: " + "Stretch " * 1250),
    "a tip of 1,500 characters": OK + "    tips:\n      - " + "breathe " * 190 + "\n",
    "a closing sentence of 1,500 characters": OK + "closing:\n  text: " + "breathe " * 190 + "\n",
    "a respelling of 180 KB": OK + "pronounce:\n  Psoas: " + "so" * 90_000 + "\n",
    "a name that is only punctuation": OK.replace("name: A", 'name: "???"'),
    "a respelling with no letters": OK + "pronounce:\n  Namaste: '---'\n",
    "1,001 exercises": OK + "  - name: A\n    duration: 1\n" * 1000,
    "a tip that is only dots": OK + '    tips:\n      - "..."\n',
    "a closing that is only a dash": OK + 'closing:\n  text: "\u2014"\n',
    "a phrase that is only a dash": OK + 'phrases:\n  switch: "-"\n',
}

MESSAGES = {  # the first line a user sees, copied from a run ("bad.yaml" is the file's path)
    "an explicit !!int tag": "bad.yaml:4:15: exercises[0].duration: the YAML tag !!int is not allowed in a "
                             "routine; remove it and write the value plainly",
    "an explicit !!float tag on an option": "bad.yaml:6:9: options.pace: the YAML tag !!float is not allowed in a "
                                            "routine; remove it and write the value plainly",
    "a !!python/name tag": "bad.yaml:6:10: options.voice: the YAML tag !!python/name:os.system is not allowed "
                           "in a routine; remove it and write the value plainly",
    "a !!binary title": "bad.yaml:1:8: title: the YAML tag !!binary is not allowed in a routine; remove it and "
                        "write the value plainly",
    "a !!set": "bad.yaml:5:12: pronounce: the YAML tag !!set is not allowed in a routine; remove it and write "
               "the value plainly",
    "a !!timestamp as a duration": 'bad.yaml:4:15: exercises[0].duration: expected a duration like 45, "0:45", '
                                   '"45s", "1m30s" or "1 minute 30", got a date (2024-01-01); write a length instead',
    "a date as a duration": 'bad.yaml:4:15: exercises[0].duration: expected a duration like 45, "0:45", "45s", '
                            '"1m30s" or "1 minute 30", got a date (2024-01-01); write a length instead',
    "rate: .inf": 'bad.yaml:6:9: options.rate: expected words per minute from 80 to 300, got ".inf"',
    "pace: nan": 'bad.yaml:6:9: options.pace: expected a pace from 0.25 to 4, got "nan"',
    "a 400-digit duration": "bad.yaml:4:15: exercises[0].duration: expected a duration of at most 24 hours "
                            "(24:00:00), got 9999999999999999999999999999999999999999... (400 digits)",
    "duration: 1.0e+9": "bad.yaml:4:15: exercises[0].duration: expected a duration of at most 24 hours "
                        "(24:00:00), got 1.0e+9",
    "a hold over a day": 'bad.yaml:4:15: exercises[0].duration: expected a duration of at most 24 hours '
                         '(24:00:00), got "25:00:00"',
    "holds adding up to more than a day": "bad.yaml:3:3: exercises: the holds add up to 24:00:31; a session may "
                                          "last at most 24 hours",
    "a stated total over a day": 'bad.yaml:2:11: duration: expected a duration of at most 24 hours (24:00:00), '
                                 'got "48:00:00"',
    "an options duration over a day": 'bad.yaml:6:13: options.duration: expected a duration of at most 24 hours '
                                      '(24:00:00), got "30:00:00"',
    "a pace that makes the holds last over a day": "bad.yaml:3: the holds would last 40:00:00 at pace 4; a session "
                                                   "may last at most 24 hours: lower the pace or shorten the holds",
    "nested 20,000 deep ([[[...)": "bad.yaml:1:21: routine: lists or mappings nested more than 20 deep; a "
                                   "routine needs 4 (exercises, an exercise, its tips)",
    "nested 20,000 deep (- - - ...)": "bad.yaml:1:41: routine: lists or mappings nested more than 20 deep; a "
                                      "routine needs 4 (exercises, an exercise, its tips)",
    "a control character": "bad.yaml:3:12: the file holds the control character U+0001, which a routine may "
                           "not; remove it",
    "a NUL in the file": "bad.yaml:3:12: the file holds the control character U+0000, which a routine may not; "
                         "remove it",
    "a NUL escaped in a text": "bad.yaml:3:11: exercises[0].name: the text holds the control character U+0000; "
                               "remove it",
    "a lone surrogate escaped in a text": "bad.yaml:3:11: exercises[0].name: the text holds a lone surrogate "
                                          "U+D800; remove it",
    "a title of 10,000 characters": "bad.yaml:1:8: title: 9999 characters; a title or name may have at most 200 "
                                    "(it is spoken, and names chapters and files)",
    "a tip of 1,500 characters": "bad.yaml:6:9: exercises[0].tips[0]: 1519 characters; one spoken line may have "
                                 "at most 1000 (about a minute of speech); use shorter lines",
    "a closing sentence of 1,500 characters": "bad.yaml:6:9: closing.text: a sentence of 1519 characters; one "
                                              "spoken line may have at most 1000 (about a minute of speech); use "
                                              "shorter sentences",
    "a respelling of 180 KB": "bad.yaml:6:10: pronounce.Psoas: a respelling of 180000 characters; one spoken "
                              "line may have at most 1000 (about a minute of speech); use shorter respellings "
                              "of single words",
    "a name that is only punctuation": 'bad.yaml:3:11: exercises[0].name: "???" has no letters or digits, so it '
                                       'cannot be spoken; write it in words',
    "a respelling with no letters": 'bad.yaml:6:12: pronounce.Namaste: the respelling "---" has no letters, so '
                                    'it cannot be spoken; spell the word as it sounds',
    "1,001 exercises": ("bad.yaml:3:3: exercises: 1001 exercises; a routine may have at most 1000 (each is spoken, "
                        "chaptered and timed): split it into several routines"),
    "a tip that is only dots": 'bad.yaml:6:9: exercises[0].tips[0]: "..." has no letters or digits, so it cannot '
                               'be spoken; write it in words',
    "a closing that is only a dash": 'bad.yaml:6:9: closing.text: "\u2014" has no letters or digits, so '
                                              'it cannot be spoken; write it in words',
    "a phrase that is only a dash": 'bad.yaml:6:11: phrases.switch: "-" has no letters or digits, so it cannot be '
                                    'spoken; write it in words',
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_routine_is_a_clean_error(name, tmp_path, capsys):
    routine = tmp_path / "bad.yaml"
    data = CASES[name]
    routine.write_bytes(data if isinstance(data, bytes) else data.encode())
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        main(["build", str(routine), "-o", str(out / "s.mp3"), "-q"])
    err = capsys.readouterr().err
    assert info.value.code == 2, err
    assert re.search(rf"{re.escape(str(routine))}:\d+:", err), err
    assert err.startswith("error: ") and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("name", list(MESSAGES))
def test_hostile_routine_says_what_and_where(name, tmp_path, capsys):
    routine = tmp_path / "bad.yaml"
    routine.write_text(CASES[name])  # type: ignore[arg-type]
    with pytest.raises(SystemExit) as info:
        main(["check", str(routine)])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "Traceback" not in err
    assert err.splitlines()[0] == "error: " + MESSAGES[name].replace("bad.yaml", str(routine))


@pytest.mark.parametrize("flag, value, message", [
    ("--pace", "nan", 'expected a pace from 0.25 to 4, got "nan"'),
    ("--volume", "nan", 'expected a volume from 0.05 to 1, got "nan"'),
    ("--rate", "inf", 'expected words per minute from 80 to 300, got "inf"'),
    ("--duration", "9" * 400, ("expected a duration of at most 24 hours (24:00:00), got "
                              "9999999999999999999999999999999999999999... (400 digits)")),
    ("--duration", "999:59:59", 'expected a duration of at most 24 hours (24:00:00), got "999:59:59"'),
    ("--duration", "1.0e+9", "expected a duration of at most 24 hours (24:00:00), got 1.0e+9"),
])
def test_bad_numbers_on_the_command_line_are_refused_where_they_are_parsed(flag, value, message, tmp_path,
                                                                          capsys):
    out = tmp_path / "s.mp3"
    err = refused(["build", "lower-back-relief", "-q", "-o", str(out), flag, value], capsys)
    assert f"Error: Invalid value for '{flag}': {message}\n" in err
    assert list(tmp_path.iterdir()) == []


def test_a_pace_flag_that_makes_a_session_longer_than_a_day_is_refused_with_the_file(tmp_path, capsys):
    routine = tmp_path / "long.yaml"
    routine.write_text(OK.replace("30", '"7:00:00"') + '  - name: B\n    duration: "5:00:00"\n    sides: both\n')
    out = tmp_path / "out" / "s.mp3"
    err = refused(["build", str(routine), "-q", "-o", str(out), "--pace", "2.5"], capsys)
    assert f"error: {routine}:3: the holds would last 30:00:00 at pace 2.5; a session may last at most" in err
    err = refused(["build", str(routine), "-q", "-o", str(out), "--pace", "1.5", "--sides", "each"], capsys)
    assert err == (f"error: {routine}:3: the holds would last 25:30:00 at pace 1.5, each side held in full; a "
                   "session may last at most 24 hours: lower the pace or shorten the holds\n")
    assert not out.parent.exists()
    short = tmp_path / "short.yaml"
    short.write_text(OK)
    err = refused(["build", str(short), str(routine), "-q", "-o", str(out.parent), "--pace", "2.5"], capsys)
    assert f"error: {routine}:3: the holds would last 30:00:00 at pace 2.5;" in err
    assert err.endswith("1 of 2 routines have problems; nothing was built\n") and not out.parent.exists()


def test_what_is_not_a_regular_file_is_named_and_never_read(tmp_path, capsys):
    import os

    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)  # reading it would wait for a writer for ever
    for path, what in (("/dev/zero", "a character device"), ("/dev/urandom", "a character device"),
                       (str(fifo), "a named pipe (FIFO)")):
        err = refused(["check", path], capsys)
        assert err == f"error: {path}: not a regular file but {what}; give a routine .yaml file\n"
    assert refused(["check", str(tmp_path)], capsys) == f"error: {tmp_path}: is a folder; give a routine .yaml file\n"


def test_a_file_whose_size_stat_does_not_know_is_read_with_the_limit(capsys):
    """/proc files say 0 bytes; the limit holds because the reader stops one byte past it."""
    import os
    from pathlib import Path

    big = next((p for p in ("/proc/kallsyms", "/proc/self/smaps") if Path(p).exists()
                and os.stat(p).st_size == 0 and len(Path(p).read_bytes()[:1_048_577]) > 1_048_576), None)
    if big is None:
        pytest.skip("no /proc file over 1 MiB here")
    assert refused(["check", big], capsys) == (f"error: {big}:1:1: file is more than 1048576 bytes; a routine "
                                                "file may be at most 1048576 bytes\n")


def test_the_suite_is_big_enough():
    assert len(CASES) >= 30
