"""Exact equivalences the streamed mix relies on."""
from __future__ import annotations

import numpy as np

from voiceguide import mix


def test_sparse_gain_curve_equals_full_interpolation():
    rng = np.random.default_rng(7)
    block, chunk = 45, 441000
    for t in range(300):
        gains = np.ones(chunk // block + 3, dtype=np.float32)
        for _ in range(rng.integers(0, 30)):
            at = rng.integers(0, len(gains))
            gains[at:at + rng.integers(1, 40)] = rng.random()
        if t % 3 == 0:  # limited first / last blocks too
            gains[0] = gains[-1] = 0.5
        first = max(0, chunk // block * t - 1)
        start = chunk * t
        centers = (np.arange(len(gains)) + first) * block + block / 2
        expected = np.interp(np.arange(start, start + chunk), centers, gains).astype(np.float32)
        got = np.broadcast_to(mix._gain_curve(gains, first, block, start, chunk), (chunk,))
        assert np.array_equal(got, expected), t


def test_limiter_worked_out_per_chunk_equals_whole():
    rng = np.random.default_rng(3)
    peaks = np.abs(rng.normal(0, 0.3, 50_000)).astype(np.float32)

    codes = mix.peak_codes(peaks)
    whole = mix.limiter_gains(mix.peak_values(codes), 0.8)

    class _Peaks(mix.Leveller):  # only the parts _limiter uses
        def __init__(self):
            self.peaks, self.gain_db, self.ceiling = codes, 0.0, 0.8

    leveller = _Peaks()
    for first in range(0, len(peaks), 9800):
        last = min(len(peaks), first + 9803)
        assert np.array_equal(leveller._limiter(first, last), whole[first:last])


def test_stored_peaks_are_never_below_the_true_ones_and_close_above():
    x = np.abs(np.random.default_rng(5).normal(0, 0.4, 100_000)).astype(np.float32) + 0.01  # above the -44 dB floor
    back = mix.peak_values(mix.peak_codes(x))
    ratio_db = 20 * np.log10(back / x)
    assert ratio_db.min() >= -1e-4 and ratio_db.max() <= 0.2 + 1e-4
