"""Find the engine rate setting that makes speech come out at the asked words per minute.

Engines' own rate numbers are not what a listener measures (eSpeak at "150" says noticeably more
words a minute; Piper has a length scale), so a few sentences are spoken, measured, and the
setting corrected; the result is remembered in the cache.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from functools import partial

from .atomic import write_atomic
from .audio import SAMPLE_RATE, Audio
from .cache import ClipCache, cache_errors, clip_key
from .engines.base import Engine, SpeechJob
from .language import calibration_text

_ROUNDS = 4
_CLOSE_ENOUGH = 0.02
MIN_RATE = 20

log = logging.getLogger(__name__)

Speak = Callable[[Sequence[SpeechJob], Callable[[int, Audio], None]], None]
"""Speaks jobs, calling back with each one's audio (with the build's retries and checks)."""
Length = Callable[[Audio], int]
"""Samples a clip lasts once prepared for the mix (silence trimmed, at the session rate)."""


def words_per_minute(words: int, samples: int, rate: int = SAMPLE_RATE) -> float:
    return words / (samples / rate / 60)


def _note(lengths: dict[int, int], length: Length, i: int, audio: Audio) -> None:
    lengths[i] = length(audio)


class RateCalibration:
    """The engine setting for a voice and a words-per-minute target, measured once and remembered.

    Measured on lines of the kind a session speaks, in the session's language (its phrase table's
    `calibration:` sentences, instructions and tips of several lengths, with and without commas), so that
    words per minute mean the same in every language.
    """

    def __init__(self, engine: Engine, engine_version: str, voice: str, cache: ClipCache,
                 language: str = "en") -> None:
        self._engine = engine
        self._version = engine_version
        self._voice = voice
        self._cache = cache
        self._text = calibration_text(language)

    def native_rate(self, wpm: int, speak: Speak, length: Length) -> int:
        """The engine's own rate setting whose speech measures `wpm` words a minute."""
        key = clip_key(self._engine.name, self._version, self._voice, wpm, "\n".join(self._text))
        record = self._cache.root / "rates" / f"{key}.json"
        try:
            native = int(json.loads(record.read_text())["native"])
            log.debug("%s %s: rate setting %d for %d words a minute, as measured before", self._engine.name,
                      self._voice, native, wpm)
            return native
        except (OSError, ValueError, KeyError, TypeError):
            pass
        words = sum(len(t.split()) for t in self._text)
        native = max(MIN_RATE, int(self._engine.rate_hint(wpm)))  # a good first guess saves a round
        measured = float(wpm)
        for _ in range(_ROUNDS):
            lengths: dict[int, int] = {}
            speak([SpeechJob(t, self._voice, native) for t in self._text], partial(_note, lengths, length))
            measured = words_per_minute(words, sum(lengths.values()))
            log.info("calibrating %s %s: rate setting %d speaks %.1f words a minute (asked: %d)",
                     self._engine.name, self._voice, native, measured, wpm)
            if abs(measured - wpm) <= _CLOSE_ENOUGH * wpm:
                break
            native = max(MIN_RATE, round(native * wpm / measured))
        with cache_errors(self._cache.root):
            write_atomic(record, json.dumps({"wpm": wpm, "native": native, "measured": round(measured, 1)}).encode())
        return native
