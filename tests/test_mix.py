"""Exact equivalences the streamed mix relies on."""
from __future__ import annotations

import numpy as np
import pytest

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

    measured = object.__new__(mix.Measurement)  # only the parts `limiter` uses
    measured.peaks, measured.ceiling = codes, 0.8
    for first in range(0, len(peaks), 9800):
        last = min(len(peaks), first + 9803)
        assert np.array_equal(measured.limiter(first, last, np.float32(1.0)), whole[first:last])


def test_stored_peaks_are_never_below_the_true_ones_and_close_above():
    x = np.abs(np.random.default_rng(5).normal(0, 0.4, 100_000)).astype(np.float32) + 0.01  # above the -44 dB floor
    back = mix.peak_values(mix.peak_codes(x))
    ratio_db = 20 * np.log10(back / x)
    assert ratio_db.min() >= -1e-4 and ratio_db.max() <= 0.2 + 1e-4


def _speechlike(i: int, rate: int = 44100) -> np.ndarray:
    """A second of noisy, peaky sound: bursts with the crest of speech (some peaks far above the rest)."""
    rng = np.random.default_rng(i)
    t = np.arange(rate) / rate
    x = rng.normal(0, 0.05, rate) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) + 0.1 * np.sin(2 * np.pi * 180 * t)
    for at in rng.integers(1000, rate - 1000, 6):
        x[at:at + 30] += rng.choice([-1, 1]) * 0.6  # clicks the limiter must catch
    x[:300] *= np.linspace(0, 1, 300)
    x[-300:] *= np.linspace(1, 0, 300)
    return x.astype(np.float32)


def _levelled(workers: int):
    from test_encode import _plan

    from voiceguide.engines.base import Utterance

    starts = list(range(500, 95_000, 1_700))  # a second of sound every 1.7 s, 95 s in all
    plan = _plan(starts, 97_000)
    plan = type(plan)(title="t", duration_ms=plan.duration_ms, chapters=(), dropped=(),
                      events=tuple(type(e)(**{**e.__dict__, "duration_ms": 1000}) for e in plan.events))
    sounds = {Utterance(f"line {i}"): _speechlike(i) for i in range(len(starts))}
    return mix.level(mix.Timeline(plan, sounds.__getitem__, {}, 44100), workers=workers)


@pytest.fixture(scope="module")
def levelled_alone():
    """Peaky test sounds levelled by this process alone (shared by the tests that only read it)."""
    session = _levelled(workers=1)
    yield session
    session.close()


def test_levelling_reaches_the_target_under_the_ceiling_as_measured_from_outside(levelled_alone):
    """The shortcuts (true peaks only near the ceiling, the limited loudness worked out rather than
    measured again) give what pyloudnorm and a 4x oversampled peak find on the finished samples."""
    import pyloudnorm
    from scipy.signal import resample_poly

    leveller = levelled_alone
    assert leveller.gain.limited  # the clicks are far above the speech: the limiter has work to do
    out = np.concatenate(list(leveller.pcm16_chunks())).astype(np.float64) / 32768
    measured = pyloudnorm.Meter(44100).integrated_loudness(out)
    assert abs(measured - leveller.levels().loudness_lufs) < 0.05
    assert abs(measured - mix.TARGET_LUFS) < 0.2
    peak = float(np.abs(resample_poly(out, 4, 1)).max())
    assert 20 * np.log10(peak) <= mix.CEILING_DBTP - 0.5  # under the ceiling, with the MP3 margin mostly kept


def test_levelling_is_the_same_however_many_workers(levelled_alone):
    one, two = levelled_alone, _levelled(workers=2)
    assert one.levels() == two.levels()
    assert np.array_equal(one.measurement.peaks[:], two.measurement.peaks[:])
    assert all(np.array_equal(a, b) for a, b in zip(one.pcm16_chunks(), two.pcm16_chunks()))
    two.close()


def test_a_target_out_of_reach_stops_at_the_gain_cap_and_says_how_loud_it_is(levelled_alone):
    """Far louder than the limiter allows: the gain stops at its cap instead of running away, and
    the loudness reported is what the finished audio measures."""
    import pyloudnorm

    leveller = mix.level(levelled_alone.timeline, target_lufs=-3.0)
    assert leveller.gain.gain_db <= 40.0 and leveller.gain.limited
    out = np.concatenate(list(leveller.pcm16_chunks())).astype(np.float64) / 32768
    measured = pyloudnorm.Meter(44100).integrated_loudness(out)
    assert measured < -4.0 and abs(measured - leveller.levels().loudness_lufs) < 0.1
    leveller.close()


def test_an_unlimited_session_reports_its_true_peak():
    """A tone at a quarter of the sample rate, sampled 45 degrees off its crests, with the gain far
    below the ceiling: the peak reported is the true (inter-sample) one, 3 dB over the samples."""
    from test_encode import _plan

    from voiceguide.engines.base import Utterance

    t = np.arange(44100)
    tone = (0.1 * np.sin(np.pi / 2 * t + np.pi / 4)).astype(np.float32)
    plan = _plan([500], 2000)
    leveller = mix.level(mix.Timeline(plan, {Utterance("line 0"): tone}.__getitem__, {}, 44100),
                         target_lufs=-30.0)
    assert not leveller.gain.limited
    sample_peak_db = 20 * np.log10(0.1 * np.sqrt(0.5)) + leveller.gain.gain_db
    assert leveller.levels().true_peak_dbtp == pytest.approx(sample_peak_db + 3.0, abs=0.3)
    leveller.close()


def test_peaks_kept_in_a_file_read_back_as_written(tmp_path):
    store = mix.BlockStore(1000, tmp_path)
    codes = np.random.default_rng(4).integers(0, 256, 300).astype(np.uint8)
    store[100:400] = codes
    assert np.array_equal(store[100:400], codes)
    assert not store[:100].any() and not store[400:].any() and len(store[990:2000]) == 10
    assert store.max() == codes.max()
    assert list(tmp_path.iterdir()) == []  # unnamed: nothing to leave behind
    store.close()


def test_peaks_go_on_in_memory_when_the_disk_fills(tmp_path, monkeypatch):
    import errno
    import os

    store = mix.BlockStore(100, tmp_path)
    store[0:10] = np.arange(1, 11, dtype=np.uint8)

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    store[50:53] = np.array([7, 8, 9], dtype=np.uint8)
    assert list(store[0:10]) == list(range(1, 11)) and list(store[50:53]) == [7, 8, 9]
    assert store.max() == 10
    store.close()
