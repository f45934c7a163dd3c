"""Speak every line of a session once: synthesise (or take from the cache), trim, resample, measure."""
from __future__ import annotations

import io
import json
import os
import warnings
import wave
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .cache import ClipCache, cache_errors, clip_key, is_complete_wav, write_atomic
from .errors import EngineError
from .interrupts import deferred
from .memory import release_free_memory
from .plan import Utterance
from .stages import reached
from .voice import Engine, SpeechJob, resolve_voice, synthesize_all

SAMPLE_RATE = 44100
_SILENCE_DBFS = -50.0
_EDGE_MS = 10
_FADE_MS = 5
RATE_CHECK_MIN_WORDS = 6
"""Shorter lines have no meaningful words-per-minute ("Three.") and are left at the calibrated rate."""
RATE_TOLERANCE = 0.08
_RECENT_BYTES = 48 * 1024 * 1024
"""Decoded clips kept in memory (a six-minute session's all fit, ~30 MB); past that the least
recently used are read again from the cache when the mix needs them, so memory stays bounded."""


@dataclass(frozen=True)
class VoiceSettings:
    """How the session sounds: which engine and voice, how fast."""

    engine: str = "pyttsx3"
    voice: str | None = None
    """Voice id or a unique part of its name; None for the engine's default."""
    rate_wpm: int = 150
    """Words per minute as measured on the clips; calm guidance is about 130-160."""


# Lines of the kind a session speaks (from the seed routine), used only to measure an engine's real
# speaking rate: instructions and tips of several lengths, with and without commas.
CALIBRATION_TEXT = (
    "Stand with feet wide and toes pointing forward.",
    "Raise the arm opposite your front leg overhead while the other hand rests on your hip.",
    "Keep the core engaged so the stretch stays supportive, not saggy.",
    "Sit with legs extended and hands planted behind you for support.",
    "Hold the foot, ankle, or shin while breathing into the stretch, then switch sides.",
    "Keep your hips, knees, and ankles in one line.",
    "Lie on your back with knees bent and feet on the floor.",
    "Let gravity do the work; no need to force the rotation.",
)


Progress = Callable[[int], None]


class SpokenClips:
    """The clips of one build: each utterance's clip (by cache key), its length, and the most
    recently used samples; what the plan measures is what the mix plays."""

    def __init__(self, engine: Engine, settings: VoiceSettings, cache: ClipCache | None = None,
                 workers: int | None = None) -> None:
        self.engine = engine
        self.workers = workers or os.cpu_count() or 1
        self.settings = settings
        self.voice = resolve_voice(engine, settings.voice)
        self.cache = cache or ClipCache()
        self.cache.check_writable()
        self.cache.remove_stale_temp_files()
        self._version = engine.version()
        self._keys: dict[Utterance, str] = {}  # the clip (cache key) each utterance plays
        self._lengths: dict[str, int] = {}  # samples in every clip this build has seen
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()  # the most recently used clips
        self._recent_bytes = 0
        self._evicted = 0
        self._native: int | None = None
        self.synthesized = 0
        self.cached = 0

    def rate_for(self, utterance: Utterance) -> int:
        """The engine's own rate setting that makes this utterance come out at the asked words per minute."""
        if self._native is None:
            self._native = self._calibrate(self.settings.rate_wpm)
        return max(20, round(self._native * utterance.rate_percent / 100))

    def _calibrate(self, wpm: int) -> int:
        """Find the engine setting whose speech measures `wpm` words a minute; remembered in the cache.

        Engines' own rate numbers are not what a listener measures (eSpeak at "150" says about 170
        words a minute; Piper has a length scale), so speak a few sentences, measure, and correct.
        """
        key = clip_key(self.engine.name, self._version, self.voice, wpm, "\n".join(CALIBRATION_TEXT))
        record = self.cache.root / "rates" / f"{key}.json"
        try:
            return int(json.loads(record.read_text())["native"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        words = sum(len(t.split()) for t in CALIBRATION_TEXT)
        hint = getattr(self.engine, "rate_hint", None)  # a good first guess saves a round
        native = max(20, int(hint(wpm))) if hint else wpm
        wavs = [self.cache.temp_path(f"{key}-{i}") for i in range(len(CALIBRATION_TEXT))]
        try:
            for _ in range(4):
                lengths: dict[int, int] = {}
                with cache_errors(self.cache.root):
                    self._speak([SpeechJob(t, self.voice, native, w) for t, w in zip(CALIBRATION_TEXT, wavs)],
                                lambda i, raw, rate: lengths.__setitem__(i, len(prepare_clip(raw, rate))))
                total = sum(lengths.values())
                measured = words / (total / SAMPLE_RATE / 60)
                if abs(measured - wpm) <= 0.02 * wpm:
                    break
                native = max(20, round(native * wpm / measured))
        finally:
            for wav in wavs:
                wav.unlink(missing_ok=True)
        with cache_errors(self.cache.root):
            write_atomic(record, json.dumps({"wpm": wpm, "native": native, "measured": round(measured, 1)}).encode())
        return native

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
        for attempt in range(3):
            self._ensure_cached(sorted({(u.text, rates[u]) for u in todo}), todo if attempt == 0 else [], tick)
            again = []
            for u in todo:
                length, key = self._fetch(u.text, rates[u])
                corrected = self._corrected_rate(u, length, rates[u]) if attempt < 2 else None
                if corrected is None:
                    self._keys[u] = key
                else:
                    rates[u] = corrected
                    again.append(u)
            todo = again

    def _corrected_rate(self, u: Utterance, length: int, rate: int) -> int | None:
        """The engine rate that brings this sentence to the asked words per minute, or None when it is close."""
        words = len(u.text.split())
        if words < RATE_CHECK_MIN_WORDS:
            return None
        target = self.settings.rate_wpm * u.rate_percent / 100
        measured = words / (length / SAMPLE_RATE / 60)
        if abs(measured - target) <= RATE_TOLERANCE * target:
            return None
        return max(20, round(rate * target / measured))

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
        if key in self._recent:
            self._recent.move_to_end(key)
            return self._recent[key]
        samples = prepare_clip(*read_wav(self.cache.path(key)))
        self._keep(key, samples)
        return samples

    def _keep(self, key: str, samples: np.ndarray) -> None:
        self._lengths[key] = len(samples)
        if key in self._recent:
            return
        self._recent[key] = samples
        self._recent_bytes += samples.nbytes
        while self._recent_bytes > _RECENT_BYTES and len(self._recent) > 1:
            freed = self._recent.popitem(last=False)[1].nbytes
            self._recent_bytes -= freed
            self._evicted += freed
        if self._evicted > _RECENT_BYTES // 4:  # hand evicted clips' memory back now and then,
            self._evicted = 0  # or the heap keeps growing with the number of clips seen
            release_free_memory()

    def _fetch(self, text: str, rate: int) -> tuple[int, str]:
        """The length and key of the clip of `text` at `rate` (spoken and prepared if need be)."""
        key = clip_key(self.engine.name, self._version, self.voice, rate, text)
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
            key = clip_key(self.engine.name, self._version, self.voice, rate, text)
            if self.cache.get(key) is None:
                missing.append((text, rate, key))
            else:
                self.cached += 1
                tick(per_text.get((text, rate), 0))
        if not missing:
            return
        jobs = [SpeechJob(text, self.voice, rate, self.cache.temp_path(key)) for text, rate, key in missing]

        def store(i: int, raw: np.ndarray, raw_rate: int) -> None:
            text, rate, key = missing[i]
            self.cache.adopt(key, jobs[i].wav_path)
            self._keep(key, prepare_clip(raw, raw_rate))  # while the workers speak the next ones
            self.synthesized += 1
            tick(per_text.get((text, rate), 0))

        try:
            with cache_errors(self.cache.root):  # the engine writes into the cache folder
                self._speak(jobs, store)
        finally:
            for job in jobs:
                job.wav_path.unlink(missing_ok=True)

    def _speak(self, jobs: list[SpeechJob],
               on_ready: Callable[[int, np.ndarray, int], None] = lambda i, raw, rate: None) -> None:
        """Speak the jobs; a clip that fails or comes back empty, truncated or unreadable is spoken once
        more, then reported with its line of text."""
        pending = list(range(len(jobs)))
        for attempt in range(2):
            done: set[int] = set()
            bad: dict[int, str] = {}

            def check(k: int) -> None:
                i = pending[k]
                problem, raw, rate = _clip_problem(jobs[i].wav_path)
                if problem:
                    bad[i] = problem
                else:
                    done.add(i)
                    on_ready(i, raw, rate)
                    reached("clip spoken")

            try:
                synthesize_all(self.engine, [jobs[i] for i in pending], self.workers, check)
            except EngineError:
                if attempt:
                    raise
            pending = [i for i in pending if i not in done]
            if not pending:
                return
            if attempt:
                i = pending[0]
                raise EngineError(f'{self.engine.name} returned an unusable clip twice '
                                  f'({bad.get(i, "no clip")}) for "{jobs[i].text}"')


def _clip_problem(wav: Path) -> tuple[str | None, np.ndarray, int]:
    """Why an engine's WAV cannot be used (or None when it can), with its samples and rate."""
    nothing = np.zeros(0, dtype=np.float32)
    if not wav.exists():
        return "no file was written", nothing, 0
    if wav.stat().st_size == 0:
        return "the file is empty", nothing, 0
    if not is_complete_wav(wav):
        return "not a complete PCM WAV", nothing, 0
    try:
        samples, rate = read_wav(wav)
    except Exception:  # noqa: BLE001 - a header that parses over data that does not
        return "unreadable audio", nothing, 0
    if not samples.size or float(np.abs(samples).max()) < 10 ** (_SILENCE_DBFS / 20):
        return "only silence", nothing, 0
    return None, samples, rate


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] and the sample rate of a PCM WAV (no ffmpeg needed)."""
    data = Path(path).read_bytes()
    try:  # 16-bit mono (what eSpeak and Piper write) straight from the stdlib's parser
        with wave.open(io.BytesIO(data), "rb") as w:
            if w.getnchannels() == 1 and w.getsampwidth() == 2:
                frames = w.readframes(w.getnframes())
                pcm = np.frombuffer(frames, dtype="<i2", count=len(frames) // 2)
                return pcm.astype(np.float32) / np.float32(32768.0), w.getframerate()
    except (wave.Error, EOFError):
        pass
    return _read_wav_pydub(data)


def _read_wav_pydub(data: bytes) -> tuple[np.ndarray, int]:
    with warnings.catch_warnings():
        # pydub warns that ffmpeg is absent (WAV needs none) and, on 3.11-3.12, that audioop is deprecated
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        from pydub import AudioSegment
    # AudioSegment(data=...) parses the WAV itself; from_wav() falls back to ffmpeg after a bare
    # `except:` that also swallows Ctrl-C (seen: an interrupted build ended in an ffprobe traceback)
    segment = AudioSegment(data=data).set_channels(1)
    samples = np.array(segment.get_array_of_samples(), dtype=np.float32)
    return samples / float(1 << (8 * segment.sample_width - 1)), segment.frame_rate


def resample(samples: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    if rate == target:
        return samples.astype(np.float32)
    with deferred():  # a Ctrl-C while soxr's native module loads crashes Python (SIGSEGV, or abort)
        import soxr

    return soxr.resample(samples.astype(np.float32), rate, target, quality="HQ").astype(np.float32)


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


def samples_to_ms(n: int) -> int:
    """Whole milliseconds that cover n samples."""
    return -(-n * 1000 // SAMPLE_RATE)
