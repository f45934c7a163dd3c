"""Audio values and the small conversions every stage shares: rates, decibels, WAV, 16-bit PCM.

One place for them, so the mix, the chimes, the speech clips and the engines agree to the sample.
"""
from __future__ import annotations

import io
import math
import warnings
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np

from .atomic import deferred

SAMPLE_RATE = 44100
"""Every session is mixed and encoded at this rate (mono)."""


@dataclass(frozen=True, eq=False)
class Audio:
    """Mono 16-bit samples and their rate: what a speech engine returns for one line."""

    pcm16: np.ndarray
    rate: int

    @classmethod
    def from_bytes(cls, data: bytes, rate: int) -> Audio:
        """Little-endian 16-bit mono frames, as eSpeak NG and WAV files hold them."""
        return cls(np.frombuffer(data, dtype="<i2", count=len(data) // 2), rate)

    def to_float(self) -> np.ndarray:
        """float32 in [-1, 1): the form the mix works in."""
        return self.pcm16.astype(np.float32) / np.float32(32768.0)

    def wav_bytes(self) -> bytes:
        """The samples as a 16-bit mono WAV file."""
        out = io.BytesIO()
        with open_wave(out, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(self.rate)
            w.writeframes(np.asarray(self.pcm16, dtype="<i2").tobytes())
        return out.getvalue()

    @property
    def seconds(self) -> float:
        return len(self.pcm16) / self.rate if self.rate else 0.0


def open_wave(f: str | BinaryIO, mode: Literal["rb", "wb"]) -> Any:
    """`wave.open`, not to be cut short by Ctrl-C: a Wave_read interrupted before its constructor's first
    line complains on stderr when it is collected (AttributeError: ... '_i_opened_the_file')."""
    with deferred():
        return wave.open(f, mode)


def db_to_gain(db: float) -> float:
    """Amplitude factor of a level change in decibels (-6 dB -> about 0.5)."""
    return float(10 ** (db / 20))


def gain_to_db(gain: float, floor: float = 1e-12) -> float:
    """Decibels of an amplitude factor; silence is the floor's level, not minus infinity."""
    return float(20 * math.log10(max(gain, floor)))


def ms_to_samples(ms: int, rate: int = SAMPLE_RATE) -> int:
    """The sample an integer millisecond falls on."""
    return ms * rate // 1000


def samples_to_ms(n: int, rate: int = SAMPLE_RATE) -> int:
    """Whole milliseconds that cover n samples."""
    return -(-n * 1000 // rate)


def resample(samples: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """float32 samples at `target` Hz (soxr's high quality)."""
    if rate == target:
        return samples.astype(np.float32)
    with deferred():  # a Ctrl-C while soxr's native module loads crashes Python (SIGSEGV, or abort)
        import soxr

    return soxr.resample(samples.astype(np.float32), rate, target, quality="HQ").astype(np.float32)


def to_pcm16(x: np.ndarray) -> np.ndarray:
    """float samples as 16-bit integers, clipped (what the MP3 encoder takes)."""
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2")


def is_complete_wav(path: Path) -> bool:
    """A WAV whose header parses, holds audio frames, and whose data is all there."""
    try:
        with open_wave(str(path), "rb") as w:
            frames = w.getnframes()
            need = frames * w.getsampwidth() * w.getnchannels()
            return frames > 0 and Path(path).stat().st_size >= 44 + need
    except (OSError, EOFError, wave.Error):
        return False


def read_wav_bytes(data: bytes) -> Audio | tuple[np.ndarray, int]:
    """A WAV file's samples: 16-bit mono as `Audio` (what eSpeak and Piper write), anything else
    as (float32 mono, rate)."""
    try:
        with open_wave(io.BytesIO(data), "rb") as w:
            if w.getnchannels() == 1 and w.getsampwidth() == 2:
                return Audio.from_bytes(w.readframes(w.getnframes()), w.getframerate())
    except (wave.Error, EOFError):
        pass
    return _read_wav_pydub(data)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] and the sample rate of a PCM WAV (no ffmpeg needed)."""
    got = read_wav_bytes(Path(path).read_bytes())
    if isinstance(got, Audio):
        return got.to_float(), got.rate
    return got


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
