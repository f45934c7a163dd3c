"""Shared fixtures: the seed routine, a fake speech measure, one real build of the seed session, and
builds held at a named stage (so a test acts at a known point of a build, never at a guessed time)."""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from voiceguide.cli import main
from voiceguide.engines.base import Utterance
from voiceguide.routine import Routine, load_routine

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "routines" / "lower-back-relief.yaml"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session", autouse=True)
def _private_clip_cache(tmp_path_factory):
    """Tests never read or fill the user's own clip cache (~/.cache/voiceguide)."""
    import os

    previous = os.environ.get("VOICEGUIDE_CACHE_DIR")
    os.environ["VOICEGUIDE_CACHE_DIR"] = str(tmp_path_factory.mktemp("default-clip-cache"))
    yield
    if previous is None:
        os.environ.pop("VOICEGUIDE_CACHE_DIR", None)
    else:
        os.environ["VOICEGUIDE_CACHE_DIR"] = previous


def fake_measure(u: Utterance) -> int:
    """A stand-in for real speech: 350 ms a word at the session rate, plus 150 ms."""
    return len(u.text.split()) * 350 * 100 // u.rate_percent + 150


@pytest.fixture(scope="session")
def seed() -> Routine:
    return load_routine(SEED)


@dataclass(frozen=True)
class BuiltSession:
    """A session the program really built, decoded again by an independent decoder (libsndfile)."""

    mp3: Path
    plan: dict
    samples: np.ndarray
    rate: int
    cache_dir: Path
    """The cache the build filled: every clip of the seed, its rate record and its stored mix."""
    stderr: str


def build_seed(mp3: Path, cache: Path, *args: str) -> subprocess.CompletedProcess:
    """`voiceguide build` of the seed routine into `mp3` with its own clip cache, as a user runs it."""
    env = {**os.environ, "VOICEGUIDE_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-m", "voiceguide", "build", str(SEED), "-o", str(mp3), *args],
                          capture_output=True, text=True, env=env, cwd=mp3.parent, timeout=300, check=False)


@pytest.fixture(scope="session")
def seed_session(tmp_path_factory) -> BuiltSession:
    """The seed session built through the command line into an empty cache (shared by the whole suite:
    one cold build of the seed is the reference for every test that rebuilds it)."""
    import soundfile

    folder = tmp_path_factory.mktemp("session")
    cache_dir = tmp_path_factory.mktemp("clip-cache")
    mp3 = folder / "lower-back-relief.mp3"
    result = build_seed(mp3, cache_dir)
    assert result.returncode == 0, result.stderr
    samples, rate = soundfile.read(str(mp3), dtype="float32", always_2d=False)
    plan = json.loads(mp3.with_suffix(".json").read_text())
    return BuiltSession(mp3, plan, samples, rate, cache_dir, result.stderr)


@dataclass(frozen=True)
class Rebuild:
    mp3: Path
    stderr: str


@pytest.fixture(scope="session")
def seed_rebuilt(seed_session, tmp_path_factory) -> Rebuild:
    """The same build again from the cache the first one filled: an unchanged rebuild."""
    mp3 = tmp_path_factory.mktemp("rebuilt") / "lower-back-relief.mp3"
    result = build_seed(mp3, seed_session.cache_dir)
    assert result.returncode == 0, result.stderr
    return Rebuild(mp3, result.stderr)


PAUSE_ENV = "VOICEGUIDE_TEST_PAUSE_AT"
"""`voiceguide.stages`: a build given this stops at the named stage and waits for a signal."""
PAUSED = "voiceguide: paused at "


def default_signals() -> None:
    """In a child before exec: Ctrl-C and SIGTERM as a terminal delivers them (a test runner started in
    the background may have left SIGINT ignored, and Python would then keep ignoring it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def go_on(proc: subprocess.Popen) -> None:
    """Let a build held at a stage go on (SIGUSR1)."""
    proc.send_signal(signal.SIGUSR1)


def wait_for_stage(proc: subprocess.Popen, stage: str, limit_s: float = 300.0) -> str:
    """Read a build's stderr (a bytes pipe) until it says it is paused at `stage`; return what it wrote.

    Fails if the build ends without reaching the stage. `limit_s` only stops a hung test: the build
    waits at the stage for as long as it takes the test to act.
    """
    fd = proc.stderr.fileno()  # read unbuffered: what the build wrote after the line stays in the pipe
    seen = b""
    line = f"{PAUSED}{stage}\n".encode()
    deadline = time.monotonic() + limit_s
    while line not in seen:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"not paused at {stage!r} after {limit_s:g} s (hung?); stderr: {seen.decode()}")
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            raise AssertionError(f"the build ended (exit {proc.wait()}) without reaching {stage!r}; "
                                 f"stderr: {seen.decode()}")
        seen += chunk
    return seen.decode()


def finish(proc: subprocess.Popen, limit_s: float = 300.0) -> tuple[int, str]:
    """Wait for a build to end; its exit status and the rest of its stderr (what it wrote before it
    ended; worker children it left behind may hold the pipe open, so it is not read to its end)."""
    code = proc.wait(timeout=limit_s)
    fd = proc.stderr.fileno()
    os.set_blocking(fd, False)
    rest = b""
    try:
        while chunk := os.read(fd, 1 << 16):
            rest += chunk
    except BlockingIOError:
        pass
    proc.stderr.close()
    return code, rest.decode()


def refused(args: list[str], capsys) -> str:
    """Runs the CLI in-process on arguments it must refuse as a user's error; gives what it said."""
    with pytest.raises(SystemExit) as info:
        main(args)
    err = capsys.readouterr().err
    assert info.value.code == 2 and "Traceback" not in err, err
    return err
