"""Speak every line of a session once: synthesise (or take from the cache), trim, resample, measure."""
from __future__ import annotations

import json
import tempfile
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from math import gcd
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .cache import ClipCache, clip_key, write_atomic
from .errors import EngineError
from .plan import Utterance
from .voice import Engine, resolve_voice

SAMPLE_RATE = 44100
_SILENCE_DBFS = -50.0
_EDGE_MS = 10
_FADE_MS = 5
RATE_CHECK_MIN_WORDS = 6
"""Shorter lines have no meaningful words-per-minute ("Three.") and are left at the calibrated rate."""
RATE_TOLERANCE = 0.08
_RECENT_BYTES = 128 * 1024 * 1024
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
    """The clips of one build, keyed by utterance; what the plan measures is what the mix plays."""

    def __init__(self, engine: Engine, settings: VoiceSettings, cache: ClipCache | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.voice = resolve_voice(engine, settings.voice)
        self.cache = cache or ClipCache()
        self.cache.check_writable()
        self._version = engine.version()
        self._paths: dict[Utterance, Path] = {}
        self._lengths: dict[Utterance, int] = {}
        self._recent: OrderedDict[Utterance, np.ndarray] = OrderedDict()
        self._recent_bytes = 0
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
        native = wpm
        with tempfile.TemporaryDirectory(prefix="voiceguide-") as tmp:
            for _ in range(4):
                total = 0
                for i, text in enumerate(CALIBRATION_TEXT):
                    wav = Path(tmp) / f"{i}.wav"
                    self.engine.synthesize(text, self.voice, native, wav)
                    total += len(prepare_clip(*read_wav(wav)))
                measured = words / (total / SAMPLE_RATE / 60)
                if abs(measured - wpm) <= 0.02 * wpm:
                    break
                native = max(20, round(native * wpm / measured))
        write_atomic(record, json.dumps({"wpm": wpm, "native": native, "measured": round(measured, 1)}).encode())
        return native

    def prepare(self, utterances: Iterable[Utterance], progress: Progress | None = None) -> None:
        """Make sure every utterance has a clip; `progress(n)` is called after each one."""
        for u in utterances:
            if u not in self._paths:
                self._remember(u, self._load(u))
            if progress:
                progress(1)

    def measure(self, utterance: Utterance) -> int:
        """Length of the utterance's clip in milliseconds (synthesising it if needed)."""
        if utterance not in self._lengths:
            self._remember(utterance, self._load(utterance))
        return samples_to_ms(self._lengths[utterance])

    def clip(self, utterance: Utterance) -> np.ndarray:
        """The utterance's samples; only the most recently used clips stay in memory."""
        if utterance in self._recent:
            self._recent.move_to_end(utterance)
            return self._recent[utterance]
        if utterance in self._paths:
            samples = prepare_clip(*read_wav(self._paths[utterance]))
            self._keep(utterance, samples)
            return samples
        self._remember(utterance, self._load(utterance))
        return self._recent[utterance]

    def _remember(self, u: Utterance, loaded: tuple[np.ndarray, Path]) -> None:
        samples, path = loaded
        self._paths[u] = path
        self._lengths[u] = len(samples)
        self._keep(u, samples)

    def _keep(self, u: Utterance, samples: np.ndarray) -> None:
        self._recent[u] = samples
        self._recent_bytes += samples.nbytes
        while self._recent_bytes > _RECENT_BYTES and len(self._recent) > 1:
            self._recent_bytes -= self._recent.popitem(last=False)[1].nbytes

    def _load(self, u: Utterance) -> tuple[np.ndarray, Path]:
        """The clip, spoken at the asked rate: a sentence that comes out more than 8 % off is spoken again
        at a corrected engine rate (texts differ: commas pause, long words take longer)."""
        rate = self.rate_for(u)
        samples, path = self._fetch(u.text, rate)
        words = len(u.text.split())
        target = self.settings.rate_wpm * u.rate_percent / 100
        for _ in range(2):
            if words < RATE_CHECK_MIN_WORDS:
                break
            measured = words / (len(samples) / SAMPLE_RATE / 60)
            if abs(measured - target) <= RATE_TOLERANCE * target:
                break
            rate = max(20, round(rate * target / measured))
            samples, path = self._fetch(u.text, rate)
        return samples, path

    def _fetch(self, text: str, rate: int) -> tuple[np.ndarray, Path]:
        key = clip_key(self.engine.name, self._version, self.voice, rate, text)
        path = self.cache.get(key)
        if path is None:
            path = self._synthesize(text, rate, key)
            self.synthesized += 1
        else:
            self.cached += 1
        samples = prepare_clip(*read_wav(path))
        if samples.size == 0:
            raise EngineError(f'{self.engine.name} produced only silence for "{text}"')
        return samples, path

    def _synthesize(self, text: str, rate: int, key: str) -> Path:
        with tempfile.TemporaryDirectory(prefix="voiceguide-") as tmp:
            wav = Path(tmp) / "clip.wav"
            for attempt in range(2):
                try:
                    self.engine.synthesize(text, self.voice, rate, wav)
                    break
                except EngineError:
                    if attempt:
                        raise
            return self.cache.put(key, wav)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] and the sample rate of a PCM WAV (read by pydub, no ffmpeg)."""
    with warnings.catch_warnings():
        # pydub warns that ffmpeg is absent (WAV needs none) and, on 3.11-3.12, that audioop is deprecated
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        from pydub import AudioSegment
    segment = AudioSegment.from_wav(str(path)).set_channels(1)
    samples = np.array(segment.get_array_of_samples(), dtype=np.float32)
    return samples / float(1 << (8 * segment.sample_width - 1)), segment.frame_rate


def resample(samples: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    if rate == target:
        return samples.astype(np.float32)
    from scipy.signal import resample_poly

    g = gcd(rate, target)
    return resample_poly(samples, target // g, rate // g).astype(np.float32)


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
