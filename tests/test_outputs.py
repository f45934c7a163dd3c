"""What a patient gets, through the real command line: one MP3 per chapter and a playlist (--split) that
decode to the session itself, the MP3 alone (--only-mp3), -o DIR/, variants that say what sets them apart,
and chimes named as they sound."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile
from mutagen.id3 import ID3

from voiceguide.mp3 import MP3_DELAY

ROUTINE = """\
title: Knee Rehab
about: Home programme after a knee replacement.
closing:
  text: Well done.
exercises:
  - name: Quad Set
    duration: 25
    instructions:
      - Sit with your leg straight and press the back of the knee down.
    tips:
      - Keep breathing.
  - name: Heel Slide
    duration: 30
    sides: both
    instructions:
      - Lie on your back and slide one heel toward you.
  - name: Straight Leg Raise
    duration: 25
    instructions:
      - Lift the straight leg a hand's width.
"""
PARTS = ["01-intro.mp3", "02-quad-set.mp3", "03-heel-slide.mp3", "04-straight-leg-raise.mp3", "05-outro.mp3"]


def run(*args: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VOICEGUIDE_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-m", "voiceguide", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300, check=False)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr
    return result


def audio_frames(path: Path) -> bytes:
    """The MP3 frames of a file, without its ID3v2 tag."""
    data = path.read_bytes()
    assert data[:3] == b"ID3"
    size = (data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9]
    return data[10 + size:]


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("outputs-cache")


@pytest.fixture(scope="module")
def routine(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("routine") / "knee.yaml"
    path.write_text(ROUTINE)
    return path


@dataclass(frozen=True)
class Split:
    folder: Path
    mp3: Path
    stderr: str


@pytest.fixture(scope="module")
def split(tmp_path_factory, routine, cache) -> Split:
    """Knee Rehab built with --split into `out/`, a folder that does not exist yet (-o DIR/)."""
    work = tmp_path_factory.mktemp("split")
    result = ok(run("build", str(routine), "-o", "out/", "--split", cwd=work, cache=cache))
    return Split(work / "out", work / "out" / "knee-rehab.mp3", result.stderr)


def test_split_writes_a_chapter_file_each_and_a_playlist_beside_the_session(split):
    assert sorted(p.name for p in split.folder.iterdir()) == [
        "feed.xml", "knee-rehab", "knee-rehab.chapters.json", "knee-rehab.cover.png", "knee-rehab.json",
        "knee-rehab.mp3", "knee-rehab.vtt"]
    assert sorted(p.name for p in (split.folder / "knee-rehab").iterdir()) == [*PARTS, "knee-rehab.m3u"]
    assert "Wrote out/knee-rehab.mp3 (" in split.stderr
    assert ("with knee-rehab.vtt and knee-rehab.json; 5 chapter files and the playlist knee-rehab.m3u in "
            "out/knee-rehab\n") in split.stderr
    plan = json.loads(split.mp3.with_suffix(".json").read_text())
    assert plan["made_with"]["split"] is True
    chapters = plan["chapters"]
    lines = (split.folder / "knee-rehab" / "knee-rehab.m3u").read_text(encoding="utf-8").splitlines()
    assert lines[:2] == ["#EXTM3U", "#PLAYLIST:Knee Rehab"]
    entries = list(zip(lines[2::2], lines[3::2]))
    assert [name for _, name in entries] == PARTS  # relative to the playlist
    for (info, _), chapter in zip(entries, chapters):
        seconds, title = info.removeprefix("#EXTINF:").split(",", 1)
        assert title == chapter["title"]
        assert abs(int(seconds) - (chapter["end_ms"] - chapter["start_ms"]) / 1000) <= 1


def test_chapter_files_are_the_session_cut_at_its_chapters(split):
    """Joined, the chapter files are the session's own MP3 frames, byte for byte; decoded, each is the
    session's audio from a silent frame boundary just before its chapter to the next one's."""
    parts = [split.folder / "knee-rehab" / name for name in PARTS]
    assert b"".join(audio_frames(p) for p in parts) == audio_frames(split.mp3)
    whole, rate = soundfile.read(str(split.mp3), dtype="float32")
    decoded = [soundfile.read(str(p), dtype="float32")[0] for p in parts]
    joined = np.concatenate(decoded)
    assert len(joined) == len(whole)
    # the same frames through the same decoder; libsndfile's decoder rounds its float sums a little
    # differently depending on where in the stream a frame falls (seen: 1.8e-7 at most)
    assert np.abs(joined - whole).max() < 1e-6
    plan = json.loads(split.mp3.with_suffix(".json").read_text())
    at = 0
    for chapter, part, before in zip(plan["chapters"], decoded, [None, *decoded]):
        onset = chapter["start_ms"] * rate // 1000 + MP3_DELAY - at  # where the chapter's chime starts
        assert MP3_DELAY <= onset < rate  # the cut is at or (at most a second) before the chapter's start
        if before is not None:  # the cut fell where nothing sounds: the file before ends in silence
            assert np.abs(before[-1152:]).max() < 1e-4, chapter["title"]
        assert np.abs(part[onset:onset + rate // 5]).max() > 0.01, chapter["title"]  # the chime rings
        at += len(part)


def test_chapter_files_are_tagged_as_tracks_of_the_session(split):
    for n, (name, chapter) in enumerate(zip(PARTS, ["Intro", "Quad Set", "Heel Slide", "Straight Leg Raise",
                                                    "Outro"]), 1):
        tags = ID3(str(split.folder / "knee-rehab" / name))
        assert (str(tags["TIT2"]), str(tags["TALB"]), str(tags["TRCK"]), str(tags["TPE1"])) == (
            chapter, "Knee Rehab", f"{n}/5", "voiceguide")
        assert not tags.getall("CHAP")
    whole = ID3(str(split.mp3))
    assert (str(whole["TIT2"]), str(whole["TALB"])) == ("Knee Rehab", "Knee Rehab")  # not a variant
    assert len(whole.getall("CHAP")) == 5


def test_a_rebuild_with_fewer_chapters_leaves_no_stale_chapter_file(split, routine, cache, tmp_path):
    """Split from the routine's `options:`; the chapter that is gone is removed with the swap, a file of
    the user's in the folder is left alone."""
    out = tmp_path / "out"
    shutil.copytree(split.folder, out)
    (out / "knee-rehab" / "notes.txt").write_text("mine")
    shorter = tmp_path / "knee.yaml"
    shorter.write_text(ROUTINE.split("  - name: Straight Leg Raise")[0] + "options:\n  split: true\n")
    ok(run("build", str(shorter), "-o", str(out / "knee-rehab.mp3"), "-q", cwd=tmp_path, cache=cache))
    folder = out / "knee-rehab"
    assert sorted(p.name for p in folder.iterdir()) == ["01-intro.mp3", "02-quad-set.mp3", "03-heel-slide.mp3",
                                                        "04-outro.mp3", "knee-rehab.m3u", "notes.txt"]
    listed = [line for line in (folder / "knee-rehab.m3u").read_text().splitlines() if not line.startswith("#")]
    assert listed == ["01-intro.mp3", "02-quad-set.mp3", "03-heel-slide.mp3", "04-outro.mp3"]
    assert str(ID3(str(folder / "04-outro.mp3"))["TRCK"]) == "4/4"


def test_a_chapter_file_that_cannot_be_written_replaces_nothing(split, routine, cache, tmp_path):
    """A folder where a chapter file must go is found after the plan names the chapters: exit 2, and
    the session, its sidecars and every chapter file of the earlier build are as they were."""
    out = tmp_path / "out"
    shutil.copytree(split.folder, out)
    renamed = tmp_path / "knee.yaml"
    renamed.write_text(ROUTINE.replace("Heel Slide", "Heel Glide"))
    (out / "knee-rehab" / "03-heel-glide.mp3").mkdir()
    before = files_under(out)
    result = run("build", str(renamed), "-o", str(out / "knee-rehab.mp3"), "--split", "-q", cwd=tmp_path, cache=cache)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[1:] == [  # after the warning that another routine file made it
        (f"error: {out / 'knee-rehab' / '03-heel-glide.mp3'}: is a folder, so the session cannot be written there; "
         "move it away or choose another name with -o")]
    assert files_under(out) == before


def test_split_into_a_file_in_the_way_is_refused_before_the_work(routine, tmp_path):
    (tmp_path / "knee-rehab").write_text("not a folder")
    cache = tmp_path / "cache"
    result = run("build", str(routine), "-o", str(tmp_path) + "/", "--split", cwd=tmp_path, cache=cache)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr == (f"error: {tmp_path / 'knee-rehab'}: is not a folder, so --split cannot put the "
                             "chapter files there; move it away or choose another name with -o\n")
    assert not cache.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["knee-rehab"]


def test_only_mp3_writes_the_mp3_and_leaves_sidecars_as_they_were(routine, cache, tmp_path):
    """The MP3 alone, the same bytes as with its sidecars; the mix stored by a full build of the routine is
    reused (the sidecars and where the routine file lies change nothing in the audio)."""
    ok(run("build", str(routine), "-o", str(tmp_path / "full" / "k.mp3"), "-q", cwd=tmp_path, cache=cache))
    moved = tmp_path / "moved.yaml"
    moved.write_text(ROUTINE)
    fresh = tmp_path / "fresh"
    result = ok(run("build", str(moved), "-o", str(fresh / "k.mp3"), "--only-mp3", cwd=tmp_path, cache=cache))
    assert "Mixing and encoding: unchanged since an earlier build, taken from the cache" in result.stderr
    assert [p.name for p in fresh.iterdir()] == ["k.mp3"]
    assert (fresh / "k.mp3").read_bytes() == (tmp_path / "full" / "k.mp3").read_bytes()
    samples, rate = soundfile.read(str(fresh / "k.mp3"), dtype="float32")
    assert len(samples) / rate > 80 and np.abs(samples).max() > 0.1
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "k.mp3").write_bytes(b"ID3 old")
    (kept / "k.vtt").write_bytes(b"WEBVTT\n\nold\n")
    (kept / "k.json").write_bytes(b'{"old": true}\n')
    result = ok(run("build", str(routine), "-o", str(kept / "k.mp3"), "--only-mp3", cwd=tmp_path, cache=cache))
    assert (kept / "k.vtt").read_bytes() == b"WEBVTT\n\nold\n" and (kept / "k.json").read_bytes() == b'{"old": true}\n'
    assert (kept / "k.mp3").read_bytes() == (fresh / "k.mp3").read_bytes()
    assert f"Wrote {kept / 'k.mp3'} (" in result.stderr and " with " not in result.stderr


def test_output_into_an_existing_folder_is_named_after_the_title(routine, cache, tmp_path):
    (tmp_path / "ana").mkdir()
    ok(run("build", str(routine), "-o", "ana", "-q", "--only-mp3", cwd=tmp_path, cache=cache))
    assert [p.name for p in (tmp_path / "ana").iterdir()] == ["knee-rehab.mp3"]
    result = run("build", str(routine), "-o", "notes.txt", "-q", cwd=tmp_path, cache=cache)
    assert result.returncode == 2
    assert result.stderr == ("error: notes.txt: the session is an MP3 (with .vtt and .json beside it); give a file "
                             "name ending in .mp3, or a folder (ending in /) to write it in, with -o\n")


def test_variants_warn_before_replacing_and_carry_their_settings(routine, cache, tmp_path):
    out = tmp_path / "knee.mp3"
    first = ok(run("build", str(routine), "-o", str(out), "-q", cwd=tmp_path, cache=cache))
    assert first.stderr == ""
    assert json.loads(out.with_suffix(".json").read_text())["made_with"]["source"] == str(routine)
    short = ok(run("build", str(routine), "-o", str(out), "-q", "--no-intro", "--duration", "2:00", cwd=tmp_path,
                   cache=cache))
    assert short.stderr == (f"warning: replacing {out}, which was made differently: duration as written (now 2:00); "
                            "intro on (now off); to keep both, give this build another name with -o\n")
    tags = ID3(str(out))
    assert str(tags["TIT2"]) == str(tags["TALB"]) == "Knee Rehab — 2:00, no intro"
    assert str(tags["COMM::eng"]) == ("Home programme after a knee replacement.\n\n"
                                      "Variant: 2:00, no intro (--duration 2:00 --no-intro)")
    again = ok(run("build", str(routine), "-o", str(out), "-q", "--no-intro", "--duration", "2:00", cwd=tmp_path,
                   cache=cache))
    assert again.stderr == ""  # the same variant again: nothing to say
    other = tmp_path / "knee-for-ana.yaml"
    other.write_text(ROUTINE + "options:\n  intro: false\n  duration: \"2:00\"\n  pace: 1.0\n")
    moved = ok(run("build", str(other), "-o", str(out), "-q", cwd=tmp_path, cache=cache))
    assert moved.stderr == (f"warning: replacing {out}, which was made differently: routine {routine} "
                            f"(now {other}); to keep both, give this build another name with -o\n")
    assert str(ID3(str(out))["TIT2"]) == "Knee Rehab — 2:00, no intro"  # pace 1.0 is the default: not named


def test_plan_names_the_chime_that_is_used(routine, cache, tmp_path):
    def sounds(*flags: str) -> set[str]:
        plan = json.loads(ok(run("plan", str(routine), "--json", "-q", *flags, cwd=tmp_path, cache=cache)).stdout)
        return {e["sound"] for e in plan["events"] if e["kind"] == "chime"}

    assert sounds() == {"bell", "bell-soft"}
    assert sounds("--chime", "bowl") == {"bowl", "bowl-soft"}
    gong = tmp_path / "gong.wav"
    shutil.copy(Path(__file__).resolve().parent.parent / "audio_assets" / "bowl.wav", gong)
    assert sounds("--chime", str(gong)) == {"gong.wav", "gong.wav (soft)"}
    table = ok(run("plan", str(routine), "-q", "--chime", "bowl", cwd=tmp_path, cache=cache)).stdout
    assert "(bowl chime)" in table and "(bowl-soft chime)" in table and "bell" not in table
