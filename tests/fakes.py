"""Fake speech engines for fault injection: every line a tone; the TARGET line misbehaves as asked.

The fault tests run the real command line in its own process through a launcher that imports this
module (found through PYTHONPATH) and calls `register_all()`, so `--engine fake-<mode>` works as any
engine would. `FAKE_TARGET` names the line to misbehave on; `FAKE_LOG` is a file in which every call
is logged (process id, text), so a test can count the attempts and find the processes that spoke.
"""
from __future__ import annotations

import os
import tempfile
import time
import wave
import zlib
from pathlib import Path

import numpy as np

from voiceguide import forked
from voiceguide.audio import Audio
from voiceguide.engines.base import Engine, VoiceInfo, read_driver_wav
from voiceguide.errors import EngineError
from voiceguide.voice import register_engine

TARGET = os.environ.get("FAKE_TARGET", "Switch sides.")
LOG = os.environ.get("FAKE_LOG", "")
RATE = 22050
MODES = ("hang", "garbage", "truncated", "empty", "missing", "silent", "error", "crash")
"""What the TARGET line can do instead of being spoken."""


def _attempt(text: str) -> int:
    """Log this call; return how many times this text has been asked for, this time included."""
    if not LOG:
        return 1
    try:
        lines = Path(LOG).read_text().splitlines()
    except FileNotFoundError:
        lines = []
    before = sum(1 for line in lines if line.split("\t", 1)[1] == text)
    with open(LOG, "a") as f:
        f.write(f"{os.getpid()}\t{text}\n")
    return before + 1


def _tone(text: str, rate_wpm: int, silent: bool = False) -> np.ndarray:
    """16-bit samples as long as the words take at rate_wpm: a tone whose pitch depends on the text."""
    n = int(max(1, len(text.split())) * 60 / rate_wpm * RATE)
    x = 0.3 * np.sin(2 * np.pi * (200 + zlib.crc32(text.encode()) % 300) * np.arange(n) / RATE)
    return (np.zeros(n) if silent else x * 32767).astype("<i2")


def _write(path: Path, frames: bytes) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(frames)


def _through_a_file(mode: str, text: str, rate_wpm: int) -> Audio:
    """A driver that speaks into a WAV file (as pyttsx3 does on macOS and Windows) and gets it wrong."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clip.wav"
        if mode == "garbage":
            path.write_bytes(b"this is not a WAV file\n" * 64)
        elif mode == "truncated":  # the header promises every frame; only half of the data is there
            _write(path, _tone(text, rate_wpm).tobytes())
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 2])
        elif mode == "empty":
            path.write_bytes(b"")
        return read_driver_wav(path, "fake", text)


def _fault(mode: str, text: str, rate_wpm: int) -> Audio:
    if mode == "hang":
        time.sleep(3600)
    elif mode in ("garbage", "truncated", "empty", "missing"):
        return _through_a_file(mode, text, rate_wpm)
    elif mode == "silent":
        return Audio(_tone(text, rate_wpm, silent=True), RATE)
    elif mode == "error":
        raise EngineError(f'fake: the audio device was busy while speaking "{text}"')
    elif mode == "crash":
        raise RuntimeError("fake driver crashed")
    raise AssertionError(mode)


class Fake(Engine):
    """Speaks every line as a tone; the TARGET line misbehaves as `mode` says, always or only the first time."""

    name = "fake"

    def __init__(self, mode: str = "good", first_only: bool = False) -> None:
        self.mode = mode
        self.first_only = first_only

    def version(self) -> str:
        return "fake 1.0"

    def voices(self) -> list[VoiceInfo]:
        return [VoiceInfo("fake-voice", "Fake Voice", "en")]

    def default_voice(self) -> str:
        return "fake-voice"

    def synthesize(self, text: str, voice: str, rate: int) -> Audio:
        attempt = _attempt(text)
        if self.mode != "good" and text == TARGET and (attempt == 1 or not self.first_only):
            return _fault(self.mode, text, rate)
        return Audio(_tone(text, rate), RATE)


class ForkedFake(Fake):
    """The same, each clip spoken in a forked child, as the default engine does on Linux."""

    def synthesize_many(self, jobs, workers, on_spoken, timeout_s):
        tasks = [lambda job=job: self.synthesize(job.text, job.voice, job.rate) for job in jobs]
        forked.run_forked(tasks, workers, timeout_s, on_spoken,
                          lambda i: f'the speech engine, speaking "{jobs[i].text}"')


def register_all() -> None:
    """fake-good; fake-<mode> (always), fake-flaky-<mode> (the first time only), fake-forked-<mode>."""
    register_engine("fake-good", Fake)
    for mode in MODES:
        register_engine(f"fake-{mode}", lambda mode=mode: Fake(mode))
        register_engine(f"fake-flaky-{mode}", lambda mode=mode: Fake(mode, first_only=True))
        register_engine(f"fake-forked-{mode}", lambda mode=mode: ForkedFake(mode))
