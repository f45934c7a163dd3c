"""Segmented MP3 encoding: segments encoded apart and joined decode where one long encode would."""
from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
import soundfile

from voiceguide.engines.base import Utterance
from voiceguide.mix import Timeline, level
from voiceguide.mp3 import MP3_DELAY, encode_mp3, encode_segments, overlapped_spans
from voiceguide.plan import Event, Kind, Plan, Priority

RATE = 44100


def _plan(starts_ms: list[int], total_ms: int) -> Plan:
    events = tuple(Event(kind=Kind.SPEECH, start_ms=s, duration_ms=300, priority=Priority.MUST, exercise=None,
                         role="tip", text=f"line {i}", utterance=Utterance(f"line {i}"))
                   for i, s in enumerate(starts_ms))
    return Plan(title="t", duration_ms=total_ms, events=events, chapters=(), dropped=())


def _tone(i: int) -> np.ndarray:
    t = np.arange(int(0.3 * RATE)) / RATE
    x = (0.3 * np.sin(2 * np.pi * (300 + 50 * i) * t)).astype(np.float32)
    x[:200] *= np.linspace(0, 1, 200, dtype=np.float32)
    x[-200:] *= np.linspace(1, 0, 200, dtype=np.float32)
    return x


STARTS = list(range(1000, 170_000, 7_000))
"""A line every 7 s over almost three minutes."""


@pytest.fixture(scope="module")
def levelled():
    plan = _plan(STARTS, 172_000)
    tones = {Utterance(f"line {i}"): _tone(i) for i in range(len(STARTS))}
    session = level(Timeline(plan, tones.__getitem__, {}, RATE))
    yield session
    session.close()


@pytest.mark.parametrize("bitrate", [64, 96, 192])
def test_joined_segments_decode_like_one_encode(levelled, bitrate):
    """Encoded in segments by one process or by two, the same bytes; decoded, every line on the sample
    where one long encode puts it, and silence at the joins."""
    spans = levelled.timeline.segments()
    assert len(spans) >= 4  # really cut
    joined = {}
    for workers in (1, 2):
        joined[workers] = io.BytesIO()
        encode_segments(levelled.pcm16_chunks, spans, joined[workers], bitrate, workers)
    assert joined[1].getvalue() == joined[2].getvalue()
    whole = io.BytesIO()
    encode_mp3(levelled.pcm16_chunks(), RATE, whole, bitrate)
    a, _ = soundfile.read(io.BytesIO(joined[2].getvalue()), dtype="float32")
    b, _ = soundfile.read(io.BytesIO(whole.getvalue()), dtype="float32")
    assert len(a) == len(b)
    source = np.concatenate(list(levelled.pcm16_chunks())).astype(np.float32) / 32768
    for i, start_ms in enumerate(STARTS):  # each line lands on the same sample in both
        at = start_ms * RATE // 1000 + MP3_DELAY
        n = len(_tone(i))
        ref = source[at - MP3_DELAY: at - MP3_DELAY + n]
        for decoded in (a, b):
            assert np.corrcoef(decoded[at: at + n], ref)[0, 1] > 0.99
    quiet = np.ones(len(a), dtype=bool)  # between the lines both decode to (near) silence: no clicks at joins
    for start_ms in STARTS:
        at = start_ms * RATE // 1000 + MP3_DELAY
        quiet[max(0, at - 2000): at + int(0.3 * RATE) + 2000] = False
    assert np.abs(a[quiet]).max() < 0.01


def test_segment_cuts_depend_on_the_plan_only():
    plan = _plan(list(range(1000, 600_000, 5_000)), 605_000)
    tones = {Utterance(f"line {i}"): _tone(i % 7) for i in range(200)}
    spans = Timeline(plan, tones.__getitem__, {}, RATE).segments()
    assert spans[0][0] == 0 and spans[-1][1] == 605_000 * RATE // 1000
    for (s1, e1), (s2, _) in itertools.pairwise(spans):
        assert s2 % 1152 == 0 and s2 - e1 == 1152 + MP3_DELAY
        # no line sounds in the left-out samples
        assert not any(s * RATE // 1000 < s2 and (s + 300) * RATE // 1000 > e1 for s in range(1000, 600_000, 5_000))


def _bed_session(seconds: int) -> np.ndarray:
    """A session that sounds throughout: a soft chord with a little noise, and a louder burst every 3 s."""
    rng = np.random.default_rng(11)
    t = np.arange(seconds * RATE) / RATE
    x = 0.05 * sum(np.sin(2 * np.pi * f * t) for f in (110.0, 164.8, 220.0, 277.2)) + 0.01 * rng.normal(size=len(t))
    for s in range(1, seconds - 1, 3):
        burst = np.hanning(RATE // 2) * rng.normal(0, 0.2, RATE // 2)
        x[s * RATE: s * RATE + RATE // 2] += burst
    return np.clip(np.round(x * 32767), -32768, 32767).astype("<i2")


def _error_per_granule(decoded: np.ndarray, source: np.ndarray) -> np.ndarray:
    e = decoded[MP3_DELAY:MP3_DELAY + len(source)].astype(np.float64) - source.astype(np.float64) / 32768
    n = len(e) // 576
    return np.sqrt((e[:n * 576].reshape(n, 576) ** 2).mean(axis=1))


@pytest.mark.parametrize("bitrate", [48, 96, 320])
def test_spliced_segments_under_a_bed_decode_like_one_encode(bitrate):
    """With nothing silent to cut in, overlapping segments are spliced: the same bytes by one process or
    two; decoded, as long as one long encode, every sample in its place, and around every splice no more
    error against the source than one long encode makes there (no gap, no click)."""
    pcm = _bed_session(100)
    spans = overlapped_spans(len(pcm))
    assert len(spans) == 4 and all(b[0] < a[1] for a, b in itertools.pairwise(spans))  # really overlapped

    def render(start, stop):
        return iter([pcm[start:stop]])

    joined = {}
    for workers in (1, 2):
        joined[workers] = io.BytesIO()
        encode_segments(render, spans, joined[workers], bitrate, workers)
    assert joined[1].getvalue() == joined[2].getvalue()
    whole = io.BytesIO()
    encode_mp3(render(0, len(pcm)), RATE, whole, bitrate)
    a, rate_a = soundfile.read(io.BytesIO(joined[1].getvalue()), dtype="float32")
    b, rate_b = soundfile.read(io.BytesIO(whole.getvalue()), dtype="float32")
    assert rate_a == rate_b == RATE and len(a) == len(b)
    err_a, err_b = _error_per_granule(a, pcm), _error_per_granule(b, pcm)  # against the source, sample for sample
    assert np.median(err_a) < 1.05 * np.median(err_b)
    for (_, stop), (start, _) in itertools.pairwise(spans):
        around = slice(start // 576 - 4, stop // 576 + 4)  # the whole overlap, where the splice is
        assert err_a[around].max() < 1.5 * err_b[around].max() + 1e-4


def test_low_bitrates_keep_the_session_rate_so_segments_line_up():
    """LAME resamples mono below 64 kbps unless told not to: its frames would no longer be the session's."""
    plan = _plan(STARTS, 172_000)
    tones = {Utterance(f"line {i}"): _tone(i) for i in range(len(STARTS))}
    session = level(Timeline(plan, tones.__getitem__, {}, RATE))
    try:
        joined = io.BytesIO()
        encode_segments(session.pcm16_chunks, session.timeline.segments(), joined, 48, 1)
        decoded, rate = soundfile.read(io.BytesIO(joined.getvalue()), dtype="float32")
    finally:
        session.close()
    assert rate == RATE
    last = STARTS[-1] * RATE // 1000 + MP3_DELAY
    assert np.abs(decoded[last - 500: last - 50]).max() < 0.01 < np.abs(decoded[last: last + 2000]).max()
