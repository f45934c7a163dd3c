"""Lay clips and chimes on the timeline at exact sample positions, level the session, stream it out.

The session is rendered a chunk at a time, never whole, so memory does not grow with its length:
one pass measures loudness and true peaks, the next applies gain and a look-ahead limiter and
hands 16-bit chunks to the encoder (with one more measuring pass when the limiter moved the
loudness). Rendering is cheap (a sum of the few clips that overlap each chunk), so passing
twice costs less than keeping an hour of audio in memory.
"""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping

import numpy as np

from .plan import Kind, Plan, Utterance

TARGET_LUFS = -16.0
CEILING_DBTP = -1.0
_MP3_MARGIN_DB = 0.7  # encoding adds overshoot; limit below the ceiling so the MP3 stays under it
_OVERSAMPLE = 4
CHUNK_S = 10
_PAD = 64  # samples of context either side of a chunk for the oversampling filter
_BLOCK = 45  # limiter resolution: ~1 ms at 44.1 kHz, and 10 s chunks hold a whole number of blocks
CHIME_GAIN_DB = -4.0


@dataclass(frozen=True)
class Levels:
    """What levelling did, for the build report."""

    loudness_lufs: float
    true_peak_dbtp: float
    gain_db: float


def ms_to_samples(ms: int, rate: int) -> int:
    return ms * rate // 1000


class Timeline:
    """The session as a function of time: any span of samples, rendered on demand from the plan."""

    def __init__(self, plan: Plan, clip: Callable[[Utterance], np.ndarray], chimes: Mapping[str, np.ndarray],
                 rate: int, chime_gain_db: float = CHIME_GAIN_DB) -> None:
        self.rate = rate
        self.length = ms_to_samples(plan.duration_ms, rate)
        self._clip = clip
        self._chimes = {k: (v * np.float32(10 ** (chime_gain_db / 20))).astype(np.float32) for k, v in chimes.items()}
        self._events = sorted(plan.events, key=lambda e: e.start_ms)
        self._starts = [ms_to_samples(e.start_ms, rate) for e in self._events]
        # generous upper bound of any event's reach, so a span finds its events by start time
        self._longest = max((ms_to_samples(e.duration_ms, rate) for e in self._events), default=0) + rate

    def span(self, start: int, end: int) -> np.ndarray:
        """Samples [start, end) of the mix (zeros outside the session)."""
        out = np.zeros(end - start, dtype=np.float32)
        for i in range(bisect_left(self._starts, start - self._longest), len(self._events)):
            event, at = self._events[i], self._starts[i]
            if at >= end:
                break
            x = self._clip(event.utterance) if event.kind is Kind.SPEECH else self._chimes[event.sound]
            lo, hi = max(start, at), min(end, at + len(x), self.length)
            if lo < hi:
                out[lo - start: hi - start] += x[lo - at: hi - at]
        return out

    def chunks(self, pad: int = 0) -> Iterator[tuple[int, np.ndarray]]:
        """(start, samples) chunk by chunk; with `pad`, each chunk carries that much context either side."""
        step = CHUNK_S * self.rate
        for start in range(0, self.length, step):
            end = min(self.length, start + step)
            yield start, self.span(start - pad, end + pad)


class LoudnessMeter:
    """BS.1770-4 integrated loudness, fed chunk by chunk (pyloudnorm's weighting filters and gating).

    pyloudnorm measures a whole array; here its K-weighting filters run with carried state and the
    energy of every 100 ms is kept, from which the 400 ms gating blocks (75 % overlap) follow
    exactly as pyloudnorm forms them.
    """

    def __init__(self, rate: int) -> None:
        import pyloudnorm
        from scipy.signal import lfilter_zi

        self.rate = rate
        stages = pyloudnorm.Meter(rate)._filters.values()
        self._stages = [(f.b, f.a, f.passband_gain, lfilter_zi(f.b, f.a) * 0.0) for f in stages]
        self._hop = rate // 10
        self._left = np.zeros(0)
        self._energy: list[float] = []

    def feed(self, x: np.ndarray) -> None:
        from scipy.signal import lfilter

        y = x.astype(np.float64)
        stages = []
        for b, a, gain, zi in self._stages:
            y, zi = lfilter(b, a, y, zi=zi)
            y = y * gain
            stages.append((b, a, gain, zi))
        self._stages = stages
        y = np.concatenate([self._left, y])
        whole = len(y) // self._hop * self._hop
        self._energy.extend(np.square(y[:whole]).reshape(-1, self._hop).sum(axis=1).tolist())
        self._left = y[whole:]

    def integrated(self) -> float:
        e = np.asarray(self._energy)
        if len(e) < 4:
            return float("-inf")
        z = (e[:-3] + e[1:-2] + e[2:-1] + e[3:]) / (0.4 * self.rate)
        with np.errstate(divide="ignore"):
            block = -0.691 + 10 * np.log10(z)
        above = z[block >= -70.0]
        if not len(above):
            return float("-inf")
        relative = -0.691 + 10 * np.log10(above.mean()) - 10.0
        gated = z[(block > relative) & (block > -70.0)]
        return float(-0.691 + 10 * np.log10(gated.mean())) if len(gated) else float("-inf")


def true_peak_blocks(x: np.ndarray, block: int, pad: int = 0) -> np.ndarray:
    """True peak (BS.1770: 4x oversampled) of each `block` samples of x[pad:len(x)-pad]."""
    from scipy.signal import resample_poly

    core = len(x) - 2 * pad
    n = -(-core // block)
    if not np.any(x):
        return np.zeros(n, dtype=np.float32)
    up = np.abs(resample_poly(x, _OVERSAMPLE, 1))[pad * _OVERSAMPLE:(pad + core) * _OVERSAMPLE]
    up = np.pad(up, (0, n * block * _OVERSAMPLE - len(up)))
    return np.maximum(up.reshape(n, block * _OVERSAMPLE).max(axis=1),
                      np.pad(np.abs(x[pad:pad + core]), (0, n * block - core)).reshape(n, block).max(axis=1))


def limiter_gains(peaks: np.ndarray, ceiling: float) -> np.ndarray:
    """Per-block gain of a look-ahead limiter that keeps every block's true peak under `ceiling`.

    Each block's gain is the least needed within 10 blocks either side, averaged over 10 blocks:
    at or below what every block needs, and changing over ~10 ms rather than at once. Blocks are
    interpolated linearly to samples; both neighbours are below the need, so the result is too.
    """
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    need = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12)).astype(np.float32)
    if need.min() >= 1.0:
        return need
    smooth = uniform_filter1d(minimum_filter1d(need, size=21), size=10)
    return np.minimum(smooth, need)


def _gain_curve(gains: np.ndarray, block: int, start: int, length: int) -> np.ndarray | np.float32:
    """Block gains interpolated to the samples [start, start + length) (just 1 where nothing is limited)."""
    first = max(0, start // block - 1)
    last = min(len(gains), (start + length) // block + 2)
    if first >= last or gains[first:last].min() >= 1.0:
        return np.float32(1.0)
    centers = np.arange(first, last) * block + block / 2
    return np.interp(np.arange(start, start + length), centers, gains[first:last]).astype(np.float32)


class Leveller:
    """Finds the gain and limiter curve that bring a timeline to the target loudness and ceiling."""

    def __init__(self, timeline: Timeline, target_lufs: float = TARGET_LUFS,
                 ceiling_dbtp: float = CEILING_DBTP) -> None:
        self.timeline = timeline
        self.block = _BLOCK
        assert (CHUNK_S * timeline.rate) % _BLOCK == 0, "limiter blocks must tile every chunk exactly"
        meter = LoudnessMeter(timeline.rate)
        peaks = []
        for _, x in timeline.chunks(pad=_PAD):
            meter.feed(x[_PAD:len(x) - _PAD])
            peaks.append(true_peak_blocks(x, self.block, _PAD))
        self.peaks = np.concatenate(peaks) if peaks else np.zeros(0, dtype=np.float32)
        measured = meter.integrated()
        self.silent = not np.isfinite(measured)
        self.gain_db = 0.0 if self.silent else target_lufs - measured
        ceiling = 10 ** ((ceiling_dbtp - _MP3_MARGIN_DB) / 20)
        self.loudness = measured
        self.gains = np.ones(len(self.peaks), dtype=np.float32)
        for _ in range(4):  # the limiter lowers loudness a little: raise the gain before it, measure again
            if self.silent:
                break
            self.gains = limiter_gains(self.peaks * self._gain(), ceiling)
            if self.gains.min() >= 1.0:
                self.loudness = measured + self.gain_db
                break
            meter = LoudnessMeter(timeline.rate)
            for start, x in timeline.chunks():
                meter.feed(self._apply(start, x))
            self.loudness = meter.integrated()
            if abs(self.loudness - target_lufs) < 0.1:
                break
            self.gain_db += target_lufs - self.loudness
        else:  # out of tries: the limiter must match the last gain (its loudness was not measured again)
            if not self.silent:
                self.gains = limiter_gains(self.peaks * self._gain(), ceiling)

    def _gain(self) -> np.float32:
        return np.float32(10 ** (self.gain_db / 20))

    def _apply(self, start: int, x: np.ndarray) -> np.ndarray:
        return x * self._gain() * _gain_curve(self.gains, self.block, start, len(x))

    def pcm16_chunks(self) -> Iterator[np.ndarray]:
        """The levelled session as 16-bit chunks, ready for the encoder."""
        for start, x in self.timeline.chunks():
            yield to_pcm16(self._apply(start, x))

    def levels(self) -> Levels:
        peak_db = float(20 * np.log10(max(float((self.peaks * self._gain() * self.gains).max(initial=0.0)), 1e-12)))
        return Levels(round(float(self.loudness), 2), round(peak_db, 2), round(float(self.gain_db), 2))


def to_pcm16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2")

