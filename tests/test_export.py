"""The files of a session land together, by either way of writing them, with its chapter files too."""
from __future__ import annotations

import os
import time

import pytest
from conftest import SEED, fake_measure

from voiceguide import export
from voiceguide.plan import build_plan
from voiceguide.routine import load_routine


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
    assert seen == [[recent.name, "s.chapters.json", "s.json", "s.mp3", "s.vtt"]]  # in place, no temporary file of ours
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.chapters.json", "s.json", "s.mp3", "s.vtt"]
    assert out.with_suffix(".vtt").read_text().startswith("WEBVTT")
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    from mutagen.id3 import ID3

    assert str(ID3(out)["TIT2"]) == "Lower Back Relief"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _silent_mp3(frames: int) -> bytes:
    """`frames` frames of a real MP3 stream (silence), as the encoder writes them."""
    import io

    import numpy as np

    from voiceguide.mp3 import MP3_DELAY, MP3_FRAME, encode_mp3

    out = io.BytesIO()
    encode_mp3([np.zeros(frames * MP3_FRAME - MP3_DELAY - 1, dtype=np.int16)], 44100, out, 96)
    return out.getvalue()


def test_chapter_files_and_the_removal_of_stale_ones_land_together_or_not_at_all(tmp_path, monkeypatch):
    """A swap that fails after some files are in and a stale chapter file is gone puts everything back:
    the session, its sidecars, its chapter files, the playlist and the stale files, byte for byte."""
    from pathlib import Path

    from voiceguide.errors import OutputError
    from voiceguide.mp3 import MP3_FRAME

    plan = build_plan(load_routine(SEED), fake_measure)
    chapters = len(plan.chapters)
    stream = _silent_mp3(chapters * 10)
    split = export.Split(tuple(i * 10 * MP3_FRAME for i in range(chapters)), chapters * 10 * MP3_FRAME, 44100)
    out = tmp_path / "s.mp3"
    export.write_session(out, lambda f: f.write(stream), plan, "about", split=split)
    folder = tmp_path / "s"
    parts = sorted(p.name for p in folder.iterdir())
    assert parts == [*(p.name for p in export.part_files(out, plan)), "s.m3u"] and len(parts) == chapters + 1
    assert parts[:3] == ["01-intro.mp3", "02-wide-leg-bend.mp3", "03-kneeling-psoas.mp3"]
    assert parts[-2] == f"{chapters:02d}-outro.mp3"
    import soundfile

    frames = b""
    for name in parts[:-1]:  # ten frames each (the last: the rest), in order: the stream cut at frame boundaries
        assert len(soundfile.read(str(folder / name))[0]) == 10 * MP3_FRAME or name == parts[-2]
        data = (folder / name).read_bytes()
        frames += data[10 + ((data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9]):]  # after the ID3 tag
    assert frames == stream
    for stale in ("98-gone.mp3", "99-gone-too.mp3"):
        (folder / stale).write_bytes(b"an earlier build's chapter")
    (folder / "notes.txt").write_text("mine")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}

    real_unlink = Path.unlink

    def failing_unlink(self: Path, missing_ok: bool = False) -> None:
        if self.name == "99-gone-too.mp3":
            raise PermissionError(13, "Permission denied", str(self))
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", failing_unlink)
    with pytest.raises(OutputError, match="Permission denied"):
        export.write_session(out, lambda f: f.write(stream), plan, "other", split=split)
    monkeypatch.undo()
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before  # 98-gone.mp3 put back too

    export.write_session(out, lambda f: f.write(stream), plan, "again", split=split)
    assert sorted(p.name for p in folder.iterdir()) == [*parts[:-1], "notes.txt", "s.m3u"]  # stale ones gone
