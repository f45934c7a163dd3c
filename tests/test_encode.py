"""Segmented MP3 encoding: segments encoded apart and joined decode where one long encode would."""
from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
import soundfile

from voiceguide.engines.base import Utterance
from voiceguide.mix import Timeline, level
from voiceguide.mp3 import MP3_DELAY, encode_mp3, encode_segments
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
