"""Hostile inputs through the real command line: a clean exit 2 with a message that says where and what,
never a traceback, never a runaway, and the previous session byte-identical after every failure."""
from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from voiceguide import atomic

PREVIOUS = {".mp3": b"ID3 previous mp3\n", ".vtt": b"WEBVTT\n\nprevious\n", ".json": b'{"previous": true}\n'}

TINY = """\
title: Tiny
exercises:
  - name: Reach Up
    duration: 12
"""


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "voiceguide", *args],
                          check=False, capture_output=True, text=True, cwd=cwd,
                          env=full, timeout=300)


def clean_error(result: subprocess.CompletedProcess[str]) -> str:
    """The one error line of a failed command (exit 2, no traceback)."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def put_previous(mp3: Path) -> None:
    mp3.parent.mkdir(parents=True, exist_ok=True)
    for suffix, data in PREVIOUS.items():
        mp3.with_suffix(suffix).write_bytes(data)


def previous_intact(mp3: Path, skip: str = "") -> bool:
    return all(mp3.with_suffix(s).read_bytes() == data for s, data in PREVIOUS.items() if s != skip)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def test_a_target_that_is_a_folder_fails_before_any_speech_and_replaces_nothing(tmp_path, tiny):
    """The session's .json is a folder: refused before speaking (the cache stays empty), and the MP3 and
    captions of the previous build are untouched (today's promise: all of a session's files or none)."""
    mp3 = tmp_path / "out" / "s.mp3"
    put_previous(mp3)
    mp3.with_suffix(".json").unlink()
    mp3.with_suffix(".json").mkdir()
    cache = tmp_path / "cache"
    error = clean_error(run("build", str(tiny), "-o", str(mp3), cwd=tmp_path, env={"VOICEGUIDE_CACHE_DIR": str(cache)}))
    assert error == (f"error: {mp3.with_suffix('.json')}: is a folder, so the session cannot be written there; "
                     "move it away or choose another name with -o")
    assert previous_intact(mp3, skip=".json") and mp3.with_suffix(".json").is_dir()
    assert not cache.exists()
    assert sorted(p.name for p in mp3.parent.iterdir()) == ["s.json", "s.mp3", "s.vtt"]


def _new_files(mp3: Path) -> list[atomic.PendingFile]:
    """A new MP3, captions and plan written beside `mp3`, ready to be swapped in."""
    pending = []
    for suffix in (".mp3", ".vtt", ".json"):
        file = atomic.PendingFile(mp3.with_suffix(suffix))
        with file.open() as out:
            out.write(b"new " + suffix.encode())
        pending.append(file)
    return pending


def test_a_swap_that_fails_part_way_puts_back_what_was_swapped(tmp_path, monkeypatch):
    """All three new files are written; the third cannot be moved into place: the first two are put back,
    byte for byte, and no temporary file is left."""
    mp3 = tmp_path / "s.mp3"
    put_previous(mp3)
    pending = _new_files(mp3)
    real_replace = os.replace

    def fail_on_json(src, dst, **kw):
        if str(dst).endswith(".json") and ".vg-tmp-" in str(src):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst, **kw)

    monkeypatch.setattr(atomic.os, "replace", fail_on_json)
    with pytest.raises(OSError, match="No space left"):
        atomic.replace_together(pending)
    for file in pending:
        file.discard()
    assert previous_intact(mp3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json", "s.mp3", "s.vtt"]


def test_replacing_together_replaces_every_file_and_keeps_no_spare(tmp_path):
    mp3 = tmp_path / "s.mp3"
    put_previous(mp3)
    pending = _new_files(mp3)
    done = []
    atomic.replace_together(pending, lambda: done.append(sorted(p.name for p in tmp_path.iterdir())))
    assert done == [["s.json", "s.mp3", "s.vtt"]]
    assert [mp3.with_suffix(s).read_bytes() for s in (".mp3", ".vtt", ".json")] == [b"new .mp3", b"new .vtt",
                                                                                 b"new .json"]


@pytest.mark.parametrize("where, message", [
    ("/dev/null/s.mp3", ("error: /dev/null: is not a folder, so the output folder /dev/null cannot be made; choose "
                        "another place with -o")),
    ("/proc/s.mp3", "error: /proc: files cannot be written in this folder ("),
])
def test_an_output_place_that_cannot_take_files_is_refused_before_the_work(tmp_path, tiny, where, message):
    cache = tmp_path / "cache"
    error = clean_error(run("build", str(tiny), "-o", where, cwd=tmp_path, env={"VOICEGUIDE_CACHE_DIR": str(cache)}))
    assert error.startswith(message), error
    assert not cache.exists()


def test_a_long_legal_output_name_builds(tmp_path, tiny):
    """245 bytes with .mp3, 255 with .chapters.json: the temporary names must not be longer than the final ones."""
    name = "s" * 241 + ".mp3"
    mp3 = tmp_path / "out" / name
    result = run("build", str(tiny), "-o", str(mp3), "-q", cwd=tmp_path,
                 env={"VOICEGUIDE_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in mp3.parent.iterdir()) == sorted(
        ["feed.xml", *("s" * 241 + s for s in (".chapters.json", ".cover.png", ".json", ".mp3", ".vtt"))])


def test_a_name_too_long_for_the_folder_is_refused_before_the_work(tmp_path, tiny):
    mp3 = tmp_path / ("s" * 252 + ".mp3")
    cache = tmp_path / "cache"
    error = clean_error(run("build", str(tiny), "-o", str(mp3), cwd=tmp_path, env={"VOICEGUIDE_CACHE_DIR": str(cache)}))
    assert ("the file name is 256 bytes long with its extension, and 266 bytes as its .chapters.json beside it; "
            "this folder takes at most 255; choose a name of at most 245 bytes with -o") in error
    assert not cache.exists()


def _sparse_wav(path: Path, hours: float, rate: int = 8000) -> None:
    """A WAV whose header promises `hours` of audio: a second of tone, then zeros the file system does not
    store (a sparse file), so the test costs nothing but a reader that reads it all would."""
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.setnframes(int(hours * 3600 * rate))
        w.writeframesraw(tone.tobytes())
    with open(path, "r+b") as f:
        f.truncate(44 + int(hours * 3600 * rate) * 2)


LAUNCH_RSS = ("import resource, sys\nfrom voiceguide.cli import main\ntry:\n    main(sys.argv[1:])\nfinally:\n"
              "    print('maxrss_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n")


def test_a_ten_hour_file_as_the_chime_is_read_only_as_far_as_a_chime_needs(tmp_path, tiny):
    """Only the first seconds of a chime file are decoded: a ten-hour WAV (1.1 GB of samples to decode and
    resample whole) costs no more memory than a short one."""
    long_wav, short_wav = tmp_path / "long.wav", tmp_path / "short.wav"
    _sparse_wav(long_wav, 10.0)
    _sparse_wav(short_wav, 1 / 3600)
    env = {**os.environ, "VOICEGUIDE_CACHE_DIR": str(tmp_path / "cache")}
    rss = {}
    for name, chime in (("short", short_wav), ("long", long_wav)):
        result = subprocess.run([sys.executable, "-c", LAUNCH_RSS, "plan", str(tiny), "--chime", str(chime), "-q"],
                                check=False,
                                capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
        assert result.returncode == 0, result.stderr
        rss[name] = int(result.stderr.split("maxrss_kb")[-1])
    assert rss["long"] < rss["short"] + 30_000, rss  # KB: a whole decode would add gigabytes


def test_a_shipped_soft_chime_name_is_not_a_chime(tmp_path, tiny):
    error = clean_error(run("plan", str(tiny), "--chime", "bell-soft", cwd=tmp_path))
    assert error == ('error: chime "bell-soft": not a shipped chime (bell, bowl) and no such file; give one of '
                     "those, a WAV/MP3/OGG/FLAC file, or none")


def test_respellings_that_feed_each_other_are_stopped_before_they_grow(tmp_path):
    words = ["aa", "bb", "cc", "dd", "ee", "ff", "gg"]
    lines = "\n".join(f'  {a}: "{" ".join([b] * 10)}"' for a, b in itertools.pairwise(words))
    routine = tmp_path / "grow.yaml"
    routine.write_text(f"title: Grow\npronounce:\n{lines}\nexercises:\n  - name: aa\n    duration: 30\n")
    for command in ("check", "plan"):
        error = clean_error(run(command, str(routine), cwd=tmp_path))
        assert error == (f'error: {routine}: the line "aa." becomes more than 2000 characters once its words are '
                         "respelled (`pronounce`); a line is spoken whole, so shorten it or its respellings")


def test_a_garbage_piper_voice_is_named(tmp_path, tiny):
    pytest.importorskip("piper")
    voice = tmp_path / "bad.onnx"
    voice.write_bytes(os.urandom(4096))
    Path(f"{voice}.json").write_text("{}")
    error = clean_error(run("plan", str(tiny), "--engine", "piper", "--voice", str(voice), cwd=tmp_path))
    assert error.startswith(f"error: {voice}: not a usable Piper voice (")


@pytest.mark.parametrize("value", ["inf", "nan", "-3", "0", "soon"])
def test_an_engine_timeout_that_is_not_a_number_of_seconds_is_refused(tmp_path, tiny, value):
    error = clean_error(run("plan", str(tiny), cwd=tmp_path, env={"VOICEGUIDE_ENGINE_TIMEOUT": value}))
    assert error == (f"error: VOICEGUIDE_ENGINE_TIMEOUT='{value}': expected seconds from 0.1 to 86400 (how long one "
                     "line may take to speak); unset it for the default of 60")


def test_a_tilde_in_the_cache_folder_is_the_home_folder(tmp_path, tiny):
    home = tmp_path / "home"
    home.mkdir()
    result = run("plan", str(tiny), "-q", cwd=tmp_path, env={"HOME": str(home), "VOICEGUIDE_CACHE_DIR": "~/vgcache"})
    assert result.returncode == 0, result.stderr
    assert (home / "vgcache").is_dir() and not (tmp_path / "~").exists()


def test_a_tilde_for_a_user_this_machine_does_not_know_is_a_clean_error(tmp_path, tiny):
    for env, args, what in (({"VOICEGUIDE_CACHE_DIR": "~nosuchuser-vg/c"}, [], "VOICEGUIDE_CACHE_DIR"),
                            ({}, ["--music", "~nosuchuser-vg/a.ogg"], "music"),
                            ({}, ["--chime", "~nosuchuser-vg/a.wav"], "chime")):
        path = env.get("VOICEGUIDE_CACHE_DIR") or args[1]
        error = clean_error(run("build", str(tiny), "-q", *args, "-o", str(tmp_path / "out" / "s.mp3"), cwd=tmp_path,
                                env=env))
        assert error == (f'error: {what} "{path}": this machine knows no home folder for "~nosuchuser-vg"; write '
                         "the folder out in full")
    assert not (tmp_path / "out").exists()


def test_a_disk_too_full_for_the_session_is_refused_before_anything_is_spoken(tmp_path, tiny):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small tmpfs")
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)],
                      check=False, capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        long_routine = tmp_path / "long.yaml"
        long_routine.write_text(TINY.replace("duration: 12", "duration: 20m"))
        cache = tmp_path / "cache"
        error = clean_error(run("build", str(long_routine), "-o", str(small / "s.mp3"), cwd=tmp_path,
                                env={"VOICEGUIDE_CACHE_DIR": str(cache)}))
        assert error.startswith(f"error: {small}: this session needs about ") and "is free there" in error
        assert not cache.exists() and list(small.iterdir()) == []
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False, capture_output=True)


def test_captions_escape_what_would_end_or_change_a_cue():
    from voiceguide.export import vtt_text

    assert vtt_text("Hips --> knees & <b>toes</b>") == "Hips --&gt; knees &amp; &lt;b&gt;toes&lt;/b&gt;"
    assert vtt_text("one\n\ntwo") == "one two"


def test_an_option_the_routine_sets_wrongly_is_named_at_its_line_by_check_plan_and_build(tmp_path):
    routine = tmp_path / "opt.yaml"
    routine.write_text("title: T\noptions:\n  voice: klingon-opera\n  chime: nope.wav\nexercises:\n"
                       "  - name: A\n    duration: 30\n")
    cache = tmp_path / "cache"
    for command in (["check"], ["plan"], ["build", "-o", str(tmp_path / "out" / "s.mp3")]):
        error = clean_error(run(*command[:1], str(routine), *command[1:], cwd=tmp_path,
                                env={"VOICEGUIDE_CACHE_DIR": str(cache)}))
        assert error.startswith(f'error: {routine}:3:10: options.voice: no pyttsx3 voice matches "klingon-opera"')
    error = clean_error(run("plan", str(routine), "--voice", "en-gb", cwd=tmp_path,
                            env={"VOICEGUIDE_CACHE_DIR": str(cache)}))
    assert error.startswith(f'error: {routine}:4:10: options.chime: chime "nope.wav": not a shipped chime')
    error = clean_error(run("plan", str(routine), "--voice", "en-gb", "--chime", "nope.wav", cwd=tmp_path,
                            env={"VOICEGUIDE_CACHE_DIR": str(cache)}))
    assert error.startswith('error: chime "nope.wav": not a shipped chime')  # a flag is not a line of the file
    assert not cache.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("args", [["schema"], ["routines"], ["--help"], ["plan", "--help"]])
def test_output_that_cannot_be_written_is_a_clean_error(tmp_path, args):
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "voiceguide", *args],
                                check=False, stdout=full, stderr=subprocess.PIPE,
                                text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr == ("error: could not write the output (No space left on device); write it somewhere "
                             "with room, e.g. a file on another disk\n")


def test_a_build_whose_progress_cannot_be_written_still_writes_its_session(tmp_path, tiny):
    """Standard error is for a person; with nowhere to go, the build goes on without it."""
    mp3 = tmp_path / "out" / "s.mp3"
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "voiceguide", "build", str(tiny), "-o", str(mp3)],
                                check=False, stdout=subprocess.PIPE, stderr=full, cwd=tmp_path, timeout=300)
    assert result.returncode == 0 and result.stdout == b""
    assert sorted(p.name for p in mp3.parent.iterdir()) == ["feed.xml", "s.chapters.json", "s.cover.png", "s.json",
                                                            "s.mp3", "s.vtt"]


def test_an_error_that_cannot_be_written_still_exits_2(tmp_path):
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "voiceguide", "check", str(tmp_path / "missing.yaml")],
                                check=False,
                                stdout=subprocess.PIPE, stderr=full, cwd=tmp_path, timeout=120)
    assert result.returncode == 2


LAUNCH_INTERRUPTED_IMPORT = (
    "import sys\n"
    "class Stop:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == 'voiceguide.cli':\n"
    "            raise KeyboardInterrupt\n"
    "sys.meta_path.insert(0, Stop())\n"
    "from voiceguide.entry import main\n"
    "main()\n")


def test_ctrl_c_while_the_command_is_still_starting_is_not_a_traceback(tmp_path):
    """Ctrl-C before the command line is even imported (the first tenth of a second)."""
    result = subprocess.run([sys.executable, "-c", LAUNCH_INTERRUPTED_IMPORT, "build", "x"],
                            check=False, capture_output=True,
                            text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 130
    assert result.stderr == "interrupted; nothing was written (any previous output is as it was)\n"


def test_text_from_engines_reaches_the_terminal_without_escape_sequences():
    from voiceguide.cli import _printable

    assert _printable("Voice \x1b]0;pwned\x07 \x9b31m") == "Voice \\x1b]0;pwned\\x07 \\x9b31m"


def test_verbose_says_what_the_build_decides(tmp_path, tiny):
    result = run("plan", str(tiny), "-v", cwd=tmp_path, env={"VOICEGUIDE_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    assert "voiceguide.calibration: calibrating pyttsx3" in result.stderr
    assert "voiceguide.speech: speaking " in result.stderr
    quiet = run("plan", str(tiny), "-q", cwd=tmp_path, env={"VOICEGUIDE_CACHE_DIR": str(tmp_path / "cache")})
    assert quiet.stderr == ""


def _system_espeak() -> bool:
    import ctypes.util

    return ctypes.util.find_library("espeak-ng") is not None


ESPEAK_VERSION = ("import ctypes, sys\nlib = ctypes.CDLL(sys.argv[1])\nlib.espeak_Info.restype = ctypes.c_char_p\n"
                  "print(lib.espeak_Info(None).decode())\n")


def _espeak_version(library: str) -> str:
    """The version a libespeak-ng reports, asked in a process of its own."""
    result = subprocess.run([sys.executable, "-c", ESPEAK_VERSION, library], capture_output=True, text=True,
                            check=True, timeout=60)
    return result.stdout.strip()


@pytest.mark.skipif(not _system_espeak(), reason="no system libespeak-ng here (.ci/run installs one)")
def test_the_installed_espeak_is_used_even_beside_a_system_one(tmp_path, tiny):
    """The same routine gives the same bytes on every machine: the eSpeak NG from the espeakng-loader wheel,
    not whatever version the system has, unless VOICEGUIDE_ESPEAK=system asks for that one."""
    import ctypes.util
    import json

    import espeakng_loader

    expected = {"": _espeak_version(espeakng_loader.get_library_path()),
                "system": _espeak_version(str(ctypes.util.find_library("espeak-ng")))}
    if expected[""] == expected["system"]:
        pytest.skip(f"the system's eSpeak NG is the wheel's version ({expected['']}): nothing to tell apart")
    for choice, version in expected.items():
        out = tmp_path / f"out-{choice or 'wheel'}" / "s.mp3"
        result = run("build", str(tiny), "-o", str(out), "-q", cwd=tmp_path,
                     env={"VOICEGUIDE_ESPEAK": choice, "VOICEGUIDE_CACHE_DIR": str(tmp_path / "cache")})
        assert result.returncode == 0, result.stderr
        engine = json.loads(out.with_suffix(".json").read_text())["made_with"]["engine"]
        assert engine.endswith(f"espeak-ng {version})"), (choice, engine, expected)


KILLED_MID_SWAP = """\
import os, signal, sys
from pathlib import Path
from voiceguide import atomic
mp3 = Path(sys.argv[1])
pending = []
for suffix in (".mp3", ".vtt", ".json"):
    file = atomic.PendingFile(mp3.with_suffix(suffix))
    with file.open() as out:
        out.write(b"new " + suffix.encode())
    pending.append(file)
real_replace, moved = os.replace, []
def replace_then_die(src, dst, **kw):
    real_replace(src, dst, **kw)
    if not str(dst).endswith(".swap.json"):
        moved.append(dst)
        if len(moved) == 2:  # two of three new files in place: the worst moment to die
            os.kill(os.getpid(), signal.SIGKILL)
atomic.os.replace = replace_then_die
atomic.replace_together(pending)
"""


def test_a_build_killed_in_the_middle_of_its_swap_is_rolled_back_by_the_next(tmp_path, tiny):
    """SIGKILL between the second and third file moving into place leaves a mixed folder for a moment: the
    next build into that folder first puts the previous session back whole (from the swap's journal)."""
    mp3 = tmp_path / "out" / "s.mp3"
    put_previous(mp3)
    killed = subprocess.run([sys.executable, "-c", KILLED_MID_SWAP, str(mp3)], check=False, capture_output=True,
                            timeout=60)
    assert killed.returncode == -9
    assert mp3.read_bytes() == b"new .mp3" and mp3.with_suffix(".json").read_bytes() == PREVIOUS[".json"]
    atomic.recover_swaps(mp3.parent)
    assert previous_intact(mp3)
    assert sorted(p.name for p in mp3.parent.iterdir()) == ["s.json", "s.mp3", "s.vtt"]


def test_a_warm_rebuild_needs_room_only_for_what_it_writes(seed_session, tmp_path):
    """Every clip already cached: the cache's disk needs room for the levelling files and the stored mix,
    not for speech it will not speak again (a nearly full cache disk must not refuse it)."""
    from conftest import SEED, build_seed

    from voiceguide.build import build_options, space_needed
    from voiceguide.options import Settings
    from voiceguide.routine import load_routine

    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small tmpfs")
    used = sum(p.stat().st_size for p in seed_session.cache_dir.rglob("*") if p.is_file())
    need = space_needed(load_routine(SEED), build_options(Settings()))
    assert need is not None
    size = used + need.cache + 3 * 1024 * 1024  # the check's 1 MB margin, file system overhead, and no more
    cache = tmp_path / "cache"
    cache.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(cache)], check=False,
                      capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        shutil.copytree(seed_session.cache_dir, cache, dirs_exist_ok=True)
        result = build_seed(tmp_path / "out.mp3", cache, "--volume", "0.9", "-q")  # mixed again, nothing spoken
        assert result.returncode == 0, result.stderr
    finally:
        subprocess.run(["umount", "-l", str(cache)], check=False, capture_output=True)
