"""Speak every line of a session once: synthesise (or take from the cache), trim, resample, measure."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from .audio import SAMPLE_RATE, Audio, read_wav, resample, samples_to_ms
from .cache import ClipCache, clip_key
from .calibration import MIN_RATE, RateCalibration, words_per_minute
from .clip_memory import RecentClips
from .engines.base import Engine, SpeechJob, Utterance
from .errors import EngineError
from .options import default
from .stages import reached
from .voice import resolve_voice, speak_all

_SILENCE_DBFS = -50.0
_EDGE_MS = 10
_FADE_MS = 5
RATE_CHECK_MIN_WORDS = 6
"""Shorter lines have no meaningful words-per-minute ("Three.") and are left at the calibrated rate."""
RATE_TOLERANCE = 0.08
_RATE_ROUNDS = 3

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VoiceSettings:
    """How the session sounds: which engine and voice, how fast."""

    engine: str = default("engine")
    voice: str | None = None
    """Voice id or a unique part of its name; None for the engine's default."""
    rate_wpm: int = default("rate")
    """Words per minute as measured on the clips; calm guidance is about 130-160."""
    language: str = "en"
    """The session's language (BCP 47): with no voice asked for, a voice that speaks it."""


Progress = Callable[[int], None]
OnReady = Callable[[int, Audio], None]


def speak_checked(engine: Engine, jobs: Sequence[SpeechJob], workers: int, on_ready: OnReady) -> None:
    """Speak the jobs; a clip that fails or comes back empty or silent is spoken once more, then
    reported with its line of text. `on_ready(i, audio)` gets each good clip as it arrives."""
    pending = list(range(len(jobs)))
    for attempt in range(2):
        done: set[int] = set()
        bad: dict[int, str] = {}
        try:
            speak_all(engine, [jobs[i] for i in pending], workers, partial(_check, pending, done, bad, on_ready))
        except EngineError:
            if attempt:
                raise
        pending = [i for i in pending if i not in done]
        if not pending:
            return
        if attempt:
            i = pending[0]
            raise EngineError(f'{engine.name} returned an unusable clip twice '
                              f'({bad.get(i, "no clip")}) for "{jobs[i].text}"')


def _check(pending: list[int], done: set[int], bad: dict[int, str], on_ready: OnReady, k: int,
           audio: Audio) -> None:
    """One spoken clip of a round (`k`-th of the jobs still pending): good ones go on, others are noted."""
    i = pending[k]
    problem = audio_problem(audio)
    if problem:
        bad[i] = problem
    else:
        done.add(i)
        on_ready(i, audio)
        reached("clip spoken")


def audio_problem(audio: Audio) -> str | None:
    """Why an engine's audio cannot be used, or None when it can."""
    if audio.rate <= 0:
        return "no sample rate"
    if not len(audio.pcm16):
        return "no audio"
    if int(np.abs(audio.pcm16.astype(np.int32)).max()) < 32768 * 10 ** (_SILENCE_DBFS / 20):
        return "only silence"
    return None


class SpokenClips:
    """The clips of one build: each utterance's clip (by cache key) and its length; what the plan
    measures is what the mix plays."""

    def __init__(self, engine: Engine, settings: VoiceSettings, cache: ClipCache | None = None,
                 workers: int = 1) -> None:
        self.engine = engine
        self.workers = workers
        self.settings = settings
        self.voice = resolve_voice(engine, settings.voice, settings.language)
        self.cache = cache or ClipCache()
        self._version = engine.version()
        self._calibration = RateCalibration(engine, self._version, self.voice, self.cache, settings.language)
        self._keys: dict[Utterance, str] = {}  # the clip (cache key) each utterance plays
        self._lengths: dict[str, int] = {}  # samples in every clip this build has seen
        self._recent = RecentClips()
        self._native: int | None = None
        self.synthesized = 0
        self.cached = 0

    def open(self) -> None:
        """Check the cache can take new clips and clear what killed builds left in it."""
        self.cache.check_writable()
        self.cache.remove_stale_temp_files()

    def rate_for(self, utterance: Utterance) -> int:
        """The engine's own rate setting that makes this utterance come out at the asked words per minute."""
        if self._native is None:
            self._native = self._calibration.native_rate(
                self.settings.rate_wpm, lambda jobs, on_ready: speak_checked(self.engine, jobs, self.workers, on_ready),
                lambda audio: len(prepare_clip(audio.to_float(), audio.rate)))
        return max(MIN_RATE, round(self._native * utterance.rate_percent / 100))

    def prepare(self, utterances: Iterable[Utterance], progress: Progress | None = None) -> None:
        """Make sure every utterance has a clip; `progress(n)` is called as clips are spoken or found.

        All missing clips are spoken at once (in parallel where the engine can); a sentence that comes
        out more than 8 % off the asked words per minute is spoken again at a corrected engine rate
        (texts differ: commas pause, long words take longer), at most twice.
        """
        tick = progress or (lambda n: None)
        todo = []
        for u in dict.fromkeys(utterances):
            if u in self._keys:
                tick(1)
            else:
                todo.append(u)
        rates = {u: self.rate_for(u) for u in todo}
        for attempt in range(_RATE_ROUNDS):
            self._ensure_cached(sorted({(u.text, rates[u]) for u in todo}), todo if attempt == 0 else [], tick)
            again = []
            for u in todo:
                length, key = self._fetch(u.text, rates[u])
                corrected = self._corrected_rate(u, length, rates[u]) if attempt < _RATE_ROUNDS - 1 else None
                if corrected is None:
                    self._keys[u] = key
                else:
                    rates[u] = corrected
                    again.append(u)
            todo = again

    def uncached(self, utterances: Iterable[Utterance]) -> list[Utterance]:
        """The utterances whose clips (at their first rate) are not in the cache yet."""
        return [u for u in dict.fromkeys(utterances)
                if u not in self._keys and not self.cache.path(self._key(u.text, self.rate_for(u))).exists()]

    def _corrected_rate(self, u: Utterance, length: int, rate: int) -> int | None:
        """The engine rate that brings this sentence to the asked words per minute, or None when it is close."""
        words = len(u.text.split())
        if words < RATE_CHECK_MIN_WORDS:
            return None
        target = self.settings.rate_wpm * u.rate_percent / 100
        measured = words_per_minute(words, length)
        if abs(measured - target) <= RATE_TOLERANCE * target:
            return None
        corrected = max(MIN_RATE, round(rate * target / measured))
        log.debug('"%s" came out at %.0f words a minute (asked %.0f): spoken again at rate setting %d',
                  u.text, measured, target, corrected)
        return corrected

    def key_of(self, utterance: Utterance) -> str:
        """The cache key of the clip this utterance plays (its WAV's name)."""
        return self._keys[utterance]

    def measure(self, utterance: Utterance) -> int:
        """Length of the utterance's clip in milliseconds (synthesising it if needed)."""
        if utterance not in self._keys:
            self.prepare([utterance])
        return samples_to_ms(self._lengths[self._keys[utterance]])

    def clip(self, utterance: Utterance) -> np.ndarray:
        """The utterance's samples; only the most recently used clips stay in memory."""
        if utterance not in self._keys:
            self.prepare([utterance])
        key = self._keys[utterance]
        samples = self._recent.get(key)
        if samples is None:
            samples = prepare_clip(*read_wav(self.cache.path(key)))
            self._keep(key, samples)
        return samples

    def _keep(self, key: str, samples: np.ndarray) -> None:
        self._lengths[key] = len(samples)
        self._recent.keep(key, samples)

    def _key(self, text: str, rate: int) -> str:
        return clip_key(self.engine.name, self._version, self.voice, rate, text)

    def _fetch(self, text: str, rate: int) -> tuple[int, str]:
        """The length and key of the clip of `text` at `rate` (spoken and prepared if need be)."""
        key = self._key(text, rate)
        if key not in self._lengths:
            path = self.cache.get(key)
            if path is None:  # removed or damaged since it was spoken: speak it again
                self._ensure_cached([(text, rate)], [], lambda n: None)
                path = self.cache.path(key)  # (or another build stored it meanwhile)
            if key not in self._lengths:
                self._keep(key, prepare_clip(*read_wav(path)))
        if not self._lengths[key]:
            self.cache.path(key).unlink(missing_ok=True)  # never kept: the next build speaks it again
            raise EngineError(f'{self.engine.name} produced only silence for "{text}"')
        return self._lengths[key], key

    def _ensure_cached(self, wanted: list[tuple[str, int]], utterances: list[Utterance], tick: Progress) -> None:
        """Speak the (text, rate) pairs the cache lacks, all at once; ticks once per utterance."""
        per_text: dict[tuple[str, int], int] = {}
        for u in utterances:
            per_text[(u.text, self.rate_for(u))] = per_text.get((u.text, self.rate_for(u)), 0) + 1
        missing = []
        for text, rate in wanted:
            key = self._key(text, rate)
            if self.cache.get(key) is None:
                missing.append((text, rate, key))
            else:
                log.debug('from the cache: "%s" at rate setting %d', text, rate)
                self.cached += 1
                tick(per_text.get((text, rate), 0))
        if not missing:
            return
        log.info("speaking %d new clips with %s (%s), %d at a time", len(missing), self.engine.name,
                 self.voice, self.workers)

        def store(i: int, audio: Audio) -> None:
            text, rate, key = missing[i]
            self.cache.put(key, audio)
            self._keep(key, prepare_clip(audio.to_float(), audio.rate))  # while the workers speak the next ones
            self.synthesized += 1
            tick(per_text.get((text, rate), 0))

        speak_checked(self.engine, [SpeechJob(text, self.voice, rate) for text, rate, _ in missing],
                      self.workers, store)


def prepare_clip(samples: np.ndarray, rate: int) -> np.ndarray:
    """Trim the engine's leading and trailing silence, resample to the session rate, fade the edges."""
    x = resample(samples, rate)
    frame = SAMPLE_RATE * _EDGE_MS // 1000
    n = len(x) // frame
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    rms = np.sqrt(np.mean(np.square(x[: n * frame].reshape(n, frame), dtype=np.float64), axis=1))
    loud = np.flatnonzero(rms > 10 ** (_SILENCE_DBFS / 20))
    if loud.size == 0:
        return np.zeros(0, dtype=np.float32)
    start = max(0, (loud[0] - 1) * frame)
    end = min(len(x), (loud[-1] + 2) * frame)
    x = x[start:end].copy()
    fade = min(len(x) // 2, SAMPLE_RATE * _FADE_MS // 1000)
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    x[:fade] *= ramp
    x[len(x) - fade:] *= ramp[::-1]
    return x
