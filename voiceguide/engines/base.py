"""What every speech engine is and returns; the build and the engines meet here and nowhere else.

An engine turns one line of text into audio (samples and their rate). The optional parts have
defaults: a first guess at its rate setting, speaking many lines at once, and voices given as
something other than an id (a Piper voice file). Engines register by name (`voiceguide.voice`).
"""
from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..audio import Audio, is_complete_wav, read_wav_bytes
from ..errors import EngineError


@dataclass(frozen=True)
class Utterance:
    """Exactly what a speech engine is asked to say (pronunciations applied)."""

    text: str
    rate_percent: int = 100
    """Speaking rate relative to the session's rate; exercise names are slower."""


@dataclass(frozen=True)
class VoiceInfo:
    """A voice an engine offers, as `voiceguide voices` lists it."""

    id: str
    name: str
    language: str = ""


@dataclass(frozen=True)
class SpeechJob:
    """One line to speak: the text, the voice id, and the engine's own rate setting."""

    text: str
    voice: str
    rate: int


OnSpoken = Callable[[int, Audio], None]
"""Called with a job's index and its audio as each job is spoken."""


class Engine(ABC):
    """A text-to-speech engine."""

    name: ClassVar[str]

    @abstractmethod
    def version(self) -> str:
        """Engine and library versions; part of the clip cache key, so an upgrade speaks again."""

    @abstractmethod
    def voices(self) -> list[VoiceInfo]:
        """Every voice this engine can speak with here."""

    @abstractmethod
    def default_voice(self) -> str:
        """The voice id used when the user names none."""

    @abstractmethod
    def synthesize(self, text: str, voice: str, rate: int) -> Audio:
        """`text` spoken by `voice` at the engine's rate setting `rate`."""

    def rate_hint(self, wpm: int) -> int:
        """The rate setting to try first for `wpm` measured words a minute (calibration then measures)."""
        return wpm

    def voice_language(self, voice: str) -> str:
        """The language a voice id speaks ("en-us"), or "" when the engine does not say."""
        return next((v.language for v in self.voices() if v.id == voice), "")

    def resolve_voice(self, query: str) -> str | None:
        """A voice id for a query that is not a listed voice's id or name (e.g. a model file), or None."""
        return None

    def synthesize_many(self, jobs: Sequence[SpeechJob], workers: int, on_spoken: OnSpoken,
                        timeout_s: float) -> None:
        """Speak every job, calling `on_spoken(i, audio)` as each is done; by default one after another.

        A job that takes longer than `timeout_s` or fails in any way raises EngineError naming its line.
        """
        for i, job in enumerate(jobs):
            on_spoken(i, speak_with_timeout(self, job, timeout_s))


def speak_with_timeout(engine: Engine, job: SpeechJob, timeout_s: float) -> Audio:
    """One job through `engine.synthesize`, stopped after `timeout_s`; any failure names the line."""
    try:
        return with_timeout(lambda: engine.synthesize(job.text, job.voice, job.rate), timeout_s,
                            f'{engine.name} did not finish speaking within {timeout_s:g} s: "{job.text}"')
    except EngineError:
        raise
    except Exception as exc:  # noqa: BLE001 - an engine's own failure, whatever its type: name the line
        raise EngineError(f'{engine.name} failed while speaking "{job.text}": {exc or type(exc).__name__}') from None


def with_timeout(call: Callable[[], Audio], timeout_s: float, message: str) -> Audio:
    """Run `call` in a daemon thread so a hung engine cannot hold the build (or its exit) forever."""
    outcome: list[Audio | BaseException] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout_s)
    if not outcome:
        raise EngineError(message)
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def read_driver_wav(path: Path, engine_name: str, text: str) -> Audio:
    """The audio of a WAV file a speech driver wrote (engines that can only speak into files), checked:
    a missing, empty, cut-short or unreadable file is an EngineError naming the line (and retried)."""
    problem = None
    if not path.exists():
        problem = "no file was written"
    elif path.stat().st_size == 0:
        problem = "the file is empty"
    elif not is_complete_wav(path):
        problem = "not a complete PCM WAV"
    if problem is None:
        try:
            got = read_wav_bytes(path.read_bytes())
        except Exception:  # noqa: BLE001 - a header that parses over data that does not
            problem = "unreadable audio"
        else:
            if isinstance(got, Audio):
                return got
            samples, rate = got  # another sample format: brought to 16-bit mono
            return Audio(np.clip(np.round(samples * 32768.0), -32768, 32767).astype("<i2"), rate)
    raise EngineError(f'{engine_name} returned an unusable clip ({problem}) for "{text}"')
