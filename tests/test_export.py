"""The three files of a session land together, by either way of writing them."""
from __future__ import annotations

import os
import time

import pytest

from voiceguide import export
from voiceguide.plan import build_plan
from voiceguide.routine import load_routine

from conftest import SEED, fake_measure


@pytest.mark.parametrize("unnamed", [True, False], ids=["O_TMPFILE", "named-temporary-files"])
def test_session_files_replace_the_previous_ones_whole(tmp_path, monkeypatch, unnamed):
    if not unnamed:
        monkeypatch.delattr(os, "O_TMPFILE", raising=False)
    elif not hasattr(os, "O_TMPFILE"):
        pytest.skip("no O_TMPFILE on this system")
    plan = build_plan(load_routine(SEED), fake_measure)
    out = tmp_path / "s.mp3"
    for suffix in (".mp3", ".vtt", ".json"):
        out.with_suffix(suffix).write_text("previous")
    stale = tmp_path / ".vg-tmp-999999999-dead.tmp"  # a killed build's leftover (no such process)
    stale.write_text("x")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    recent = tmp_path / ".vg-tmp-999999998-other.tmp"  # fresh: maybe a build in another container
    recent.write_text("x")
    seen = []
    export.write_session(out, lambda f: f.write(b"\xff\xfb" + bytes(1000)), plan, "about",
                         on_written=lambda: seen.append(sorted(p.name for p in tmp_path.iterdir())))
    recent.unlink()  # left alone by the build
    assert seen == [[recent.name, "s.json", "s.mp3", "s.vtt"]]  # in place, no temporary file of ours
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json", "s.mp3", "s.vtt"]
    assert out.with_suffix(".vtt").read_text().startswith("WEBVTT")
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    from mutagen.id3 import ID3

    assert str(ID3(out)["TIT2"]) == "Lower Back Relief"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
