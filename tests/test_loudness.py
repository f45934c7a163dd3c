"""voiceguide's own loudness filter and limiter windows against the libraries they stand in for."""
from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import sosfilt

from voiceguide import loudness, mix

RATE = 44100


def test_k_weighting_sections_are_pyloudnorms():
    stages = list(pyloudnorm.Meter(RATE)._filters.values())
    expected = np.array([np.concatenate([f.b, f.a]) for f in stages])
    assert np.allclose(loudness.k_weighting_sos(RATE), expected, rtol=1e-12, atol=1e-14)
    assert all(f.passband_gain == 1.0 for f in stages)


def test_fir_filter_matches_the_recursive_one():
    rng = np.random.default_rng(11)
    x = rng.normal(0, 0.2, 300_000)
    x[100_000:180_000] = 0.0  # a silent stretch is skipped, not mis-filtered
    k = loudness.KWeighting(RATE)
    for span in (x, x[:3000], x[:70_000]):  # long (overlap-add), short and middling FFT sizes
        expected = sosfilt(loudness.k_weighting_sos(RATE), span)
        assert np.abs(k.filter(span) - expected).max() < 1e-6 * np.abs(expected).max()


def test_a_span_measured_from_its_lead_is_what_the_whole_gives():
    rng = np.random.default_rng(12)
    x = rng.normal(0, 0.2, 20 * RATE)
    k = loudness.KWeighting(RATE)
    whole = loudness.sums(k.power(x, 0), k.hop)
    lead = k.memory
    start = 7 * k.hop
    part = loudness.sums(k.power(x[start - lead:start + 30 * k.hop], lead), k.hop)
    assert np.allclose(part, whole[7:37], rtol=1e-6)


@pytest.mark.parametrize("seconds", [3, 20])
def test_integrated_loudness_is_pyloudnorms(seconds):
    rng = np.random.default_rng(seconds)
    t = np.arange(seconds * RATE) / RATE
    x = 0.3 * np.sin(2 * np.pi * 440 * t) * (1 + np.sin(2 * np.pi * 0.5 * t)) / 2 + rng.normal(0, 0.01, len(t))
    x[RATE:RATE * 2] *= 0.001  # a quiet second the gates must drop
    k = loudness.KWeighting(RATE)
    ours = loudness.integrated_loudness(loudness.sums(k.power(x, 0), k.hop), RATE)
    assert ours == pytest.approx(pyloudnorm.Meter(RATE).integrated_loudness(x), abs=0.01)


def test_limiter_windows_are_scipys():
    rng = np.random.default_rng(13)
    for n in (1, 2, 9, 21, 40, 5000):
        x = rng.random(n).astype(np.float32)
        assert np.array_equal(mix.moving_min(x, 21), minimum_filter1d(x, 21)), n
        assert np.allclose(mix.moving_mean(x, 10), uniform_filter1d(x, 10), rtol=1e-6), n
