"""Hand-written mistakes, through the real command line: exit 2, file:line, no traceback, nothing written."""
from __future__ import annotations

import re

import pytest

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
    "closing as text": OK + "closing: goodbye\n",
    "empty title": OK.replace("title: T", 'title: ""'),
    "stated total below the holds": 'title: T\nduration: "1:00"\nexercises:\n  - name: A\n    duration: "1:45"\n',
    "hold too short for its cues": "title: T\nexercises:\n  - name: Quick One\n    duration: 3\n",
    "over one MiB": OK + "# " + "x" * (1024 * 1024) + "\n",
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


def test_the_suite_is_big_enough():
    assert len(CASES) >= 30
