"""Lay clips and chimes on the timeline at exact sample positions, then level the whole session."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from .plan import Kind, Plan, Utterance

TARGET_LUFS = -16.0
CEILING_DBTP = -1.0
_MP3_MARGIN_DB = 0.7  # encoding adds overshoot; limit below the ceiling so the MP3 stays under it
_OVERSAMPLE = 4


@dataclass(frozen=True)
class Levels:
    """What levelling did, for the build report."""

    loudness_lufs: float
    true_peak_dbtp: float
    gain_db: float


def ms_to_samples(ms: int, rate: int) -> int:
    return ms * rate // 1000


def render(plan: Plan, clip: Callable[[Utterance], np.ndarray], chimes: Mapping[str, np.ndarray],
           rate: int, chime_gain_db: float = -4.0) -> np.ndarray:
    """Sum every event into one float32 track of exactly the plan's length."""
    out = np.zeros(ms_to_samples(plan.duration_ms, rate), dtype=np.float32)
    chime_gain = np.float32(10 ** (chime_gain_db / 20))
    for event in plan.events:
        if event.kind is Kind.SPEECH:
            assert event.utterance is not None
            x = clip(event.utterance)
        else:
            x = chimes[event.sound] * chime_gain
        start = ms_to_samples(event.start_ms, rate)
        end = min(len(out), start + len(x))
        out[start:end] += x[: end - start]
    return out


def true_peak_blocks(x: np.ndarray, rate: int, block_ms: int = 1) -> np.ndarray:
    """True peak (BS.1770: 4x oversampled) of each block of `block_ms`, computed chunk by chunk."""
    from scipy.signal import resample_poly

    size = rate * block_ms // 1000
    blocks = -(-len(x) // size)
    env = np.zeros(blocks, dtype=np.float32)
    chunk = size * 1000
    pad = 64
    for start in range(0, len(x), chunk):
        end = min(len(x), start + chunk)
        if not np.any(x[start:end]):
            continue
        lo, hi = max(0, start - pad), min(len(x), end + pad)
        up = np.abs(resample_poly(x[lo:hi], _OVERSAMPLE, 1))[(start - lo) * _OVERSAMPLE:(end - lo) * _OVERSAMPLE]
        n = -(-(end - start) // size)
        up = np.pad(up, (0, n * size * _OVERSAMPLE - len(up)))
        env[start // size: start // size + n] = up.reshape(n, size * _OVERSAMPLE).max(axis=1)
    return env


def limiter_gain(peaks: np.ndarray, ceiling: float, block_samples: int, length: int) -> np.ndarray:
    """Per-sample gain of a look-ahead limiter that keeps every block's true peak under `ceiling`.

    Each block's gain is the least needed within 10 blocks either side, averaged over 10 blocks:
    at or below what every block needs, and changing over ~10 ms rather than at once.
    Blocks are linearly interpolated to samples; both neighbours are below the need, so the
    interpolation is too.
    """
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    need = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12)).astype(np.float32)
    if need.min() >= 1.0:
        return np.ones(length, dtype=np.float32)
    smooth = uniform_filter1d(minimum_filter1d(need, size=21), size=10)
    smooth = np.minimum(smooth, need)
    centers = np.arange(len(smooth)) * block_samples + block_samples / 2
    return np.interp(np.arange(length), centers, smooth).astype(np.float32)


def level(x: np.ndarray, rate: int, target_lufs: float = TARGET_LUFS,
          ceiling_dbtp: float = CEILING_DBTP) -> tuple[np.ndarray, Levels]:
    """Bring the session to the target integrated loudness with its true peak under the ceiling."""
    import pyloudnorm

    meter = pyloudnorm.Meter(rate)
    measured = meter.integrated_loudness(x)
    if not np.isfinite(measured):
        return x, Levels(float("-inf"), float("-inf"), 0.0)
    peaks = true_peak_blocks(x, rate)  # gain is linear: measure the peaks once, scale them per try
    block = rate // 1000
    ceiling = 10 ** ((ceiling_dbtp - _MP3_MARGIN_DB) / 20)
    gain_db = target_lufs - measured
    for _ in range(4):  # the limiter lowers loudness a little; raise the gain before it and repeat
        gain = np.float32(10 ** (gain_db / 20))
        y = x * (gain * limiter_gain(peaks * gain, ceiling, block, len(x)))
        got = meter.integrated_loudness(y)
        if abs(got - target_lufs) < 0.1:
            break
        gain_db += target_lufs - got
    peak = float(20 * np.log10(max(float(true_peak_blocks(y, rate).max()), 1e-12)))
    return y.astype(np.float32), Levels(round(float(got), 2), round(peak, 2), round(float(gain_db), 2))


def to_pcm16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2")
