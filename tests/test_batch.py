"""`voiceguide build A.yaml B.yaml …` and folders: many routines in one command."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import soundfile

ROOT = Path(__file__).resolve().parent.parent


def _routine(title: str, seconds: int) -> str:
    return (f"title: {title}\nexercises:\n  - name: Reach Up\n    duration: {seconds}\n"
            "    instructions:\n      - Stand tall with your feet together.\n")


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "voiceguide", *args], capture_output=True, text=True,
                          cwd=cwd, env=dict(os.environ), timeout=300, check=False)


def test_a_folder_builds_every_routine_in_it(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "a.yaml").write_text(_routine("Morning Reach", 20))
    (folder / "b.yaml").write_text(_routine("Evening Reach", 25))
    (folder / "notes.txt").write_text("not a routine")
    result = _run("build", "mine", "-o", "library", "-j", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "[1/2]" in result.stderr and "[2/2]" in result.stderr
    for stem in ("morning-reach", "evening-reach"):
        mp3 = tmp_path / "library" / f"{stem}.mp3"
        plan = json.loads(mp3.with_suffix(".json").read_text())
        samples, rate = soundfile.read(str(mp3), dtype="float32")
        extra_ms = len(samples) * 1000 / rate - plan["duration_ms"]
        assert 0 <= extra_ms < 80  # the MP3 encoder's delay and last-frame padding, nothing more
    assert sorted(p.name for p in (tmp_path / "library").iterdir()) == [
        "evening-reach.chapters.json", "evening-reach.cover.png", "evening-reach.json", "evening-reach.mp3",
        "evening-reach.vtt", "feed.xml", "morning-reach.chapters.json", "morning-reach.cover.png",
        "morning-reach.json", "morning-reach.mp3", "morning-reach.vtt"]


def test_every_bad_routine_is_reported_before_anything_is_built(tmp_path):
    (tmp_path / "good.yaml").write_text(_routine("Good One", 20))
    (tmp_path / "bad1.yaml").write_text("title: Bad\nexercises:\n  - name: A\n    duration: fast\n")
    (tmp_path / "bad2.yaml").write_text("title: Worse\nexercises: []\nsides: no\n")
    result = _run("build", "good.yaml", "bad1.yaml", "bad2.yaml", "-o", "out", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "bad1.yaml:4:" in result.stderr and "bad2.yaml:" in result.stderr
    assert "2 of 3 routines have problems; nothing was built" in result.stderr
    assert not (tmp_path / "out").exists()


def test_two_routines_that_would_write_one_file_are_refused(tmp_path):
    (tmp_path / "a.yaml").write_text(_routine("Same Title", 20))
    (tmp_path / "b.yaml").write_text(_routine("Same Title", 30))
    result = _run("build", "a.yaml", "b.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "same file name" in result.stderr and "same-title.mp3" in result.stderr
    assert not (tmp_path / "output").exists()


def test_several_routines_need_a_folder_not_an_mp3(tmp_path):
    (tmp_path / "a.yaml").write_text(_routine("One", 20))
    (tmp_path / "b.yaml").write_text(_routine("Two", 20))
    result = _run("build", "a.yaml", "b.yaml", "-o", "x.mp3", cwd=tmp_path)
    assert result.returncode == 2 and "-o is the folder" in result.stderr
