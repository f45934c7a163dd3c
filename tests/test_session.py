"""The seed session the program really builds, decoded by libsndfile and measured like a listener would."""
from __future__ import annotations

import itertools
import json

import numpy as np
from conftest import build_seed

FRAME_S = 0.05


def _db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12)) if len(x) else -240.0


def _span(s, start_ms: int, end_ms: int) -> np.ndarray:
    return s.samples[start_ms * s.rate // 1000: end_ms * s.rate // 1000]


def test_format_and_length(seed_session):
    import soundfile

    info = soundfile.info(str(seed_session.mp3))
    assert info.samplerate == 44100 and info.channels == 1
    # the stated 6:00 and 0:40 of set-up for Hurdler and Elbow Side Plank (README, "Set-up")
    assert seed_session.plan["duration_ms"] == 360_000 + seed_session.plan["setup_added_ms"] == 400_000
    seconds = len(seed_session.samples) / seed_session.rate
    assert 400.0 <= seconds <= 400.1, seconds  # encoder padding at most 0.1 s
    from mutagen.mp3 import MP3

    mp3 = MP3(str(seed_session.mp3))
    assert mp3.info.bitrate == 96_000 and mp3.info.sample_rate == 44100


def test_chapters_and_tags(seed_session, seed):
    from mutagen.id3 import ID3

    tags = ID3(str(seed_session.mp3))
    assert str(tags["TIT2"]) == "Lower Back Relief"
    assert str(tags["TPE1"]) == "voiceguide" and str(tags["TALB"]) == "Lower Back Relief"
    assert tags.getall("COMM")[0].text[0].startswith("Your lower back often hurts")
    toc = tags.getall("CTOC")
    assert len(toc) == 1 and toc[0].flags & 0x03 == 0x03  # top level, ordered
    chapters = {c.element_id: c for c in tags.getall("CHAP")}
    ordered = [chapters[i] for i in toc[0].child_element_ids]
    titles = [str(c.sub_frames["TIT2"]) for c in ordered]
    assert titles == ["Intro"] + [e.name for e in seed.exercises] + ["Outro"]
    for chapter, exercise, planned in zip(ordered[1:-1], seed.exercises, seed_session.plan["chapters"][1:-1]):
        assert abs((chapter.end_time - chapter.start_time) - exercise.duration_ms - planned["setup_ms"]) <= 10
    assert ordered[0].start_time == 0 and ordered[-1].end_time == 400_000
    for a, b in itertools.pairwise(ordered):
        assert a.end_time == b.start_time
    assert [c["title"] for c in seed_session.plan["chapters"]] == titles


def test_speech_where_the_plan_says_and_silence_where_it_says_nothing(seed_session):
    plan = seed_session.plan
    speech = [e for e in plan["events"] if e["kind"] == "speech"]
    assert len(speech) > 50
    for e in speech:
        assert _db(_span(seed_session, e["start_ms"], e["end_ms"])) > -40, e["text"]
    busy = sorted((e["start_ms"], e["end_ms"]) for e in plan["events"])
    gaps, t = [], 0
    for start, end in busy + [(plan["duration_ms"], plan["duration_ms"])]:
        if start - t > 2000:
            gaps.append((t, start))
        t = max(t, end)
    assert len(gaps) >= 10
    for a, b in gaps:
        assert _db(_span(seed_session, a + 300, b - 300)) < -50, (a, b)


def test_speech_starts_where_planned(seed_session):
    """Onsets: quiet just before a line that follows silence, sound within its first 150 ms."""
    plan = seed_session.plan
    events = sorted(plan["events"], key=lambda e: e["start_ms"])
    checked = 0
    for prev, e in itertools.pairwise(events):
        if e["kind"] != "speech" or e["start_ms"] - prev["end_ms"] < 500 or prev["kind"] != "speech":
            continue
        before = _db(_span(seed_session, e["start_ms"] - 250, e["start_ms"] - 50))
        after = _db(_span(seed_session, e["start_ms"], e["start_ms"] + 150))
        assert before < -50 and after > before + 20, (e["text"], before, after)
        checked += 1
    assert checked >= 20


def test_lines_never_overlap_or_cross_an_exercise_end(seed_session):
    plan = seed_session.plan
    speech = sorted((e for e in plan["events"] if e["kind"] == "speech"), key=lambda e: e["start_ms"])
    for a, b in itertools.pairwise(speech):
        assert a["end_ms"] <= b["start_ms"]
    exercise_chapters = plan["chapters"][1:-1]
    for e in speech:
        if e["exercise"] is not None:
            ch = exercise_chapters[e["exercise"]]
            assert ch["start_ms"] <= e["start_ms"] and e["end_ms"] <= ch["end_ms"]


def test_switch_sides_at_each_midpoint(seed_session, seed):
    plan = seed_session.plan
    for index, exercise in enumerate(seed.exercises):
        ch = plan["chapters"][index + 1]
        mid = (ch["start_ms"] + ch["setup_ms"] + ch["end_ms"]) // 2  # of the hold, after any set-up
        switch = [e for e in plan["events"] if e.get("text") == "Switch sides." and e["exercise"] == index]
        if exercise.sides.value == "both":
            assert len(switch) == 1 and abs(switch[0]["start_ms"] - mid) <= 1000
            assert _db(_span(seed_session, switch[0]["start_ms"], switch[0]["end_ms"])) > -40
        else:
            assert switch == []


def _dominant_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


def test_a_bell_opens_every_chapter(seed_session):
    """At each chapter start the bell (D5, 587 Hz) rings alone before the first word."""
    for ch in seed_session.plan["chapters"]:
        x = _span(seed_session, ch["start_ms"] + 20, ch["start_ms"] + 1000)
        assert _db(x) > -40 and abs(_dominant_hz(x, seed_session.rate) - 587.3) < 5, ch["title"]
    ch = seed_session.plan["chapters"][-1]
    tail = _span(seed_session, ch["end_ms"] - 1780, ch["end_ms"] - 800)
    assert abs(_dominant_hz(tail, seed_session.rate) - 587.3) < 5  # and the final chime


def test_loudness_and_true_peak(seed_session):
    import pyloudnorm
    from scipy.signal import resample_poly

    lufs = pyloudnorm.Meter(seed_session.rate).integrated_loudness(seed_session.samples.astype(np.float64))
    assert -17.0 <= lufs <= -15.0, lufs
    peak = max(float(np.abs(resample_poly(chunk, 4, 1)).max())
               for chunk in np.array_split(seed_session.samples, 40))
    assert 20 * np.log10(peak) <= -1.0


def test_captions_match_the_plan(seed_session):
    vtt = seed_session.mp3.with_suffix(".vtt").read_text()
    assert vtt.startswith("WEBVTT\n")
    speech = [e for e in seed_session.plan["events"] if e["kind"] == "speech"]
    cues = [block.split("\n") for block in vtt.strip().split("\n\n")[1:]]
    assert len(cues) == len(speech)

    def ms(stamp: str) -> int:
        h, m, s = stamp.split(":")
        return (int(h) * 3600 + int(m) * 60) * 1000 + round(float(s) * 1000)

    for number, (cue, event) in enumerate(zip(cues, speech), 1):
        start, end = cue[1].split(" --> ")
        assert cue[0] == str(number) and cue[2] == event["text"]
        assert (ms(start), ms(end)) == (event["start_ms"], event["end_ms"])


def test_plan_json_shape(seed_session):
    plan = seed_session.plan
    assert set(plan) >= {"duration_ms", "events", "chapters", "dropped"}
    for e in plan["events"]:
        assert e["kind"] in ("speech", "chime") and e["end_ms"] > e["start_ms"] >= 0
        assert "exercise" in e and (e["kind"] != "speech" or e["text"])
    for d in plan["dropped"]:
        assert d["text"] and d["reason"]


def test_builds_are_byte_identical(tmp_path, seed_session, seed_rebuilt):
    """Two cold builds (each its own empty cache, its own process), and a warm rebuild, give the same bytes."""
    b = tmp_path / "b.mp3"
    result = build_seed(b, tmp_path / "cache-b", "-q")
    assert result.returncode == 0, result.stderr
    a = seed_session.mp3.read_bytes()
    assert a == b.read_bytes()
    assert seed_rebuilt.mp3.read_bytes() == a
    assert json.loads(seed_rebuilt.mp3.with_suffix(".json").read_text()) == seed_session.plan
