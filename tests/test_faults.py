"""Fault injection through the real command line.

What a user sees when the speech engine hangs, writes junk or fails once; when the clip cache is
damaged; when the disk fills up or the destination is read-only; when a build is killed at random
moments; and when four builds share one cache at the same time. Every check is on something a user
can observe: the exit status, the message on stderr, the bytes of the files, the folder listings.

Fake engines (tests/fakes.py) are registered with `voiceguide.voice.register_engine` in a small
launcher, so the build runs exactly as `voiceguide build` does, in its own process. A test that must
act at a point of a build holds it there (`VOICEGUIDE_TEST_PAUSE_AT`, see voiceguide/stages.py) and
acts once the build says it is paused; none waits for the clock.
"""
from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import PAUSE_ENV, SEED, default_signals, finish, go_on, wait_for_stage

PY = sys.executable
MODULE_CLI = [PY, "-m", "voiceguide"]
_SCRIPT = Path(sys.executable).with_name("voiceguide")
USER_CLI = [str(_SCRIPT)] if _SCRIPT.exists() else MODULE_CLI
"""The installed `voiceguide` command, as the README runs it (python -m voiceguide when absent)."""

SUFFIXES = (".mp3", ".vtt", ".json")
PREVIOUS = {".mp3": b"ID3 previous good build: mp3\n", ".vtt": b"WEBVTT\n\nprevious good build\n",
            ".json": b'{"previous": "good build"}\n'}
TARGET = "Switch sides."
"""The line the fake engines misbehave on (spoken in the middle of the drill routine)."""

LAUNCH = ("import sys, fakes; fakes.register_all(); from voiceguide.cli import main; "
          "sys.argv = ['voiceguide', *sys.argv[1:]]; main()")
"""`voiceguide` with the fake engines of tests/fakes.py registered."""
TESTS = Path(__file__).resolve().parent

DRILL = """\
title: Fault Drill
about: A tiny routine for fault injection.
exercises:
  - name: Reach Up
    duration: 20
    sides: both
    instructions:
      - Stand tall with your feet together.
  - name: Fold Down
    duration: 15
    tips:
      - Breathe out slowly as you fold.
"""


# ----------------------------------------------------------------------------------------------
# helpers


def _env(folder: Path, cache: Path, **extra) -> dict[str, str]:
    """The environment of one build: its own clip cache and its own TMPDIR (checked for leftovers)."""
    tmpdir = folder / "tmpdir"
    tmpdir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAKE_", "VOICEGUIDE_"))}
    env.update(VOICEGUIDE_CACHE_DIR=str(cache), TMPDIR=str(tmpdir))
    env.update({k: str(v) for k, v in extra.items()})
    return env


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def stray(folder: Path) -> list[str]:
    """Anything in an output folder that is not a finished session's file (MP3, captions, plan, chapters,
    cover) or the library's feed."""
    return [n for n in names(folder) if n.startswith(".")
            or not (Path(n).suffix in SUFFIXES or n.endswith(".cover.png") or n == "feed.xml")]


def read_outputs(mp3: Path) -> dict[str, bytes]:
    """The three files of a session, by suffix (missing ones left out)."""
    return {s: mp3.with_suffix(s).read_bytes() for s in SUFFIXES if mp3.with_suffix(s).exists()}


def digest(files: dict[str, bytes]) -> dict[str, str]:
    """Length and SHA-256 of each file: compared like the bytes, and short when they differ."""
    return {s: f"{len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}" for s, data in files.items()}


def outputs(mp3: Path) -> dict[str, str]:
    return digest(read_outputs(mp3))


OLD = digest(PREVIOUS)


def put(mp3: Path, files: dict[str, bytes]) -> None:
    mp3.parent.mkdir(parents=True, exist_ok=True)
    for suffix, data in files.items():
        mp3.with_suffix(suffix).write_bytes(data)


def complete_wav(path: Path) -> bool:
    """Independent of voiceguide's own check: the header parses and every frame it promises is there."""
    try:
        with wave.open(str(path), "rb") as w:
            need = w.getnframes() * w.getsampwidth() * w.getnchannels()
            return w.getnframes() > 0 and path.stat().st_size >= 44 + need
    except (OSError, EOFError, wave.Error):
        return False


def cache_problems(cache: Path) -> list[str]:
    """Temporary files left in a clip cache, and entries that are not complete WAVs."""
    if not cache.exists():
        return []
    temps = [str(p.relative_to(cache)) for p in cache.rglob(".*")]  # every temporary name starts with a dot
    broken = [str(p.relative_to(cache)) for p in cache.rglob("*.wav")
              if not p.name.startswith(".") and not complete_wav(p)]
    return temps + [f"incomplete: {b}" for b in broken]


def no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr


def the_error(stderr: str) -> str:
    """The one `error: ...` line the user is shown (after any progress lines)."""
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


def mounted_tmpfs(folder: Path, size: int) -> None:
    """Mount a tmpfs of `size` bytes on `folder`, or skip (the test needs root and a working mount)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs (mount -t tmpfs)")
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    folder.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)],
                            capture_output=True, text=True, check=False)
    if result.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")


@pytest.fixture
def tmpfs(tmp_path):
    """mount(folder, size): a small tmpfs, unmounted after the test."""
    mounted: list[Path] = []

    def mount(folder: Path, size: int) -> Path:
        mounted_tmpfs(folder, size)
        mounted.append(folder)
        return folder

    yield mount
    for folder in reversed(mounted):
        if subprocess.run(["umount", str(folder)], capture_output=True, check=False).returncode:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


PAGE = os.sysconf("SC_PAGE_SIZE")


def pages(n: int) -> int:
    return -(-n // PAGE)


ROOMY = 64 << 20
"""A tmpfs size that passes voiceguide's up-front check for free space (a cap: only what is written
takes memory); `leave_free` then shrinks it while the build is held past that check."""


def leave_free(disk: Path, free: int) -> None:
    """Shrink the tmpfs mounted on `disk` so that `free` bytes (whole pages) are left on it."""
    st = os.statvfs(disk)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    subprocess.run(["mount", "-o", f"remount,size={used + pages(free) * PAGE}", str(disk)], check=True,
                   capture_output=True)
    st = os.statvfs(disk)
    assert st.f_bavail * st.f_frsize == pages(free) * PAGE


def build_held(args: list[str], env: dict[str, str], stage: str, then: Callable[[], None],
               cwd: Path) -> tuple[int, str]:
    """`voiceguide ARGS`, held at `stage` while `then()` runs, then let go on; exit status and stderr."""
    proc = subprocess.Popen([*MODULE_CLI, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd,
                            env={**env, PAUSE_ENV: stage})
    err = wait_for_stage(proc, stage)
    then()
    go_on(proc)
    code, rest = finish(proc)
    return code, err + rest


# ----------------------------------------------------------------------------------------------
# fixtures: the fake engines, and real reference builds shared by the module


@dataclass(frozen=True)
class Fakes:
    folder: Path
    drill: Path
    reference: dict[str, bytes]
    """The drill built with the well-behaved fake engine (its files' bytes)."""
    cache: Path
    """The cache that build filled (its clips and its stored mix)."""

    @property
    def digest(self) -> dict[str, str]:
        return digest(self.reference)


@pytest.fixture(scope="module")
def fakes(tmp_path_factory) -> Fakes:
    folder = tmp_path_factory.mktemp("fakes")
    drill = folder / "drill.yaml"
    drill.write_text(DRILL)
    out = folder / "reference" / "s.mp3"
    result = subprocess.run([PY, "-c", LAUNCH, "build", str(drill), "--engine", "fake-good", "-o", str(out)],
                            capture_output=True, text=True, timeout=120, cwd=folder,
                            env=_env(folder, folder / "reference-cache", PYTHONPATH=_with_fakes()), check=False)
    assert result.returncode == 0, result.stderr
    return Fakes(folder, drill, read_outputs(out), folder / "reference-cache")


@dataclass(frozen=True)
class Run:
    code: int
    stderr: str
    seconds: float
    attempts: int
    """How many times the engine was asked to speak TARGET."""
    pids: list[int]
    """Processes that spoke TARGET (forked children for the forked fakes)."""


def _with_fakes() -> str:
    """PYTHONPATH for the launcher: tests/ (for fakes.py) before what was there."""
    return os.pathsep.join([str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])])


def run_fake(fakes: Fakes, folder: Path, engine: str, cache: Path | None = None, timeout_s: float | None = None) -> Run:
    """Build the drill with a fake engine into folder/out/s.mp3, which holds a previous build."""
    mp3 = folder / "out" / "s.mp3"
    put(mp3, PREVIOUS)
    log = folder / "engine.log"
    log.unlink(missing_ok=True)
    extra = {"PYTHONPATH": _with_fakes(), "FAKE_LOG": log, "FAKE_TARGET": TARGET}
    if timeout_s is not None:
        extra["VOICEGUIDE_ENGINE_TIMEOUT"] = timeout_s
    start = time.monotonic()
    result = subprocess.run([PY, "-c", LAUNCH, "build", str(fakes.drill), "--engine", engine, "-o", str(mp3)],
                            capture_output=True, text=True, timeout=120, cwd=folder,
                            env=_env(folder, cache or folder / "cache", **extra), check=False)
    seconds = time.monotonic() - start
    calls = [line.split("\t", 1) for line in log.read_text().splitlines()] if log.exists() else []
    spoke = [int(pid) for pid, text in calls if text == TARGET]
    return Run(result.returncode, result.stderr, seconds, len(spoke), spoke)


def assert_nothing_written(folder: Path) -> None:
    """The previous build is byte for byte as it was; no other file appeared beside it or in TMPDIR."""
    mp3 = folder / "out" / "s.mp3"
    assert outputs(mp3) == OLD
    assert names(mp3.parent) == ["s.json", "s.mp3", "s.vtt"]
    assert names(folder / "tmpdir") == []
    assert cache_problems(folder / "cache") == []


@dataclass(frozen=True)
class SeedBuilds:
    cache: Path
    """The cache the two builds filled: every clip of the seed, its rate record and its stored mix."""
    mp3: bytes
    """The cold build's MP3."""
    cold: dict[str, str]
    warm: dict[str, str]
    cold_stderr: str
    warm_stderr: str

    @property
    def clips(self) -> list[Path]:
        return sorted(p for p in self.cache.rglob("*.wav") if not p.name.startswith("."))

    @property
    def stored_mix(self) -> Path:
        (mix,) = self.cache.glob("sessions/*.mp3")
        return mix


@pytest.fixture(scope="module")
def seed(seed_session, seed_rebuilt) -> SeedBuilds:
    """The seed routine built by the real engine through the CLI into an empty cache, then again warm
    (conftest's builds, shared with the rest of the suite)."""
    return SeedBuilds(seed_session.cache_dir, seed_session.mp3.read_bytes(), outputs(seed_session.mp3),
                      outputs(seed_rebuilt.mp3), seed_session.stderr, seed_rebuilt.stderr)


def copy_cache(seed: SeedBuilds, to: Path, stored_mix: bool = True, linked: bool = False) -> Path:
    """A cache as the seed builds left it (without the stored mix: only the clips and rate record).
    `linked`: hard links to the same files, for builds alone (voiceguide replaces cache files, never
    writes into them), never for a test that damages them."""
    shutil.copytree(seed.cache, to, ignore=None if stored_mix else shutil.ignore_patterns("sessions"),
                    copy_function=os.link if linked else shutil.copy2)
    return to


# ----------------------------------------------------------------------------------------------
# 1. fake engines


@pytest.mark.parametrize("engine", ["fake-hang", "fake-forked-hang"])
def test_hung_engine_is_stopped_and_the_line_named(fakes, tmp_path, engine):
    """A clip that never finishes: with VOICEGUIDE_ENGINE_TIMEOUT=1 the build gives up within seconds,
    after one retry, with a message naming the line; the previous build is untouched."""
    run = run_fake(fakes, tmp_path, engine, timeout_s=1)
    assert run.code == 2, run.stderr
    assert run.seconds < 30, run.seconds
    no_traceback(run.stderr)
    error = the_error(run.stderr)
    assert f'"{TARGET}"' in error and "did not finish" in error and "within 1 s" in error
    assert run.attempts == 2
    assert_nothing_written(tmp_path)
    if engine == "fake-forked-hang":  # the hung children were killed and reaped, not left running
        for pid in run.pids:
            assert not Path(f"/proc/{pid}").exists(), f"child {pid} still exists"


UNUSABLE = {
    "fake-garbage": "not a complete PCM WAV",
    "fake-truncated": "not a complete PCM WAV",
    "fake-empty": "the file is empty",
    "fake-missing": "no file was written",
    "fake-forked-garbage": "not a complete PCM WAV",
    "fake-forked-truncated": "not a complete PCM WAV",
}


@pytest.mark.parametrize("engine", list(UNUSABLE))
def test_unusable_clip_is_retried_once_then_the_line_named(fakes, tmp_path, engine):
    """Garbage bytes, a WAV whose header promises more frames than follow, an empty file, no file:
    spoken once more, then exit 2 naming the line and what was wrong; nothing written."""
    run = run_fake(fakes, tmp_path, engine)
    assert run.code == 2, run.stderr
    no_traceback(run.stderr)
    assert run.attempts == 2
    error = the_error(run.stderr)
    assert "unusable clip" in error and UNUSABLE[engine] in error and f'"{TARGET}"' in error
    assert_nothing_written(tmp_path)


@pytest.mark.parametrize("engine", ["fake-error", "fake-crash", "fake-forked-crash"])
def test_engine_that_raises_is_retried_once_then_the_line_named(fakes, tmp_path, engine):
    """An engine that raises (its own EngineError, or any other exception, in this process or in a
    forked child): retried once, then exit 2 with one message that names the line; no traceback."""
    run = run_fake(fakes, tmp_path, engine)
    no_traceback(run.stderr)
    assert run.code == 2, run.stderr
    assert run.attempts == 2
    assert f'"{TARGET}"' in the_error(run.stderr)
    assert_nothing_written(tmp_path)


def test_silent_clip_is_named_and_not_kept_in_the_cache(fakes, tmp_path):
    """A WAV of pure silence is refused with the line named; it must not stay in the cache, or every
    later build of that line fails the same way until the user deletes the cache by hand."""
    run = run_fake(fakes, tmp_path, "fake-silent")
    assert run.code == 2, run.stderr
    no_traceback(run.stderr)
    error = the_error(run.stderr)
    assert "silence" in error and f'"{TARGET}"' in error
    assert_nothing_written(tmp_path)
    again = run_fake(fakes, tmp_path, "fake-good", cache=tmp_path / "cache")  # same engine name, version, voice
    assert again.code == 0, again.stderr
    assert outputs(tmp_path / "out" / "s.mp3") == fakes.digest


@pytest.mark.parametrize("mode", ["garbage", "truncated", "empty", "missing", "error", "hang", "crash", "silent"])
def test_failure_on_the_first_attempt_only_is_retried_and_the_build_succeeds(fakes, tmp_path, mode):
    """The engine fails once on a line, then speaks it: the build succeeds, the line was asked for
    exactly twice, and the session is byte-identical to one from an engine that never failed."""
    run = run_fake(fakes, tmp_path, f"fake-flaky-{mode}", timeout_s=1 if mode == "hang" else None)
    assert run.code == 0, run.stderr
    assert run.attempts == 2
    mp3 = tmp_path / "out" / "s.mp3"
    assert outputs(mp3) == fakes.digest
    assert stray(mp3.parent) == [] and names(tmp_path / "tmpdir") == []
    assert cache_problems(tmp_path / "cache") == []


def test_damaged_cache_entries_are_spoken_again_to_the_same_bytes(seed, tmp_path):
    """Cache WAVs overwritten with garbage, cut in half or emptied (and the calibration record
    garbled) after a good build: the next build notices, speaks exactly those clips again, and
    its MP3, captions and plan are byte-identical to the first build; so are the repaired clips."""
    cache = tmp_path / "cache"
    copy_cache(seed, cache)
    wavs = sorted(p for p in cache.rglob("*.wav") if not p.name.startswith("."))
    picked = random.Random(7).sample(wavs, 7)
    before = {p: p.read_bytes() for p in picked}
    for p in picked[:3]:
        p.write_bytes(b"\x00not a clip\xff" * 500)
    for p in picked[3:6]:
        p.write_bytes(before[p][: len(before[p]) // 2])
    before = {p: digest({"": data})[""] for p, data in before.items()}
    picked[6].write_bytes(b"")
    records = sorted((cache / "rates").glob("*.json")) if (cache / "rates").exists() else []
    for record in records:
        record.write_text('{"native": ')
    mp3 = tmp_path / "out" / "s.mp3"
    result = subprocess.run([*MODULE_CLI, "build", str(SEED), "-o", str(mp3)], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path, env=_env(tmp_path, cache), check=False)
    assert result.returncode == 0, result.stderr
    no_traceback(result.stderr)
    assert "7 clips spoken" in result.stderr, result.stderr
    assert outputs(mp3) == seed.cold
    for p, data in before.items():
        assert digest({"": p.read_bytes()})[""] == data, f"{p.name} was re-synthesised to different bytes"
    assert cache_problems(cache) == []
    assert names(tmp_path / "tmpdir") == []


@pytest.mark.parametrize("damage", ["same-size-garbage", "cut-in-half"])
def test_damaged_stored_session_audio_is_not_used(fakes, tmp_path, damage):
    """Encoded audio the cache keeps for unchanged rebuilds (any .mp3 in the cache folder), damaged
    after a good build: the next build must not copy the damage into the user's MP3."""
    cache = tmp_path / "cache"
    shutil.copytree(fakes.cache, cache)
    stored = sorted(cache.rglob("*.mp3"))
    assert stored, "the reference build kept no encoded audio in the cache"
    for p in stored:
        data = bytearray(p.read_bytes())
        if damage == "cut-in-half":
            del data[len(data) // 2:]
        else:  # every byte of the second half changed, the size kept
            half = len(data) // 2
            data[half:] = bytes(b ^ 0x5A for b in data[half:])
        p.write_bytes(bytes(data))
    run = run_fake(fakes, tmp_path, "fake-good", cache=cache)
    assert run.code == 0, run.stderr
    no_traceback(run.stderr)
    assert "Mixing and encoding MP3" in run.stderr  # mixed again, not taken from the cache
    mp3 = tmp_path / "out" / "s.mp3"
    assert outputs(mp3) == fakes.digest
    assert stray(mp3.parent) == [] and names(tmp_path / "tmpdir") == []


def test_cold_and_warm_builds_are_byte_identical(seed):
    """What the cache held does not change the output (the kill and concurrency tests rely on it)."""
    assert "0 from cache" in seed.cold_stderr and "0 clips spoken" in seed.warm_stderr
    assert seed.warm == seed.cold and set(seed.cold) == set(SUFFIXES)


# ----------------------------------------------------------------------------------------------
# 2. full disk


def _id3_size(mp3: bytes) -> int:
    assert mp3[:3] == b"ID3"
    s = mp3[6:10]
    return 10 + (s[0] << 21 | s[1] << 14 | s[2] << 7 | s[3])


@pytest.mark.parametrize("where", ["encoding", "tagging", "captions"])
def test_full_disk_is_a_clear_error_and_keeps_the_previous_build(seed, tmp_path, tmpfs, where):
    """A real tmpfs fills up at three points of the write (shrunk once the build has checked the free
    space and spoken, as when something else fills the disk meanwhile); each time: exit 2, a message
    that names the file and says the disk is full, no traceback, no temporary file, previous build intact."""
    mp3_size = len(seed.mp3)
    untagged = mp3_size - _id3_size(seed.mp3)
    if where == "tagging" and pages(untagged) == pages(mp3_size):
        pytest.skip("the ID3 tag fits in the MP3's last page; no size fills the disk exactly while tagging")
    free = {
        "encoding": 300 * 1024,  # far less than the MP3
        "tagging": pages(untagged) * PAGE,  # the untagged MP3 fits
        "captions": (pages(mp3_size) + 1) * PAGE,  # the MP3 fits, the .vtt does not
    }[where]
    cache = copy_cache(seed, tmp_path / "cache")
    disk = tmpfs(tmp_path / "disk", ROOMY)
    mp3 = disk / "s.mp3"
    put(mp3, PREVIOUS)
    # a volume no earlier build used: the session is mixed and encoded now, not copied from the cache
    louder = ["--volume", "0.9"] if where == "encoding" else []
    code, err = build_held(["build", str(SEED), "-o", str(mp3), *louder], _env(tmp_path, cache), "planned",
                           lambda: leave_free(disk, free), tmp_path)
    no_traceback(err)
    assert code == 2, err
    assert f"error: {mp3}: " in err and "No space left on device" in err, err
    assert outputs(mp3) == OLD
    assert names(disk) == ["s.json", "s.mp3", "s.vtt"]
    assert names(tmp_path / "tmpdir") == []
    assert cache_problems(cache) == []


def test_full_disk_under_the_clip_cache_is_not_a_traceback(seed, tmp_path, tmpfs):
    """The clip cache (VOICEGUIDE_CACHE_DIR) on a disk that fills while clips are stored (300 KiB left
    once the lines start to be spoken, past the free-space check): either the build still succeeds with the same bytes (the cache only saves
    time), or it stops with exit 2 and a message naming the cache folder and the full disk; never a
    traceback; the previous build kept."""
    disk = tmpfs(tmp_path / "disk", ROOMY)
    cache = disk / "cache"
    mp3 = tmp_path / "out" / "s.mp3"
    put(mp3, PREVIOUS)
    code, err = build_held(["build", str(SEED), "-o", str(mp3)], _env(tmp_path, cache), "speaking",
                           lambda: leave_free(disk, 300 * 1024), tmp_path)
    no_traceback(err)
    if code == 0:
        assert outputs(mp3) == seed.cold
    else:
        assert code == 2, err
        error = the_error(err)
        assert str(cache) in error and "No space left on device" in error
        assert outputs(mp3) == OLD
    assert stray(mp3.parent) == [] and names(tmp_path / "tmpdir") == []
    assert [p.name for p in cache.rglob(".*")] == []


# ----------------------------------------------------------------------------------------------
# 3. read-only destination


def test_read_only_mount_fails_before_speaking(tmp_path, tmpfs):
    """A destination on a read-only file system (as root, too): exit 2 before any synthesis, the
    message names the folder; the previous build there is untouched."""
    disk = tmpfs(tmp_path / "ro", 256 * 1024)
    put(disk / "s.mp3", PREVIOUS)
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True, capture_output=True)
    for target, says in ((disk / "s.mp3", f"error: {disk}: the output folder is not writable"),
                         (disk / "new" / "s.mp3", f"error: {disk / 'new'}: cannot create the output folder")):
        cache = tmp_path / f"cache-{target.parent.name}"
        result = subprocess.run([*MODULE_CLI, "build", str(SEED), "-o", str(target)], capture_output=True,
                                text=True, timeout=120, cwd=tmp_path, env=_env(tmp_path, cache), check=False)
        assert result.returncode == 2, result.stderr
        no_traceback(result.stderr)
        assert says in result.stderr, result.stderr
        assert not cache.exists()  # it stopped before the speech engine (which creates the cache) started
    assert outputs(disk / "s.mp3") == OLD and names(disk) == ["s.json", "s.mp3", "s.vtt"]


def _without_root_powers() -> list[str]:
    """A command prefix under which file permissions apply (as for an ordinary user), or skip."""
    if os.geteuid() != 0:
        return []
    # The interpreter may live under /root (mode 0700), out of reach of another user, so stay uid 0
    # but give up the capabilities that let root ignore file permissions.
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot make a folder unwritable to the build")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"]


def test_folder_without_write_permission_fails_before_speaking(tmp_path):
    prefix = _without_root_powers()
    folder = tmp_path / "locked"
    put(folder / "s.mp3", PREVIOUS)
    folder.chmod(0o555)
    try:
        probe = subprocess.run([*prefix, PY, "-c", f"open({str(folder / 'probe')!r}, 'w')"], capture_output=True,
                               check=False)
        if probe.returncode == 0:
            (folder / "probe").unlink()
            pytest.skip("this process can write into a 0555 folder even without CAP_DAC_OVERRIDE")
        cache = tmp_path / "cache"
        result = subprocess.run([*prefix, *MODULE_CLI, "build", str(SEED), "-o", str(folder / "s.mp3")],
                                capture_output=True, text=True, timeout=120, cwd=tmp_path, env=_env(tmp_path, cache),
                                check=False)
        assert result.returncode == 2, result.stderr
        no_traceback(result.stderr)
        assert f"error: {folder}: the output folder is not writable" in result.stderr
        assert not cache.exists()
        assert outputs(folder / "s.mp3") == OLD and names(folder) == ["s.json", "s.mp3", "s.vtt"]
    finally:
        folder.chmod(0o755)


# ----------------------------------------------------------------------------------------------
# 4. killed at every stage of a build


STAGES = ("engine started", "clip spoken", "speaking done", "planned", "measured", "encoding segment",
          "files ready", "files in place", "stored")
"""The stages of a build, in order (voiceguide/stages.py): a build is held at one and signalled there."""
IN_PLACE = STAGES.index("files in place")
INTERRUPTED = "interrupted; nothing was written (any previous output is as it was)"
SEED_SEGMENTS = 3
"""Segments of the seed's MP3 that are surely encoded: six minutes cut every ~30 s (mp3.SEGMENT_S)."""


def _still_running(marker: str) -> list[int]:
    """Processes (children orphaned by SIGKILL) whose environment carries this run's marker."""
    found = []
    needle = f"VG_FAULT_RUN={marker}\0".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _orphans_after(marker: str, limit_s: float = 60.0) -> list[int]:
    """Children left by a killed build, once they have had the chance to notice it is gone (each ends
    when it next writes to the build; `limit_s` only stops a hung test)."""
    deadline = time.monotonic() + limit_s
    while (left := _still_running(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def _occurrences(stage: str, cache: Path, seed: SeedBuilds) -> int:
    """How many times `stage` surely comes in a build of the seed with this cache (0: maybe never)."""
    have = {p.name for p in cache.rglob("*.wav")} if cache.exists() else set()
    stored = cache.exists() and any(cache.glob("sessions/*.mp3"))
    if stage == "clip spoken":  # each clip the cache lacks is spoken (calibration may add more)
        return len({p.name for p in seed.clips} - have)
    if stage in ("measured", "encoding segment", "stored"):  # only when the stored mix is not reused
        return 0 if stored else SEED_SEGMENTS if stage == "encoding segment" else 1
    return 1


def _kill_schedule(rng: random.Random) -> list[tuple[str, signal.Signals, str]]:
    """(stage, signal, cache state): every stage, and two more kills while speaking; each signal four
    times. The half-filled cache is only built on (and only filled by) kills before the speaking is
    done, or it would hold every clip; an empty one is only used up to the plan (a cold build to
    every stage would add time, not cases: from the plan on, a build does the same with any clips)."""
    stages = [*STAGES, "clip spoken", "clip spoken", rng.choice(STAGES)]
    rng.shuffle(stages)
    signals = [signal.SIGKILL, signal.SIGINT, signal.SIGTERM] * 4
    rng.shuffle(signals)
    states = {"engine started": ["partial", "cold", "clips", "warm"], "clip spoken": ["partial", "partial", "cold"],
              "speaking done": ["cold", "clips", "warm"], "planned": ["cold", "clips", "warm"],
              "measured": ["clips"], "encoding segment": ["clips"], "stored": ["clips"],
              "files ready": ["clips", "warm"], "files in place": ["clips", "warm"]}
    return [(stage, sig, rng.choice(states[stage])) for stage, sig in zip(stages, signals)]


def test_kills_at_every_stage_keep_the_previous_build_or_replace_it_whole(seed, fakes, tmp_path):
    """Twelve builds of the seed routine, each into a folder holding a previous good build, held at a
    stage (seeded random: every stage, each signal four times, a random occurrence) and sent SIGKILL,
    SIGINT or SIGTERM there, with an empty cache, one half-filled by the earlier killed builds, the
    seed's clips only, or the seed's clips and stored mix; the installed `voiceguide`. Before the
    files are in place: the previous MP3, .vtt and .json byte-identical and nothing else in the folder;
    SIGINT and SIGTERM exit 130 with the `interrupted` line, no traceback, and no temporary file in the
    cache or TMPDIR. From then on: the complete new build; SIGINT and SIGTERM change nothing (exit 0).
    No child outlives a killed build. Then a build from the cache the killed builds filled is
    byte-identical to the reference."""
    rng = random.Random(20_240_607)
    partial = tmp_path / "partial-cache"
    previous = fakes.reference  # a real, different, earlier good build
    old = digest(previous)
    problems, table = [], []
    for k, (stage, sig, state) in enumerate(_kill_schedule(rng)):
        run = tmp_path / f"kill-{k:02d}"
        mp3 = run / "out" / "s.mp3"
        put(mp3, previous)
        cache = {"cold": run / "cache", "partial": partial, "clips": run / "cache", "warm": run / "cache"}[state]
        if state in ("clips", "warm"):
            copy_cache(seed, cache, stored_mix=state == "warm", linked=True)
        if _occurrences(stage, cache, seed) == 0:  # the half-filled cache came to hold every clip
            state, cache = "cold", run / "cache"
        nth = rng.randint(1, _occurrences(stage, cache, seed))
        at = f"{stage}#{nth}"
        marker = f"{tmp_path.name}-{k}"
        temps_before = set(cache_problems(cache))
        proc = subprocess.Popen([*USER_CLI, "build", str(SEED), "-o", str(mp3)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, cwd=run,
                                env=_env(run, cache, VG_FAULT_RUN=marker, **{PAUSE_ENV: at}),
                                preexec_fn=default_signals)  # noqa: PLW1509 - the test starts no threads
        err = wait_for_stage(proc, at)  # raises if the build ended without reaching it
        proc.send_signal(sig)
        code, rest = finish(proc)
        err += rest
        got = outputs(mp3)
        kept = "previous" if got == old else "new" if got == seed.cold else "MIXED"
        orphans = _orphans_after(marker) if sig == signal.SIGKILL else []
        new_temps = sorted(set(cache_problems(cache)) - temps_before)
        row = (f"#{k:02d} {signal.Signals(sig).name:7} at {at:20} {state:7} exit={code:4} kept={kept:8} "
               f"stray={stray(mp3.parent)} new-cache-temps={len(new_temps)} tmpdir={names(run / 'tmpdir')} "
               f"orphans={len(orphans)}")
        table.append(row)

        def problem(what: str, row: str = row, err: str = err) -> None:
            problems.append(f"{row}: {what}\n    stderr: {err.strip()[-400:]!r}")

        in_place = STAGES.index(stage) >= IN_PLACE
        if kept != ("new" if in_place else "previous"):
            differ = [f"{s}: {got.get(s, 'missing')} (new: {seed.cold[s]}, previous: {old[s]})" for s in SUFFIXES]
            problem(f"expected the {'new' if in_place else 'previous'} build in the folder: {differ}")
        if stray(mp3.parent):
            problem(f"files left in the output folder: {stray(mp3.parent)}")
        if names(run / "tmpdir"):
            problem(f"files left in TMPDIR: {names(run / 'tmpdir')}")
        if "Traceback" in err:
            problem("traceback on stderr")
        if orphans:
            problem(f"children still running after the build was killed: {orphans}")
        if sig == signal.SIGKILL:
            if code != -signal.SIGKILL:
                problem(f"exit {code} after SIGKILL")
            continue
        if new_temps:
            problem(f"temporary files left in the cache: {new_temps}")
        if in_place and (code != 0 or "interrupted" in err or "Wrote" not in err):
            problem(f"exit {code} after {signal.Signals(sig).name} once the files were in place: expected the "
                    "signal to change nothing (exit 0, no 'interrupted')")
        if not in_place and (code != 130 or INTERRUPTED not in err):
            problem(f"exit {code} after {signal.Signals(sig).name}: expected 130 and {INTERRUPTED!r}")
    print("\n".join(table))
    # the cache that killed builds half-filled (and possibly left temporary files in) still gives the same bytes
    final = tmp_path / "final" / "s.mp3"
    result = subprocess.run([*MODULE_CLI, "build", str(SEED), "-o", str(final)], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path, env=_env(tmp_path / "final", partial), check=False)
    if result.returncode != 0 or outputs(final) != seed.cold:
        problems.append(f"a build from the cache the killed builds filled differs (exit {result.returncode}): "
                        f"{result.stderr[-300:]}")
    assert not problems, "\n".join(problems) + "\n\nall kills:\n" + "\n".join(table)


def test_sigkill_while_encoding_leaves_no_temporary_file(seed, tmp_path):
    """SIGKILL cannot be caught: killed while the MP3 is being encoded beside the previous build, the
    previous build must still be whole, and no temporary file may be left in the user's folder."""
    mp3 = tmp_path / "out" / "s.mp3"
    put(mp3, PREVIOUS)
    cache = copy_cache(seed, tmp_path / "cache", stored_mix=False)  # mixed and encoded now, not copied
    proc = subprocess.Popen([*USER_CLI, "build", str(SEED), "-o", str(mp3)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, cwd=tmp_path,
                            env=_env(tmp_path, cache, **{PAUSE_ENV: "encoding segment#2"}))
    wait_for_stage(proc, "encoding segment#2")  # the new MP3 is being written beside the previous one
    proc.kill()
    code, _ = finish(proc)
    assert code == -signal.SIGKILL
    assert outputs(mp3) == OLD
    assert stray(mp3.parent) == [], f"left in the output folder after SIGKILL: {stray(mp3.parent)}"


def test_a_ctrl_c_while_the_resampler_loads_is_acted_on_once_it_has_loaded(tmp_path):
    """soxr's native module crashes the interpreter (SIGSEGV, or abort) when a Ctrl-C lands while it
    initialises, so a build stopped then left its temporary clips behind. The signal is held until
    the module has loaded, then acted on: a clean KeyboardInterrupt, soxr usable."""
    launch = ("import builtins, os, signal, sys\n"
              "import numpy as np\n"
              "real = builtins.__import__\n"
              "def interrupting(name, *args, **kwargs):\n"
              "    if name == 'soxr' and 'soxr' not in sys.modules:\n"
              "        os.kill(os.getpid(), signal.SIGINT)  # lands as soxr starts loading\n"
              "    return real(name, *args, **kwargs)\n"
              "builtins.__import__ = interrupting\n"
              "from voiceguide.audio import resample\n"
              "try:\n"
              "    resample(np.ones(100, dtype=np.float32), 22050)\n"
              "except KeyboardInterrupt:\n"
              "    print('interrupted; soxr loaded:', hasattr(sys.modules.get('soxr'), 'resample'))\n")
    result = subprocess.run([PY, "-c", launch], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            preexec_fn=default_signals, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "interrupted; soxr loaded: True\n", result.stdout + result.stderr


# ----------------------------------------------------------------------------------------------
# 5. concurrent builds sharing one cache


VARIANTS = {
    "hip-opener": ("Hip Opener", [("Kneeling Psoas", "0:40"), ("Leaning Figure Four", "0:40")]),
    "quick-back": ("Quick Back", [("Wide Leg Bend", "0:30"), ("Quad Stretch", "0:30")]),
    "side-strength": ("Side Strength", [("Elbow Side Plank", "0:30"), ("Hurdler", "0:40")]),
    "twist-and-fold": ("Twist and Fold", [("Figure Four Twist", "0:45"), ("Wide Leg Bend", "0:25")]),
}


def _variant_routines(folder: Path) -> dict[str, Path]:
    """Four routines made from the seed: different titles, exercises and holds; they share the
    intro's targets sentence, the closing, the countdown, "Switch sides." and some exercise names."""
    data = yaml.safe_load(SEED.read_text())
    by_name = {e["name"]: e for e in data["exercises"]}
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for stem, (title, picks) in VARIANTS.items():
        doc = {"title": title, "about": data["about"], "targets": data["targets"], "closing": data["closing"],
               "exercises": [{**by_name[name], "duration": hold} for name, hold in picks]}
        paths[stem] = folder / f"{stem}.yaml"
        paths[stem].write_text(yaml.safe_dump(doc, sort_keys=False, width=1000))
    return paths


def test_four_concurrent_builds_sharing_one_cache_match_builds_run_one_at_a_time(tmp_path):
    routines = _variant_routines(tmp_path / "routines")

    def command(stem: str, out: Path) -> list[str]:
        return [*MODULE_CLI, "build", str(routines[stem]), "-q", "-o", str(out / f"{stem}.mp3")]

    # all four at once against one empty cache
    shared = tmp_path / "shared-cache"
    together = tmp_path / "together"
    procs = {stem: subprocess.Popen(command(stem, together), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, cwd=tmp_path, env=_env(tmp_path / f"tmp-{stem}", shared))
             for stem in routines}
    for stem, proc in procs.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{stem}: {err}"
    # each alone with an empty cache of its own, one after another
    alone = tmp_path / "alone"
    for stem in routines:
        result = subprocess.run(command(stem, alone), capture_output=True, text=True, timeout=300, cwd=tmp_path,
                                env=_env(tmp_path / f"tmp-alone-{stem}", tmp_path / f"cache-{stem}"), check=False)
        assert result.returncode == 0, f"{stem}: {result.stderr}"
    # one after another against a second shared cache
    in_turn = tmp_path / "in-turn"
    second = tmp_path / "second-cache"
    for stem in routines:
        result = subprocess.run(command(stem, in_turn), capture_output=True, text=True, timeout=300, cwd=tmp_path,
                                env=_env(tmp_path / f"tmp-turn-{stem}", second), check=False)
        assert result.returncode == 0, f"{stem}: {result.stderr}"
    for stem in routines:
        a, b, c = (outputs(folder / f"{stem}.mp3") for folder in (together, alone, in_turn))
        assert set(a) == set(SUFFIXES), stem
        for suffix in SUFFIXES:
            assert a[suffix] == b[suffix], f"{stem}{suffix}: concurrent build differs from its build alone"
            assert a[suffix] == c[suffix], f"{stem}{suffix}: concurrent build differs from the sequential one"
    for folder in (together, alone, in_turn):
        assert stray(folder) == []
    assert cache_problems(shared) == [] and cache_problems(second) == []
    shared_files = {p.relative_to(shared): p.read_bytes() for p in shared.rglob("*") if p.is_file()}
    second_files = {p.relative_to(second): p.read_bytes() for p in second.rglob("*") if p.is_file()}
    assert shared_files.keys() == second_files.keys()
    assert [k for k in shared_files if shared_files[k] != second_files[k]] == []


def test_a_cache_too_full_for_the_stored_mix_costs_nothing_but_the_next_build(seed, tmp_path, tmpfs):
    """Clips fit in the cache but the copy of the mix kept for rebuilds does not (the cache's disk is
    left with half the mix free once the build has planned): the build still succeeds, writes nothing
    half-done into the cache, and its output is what a roomy cache gives."""
    mix = seed.stored_mix.stat().st_size  # the copy of the mix this build keeps for rebuilds
    disk = tmpfs(tmp_path / "disk", ROOMY)
    cache = copy_cache(seed, disk / "cache", stored_mix=False)
    mp3 = tmp_path / "out" / "s.mp3"
    code, err = build_held(["build", str(SEED), "-o", str(mp3)], _env(tmp_path, cache), "planned",
                           lambda: leave_free(disk, mix // 2), tmp_path)
    assert code == 0, err
    no_traceback(err)
    assert outputs(mp3) == seed.cold
    assert list(cache.glob("sessions/*.mp3")) == []
    assert [p.name for p in cache.rglob(".*")] == []


def test_a_worker_that_dies_while_mixing_is_a_clean_error(tmp_path):
    """A measuring child killed outright (as the out-of-memory killer would): exit 2 with a message
    naming what failed, no traceback, nothing written."""
    launch = ("import os, signal, sys\n"
              "import voiceguide.mix as m\n"
              "def die(self, *a, **k):\n"
              "    os.kill(os.getpid(), signal.SIGKILL)\n"
              "m.Measurement._measure_plain = die\n"
              "from voiceguide.cli import main\n"
              "main(sys.argv[1:])\n")
    routine = tmp_path / "r.yaml"
    routine.write_text("title: Short\nexercises:\n  - name: Reach Up\n    duration: 40\n")
    mp3 = tmp_path / "out" / "s.mp3"
    result = subprocess.run([PY, "-c", launch, "build", str(routine), "-o", str(mp3), "-j", "2"], capture_output=True,
                            text=True, timeout=300, cwd=tmp_path, env=_env(tmp_path, tmp_path / "c"), check=False)
    assert result.returncode == 2, result.stderr
    no_traceback(result.stderr)
    assert "measuring the mix" in result.stderr and "crashed (signal 9)" in result.stderr
    assert not mp3.parent.exists() or names(mp3.parent) == []
