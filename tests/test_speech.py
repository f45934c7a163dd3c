"""The real default engine (pyttsx3 on eSpeak NG): clips come out whole, at the asked rate, once."""
from __future__ import annotations

import wave

import numpy as np

import pytest

from voiceguide.cache import ClipCache, clip_key, is_complete_wav
from voiceguide.errors import EngineError
from voiceguide.plan import Utterance
from voiceguide.speech import SAMPLE_RATE, SpokenClips, VoiceSettings, prepare_clip, read_wav, samples_to_ms
from voiceguide.voice import get_engine, resolve_voice

SENTENCE = "Kneel with knees hip-width apart, then step one foot forward so both knees are bent at ninety degrees."
WORDS = len(SENTENCE.split())


@pytest.fixture(scope="module")
def engine():
    return get_engine("pyttsx3")


def test_rate_is_honoured_even_when_it_changes_between_clips(engine, tmp_path, capfd):
    """pyttsx3 on eSpeak ignores many rate changes unless waited for; alternate rates and measure."""
    lengths: dict[int, list[int]] = {}
    for i, rate in enumerate((150, 100, 200, 150, 100, 200, 120, 180) * 2):
        wav = tmp_path / f"{i}.wav"
        engine.synthesize(SENTENCE, engine.default_voice(), rate, wav)
        lengths.setdefault(rate, []).append(len(prepare_clip(*read_wav(wav))))
    for rate, n in lengths.items():
        assert max(n) - min(n) <= SAMPLE_RATE // 50, (rate, n)  # the same rate, the same length, every time
    base = lengths[150][0]
    for rate, n in lengths.items():
        assert base / n[0] == pytest.approx(rate / 150, rel=0.10), {r: v[0] for r, v in lengths.items()}
    assert "Audio saved" not in capfd.readouterr().out


def test_clips_are_trimmed_resampled_and_faded(engine, tmp_path):
    clips = SpokenClips(engine, VoiceSettings(), ClipCache(tmp_path))
    x = clips.clip(Utterance("Switch sides."))
    assert 300 < samples_to_ms(len(x)) < 1500
    assert abs(float(x[0])) < 1e-3 and abs(float(x[-1])) < 1e-3  # faded: no click at either edge
    edge = SAMPLE_RATE // 50
    assert float(abs(x[:edge]).max()) < float(abs(x).max())


def test_cache_reuses_and_repairs_clips(engine, tmp_path):
    cache = ClipCache(tmp_path)
    first = SpokenClips(engine, VoiceSettings(), cache)
    a = first.clip(Utterance("Next up: Hurdler."))
    assert (first.synthesized, first.cached) == (1, 0)
    again = SpokenClips(engine, VoiceSettings(), cache)
    assert (again.clip(Utterance("Next up: Hurdler.")) == a).all()
    assert (again.synthesized, again.cached) == (0, 1)
    # a truncated entry is detected and spoken again
    key = clip_key(engine.name, engine.version(), again.voice, again.rate_for(Utterance("Next up: Hurdler.")),
                   "Next up: Hurdler.")
    path = cache.path(key)
    path.write_bytes(path.read_bytes()[:200])
    assert not is_complete_wav(path)
    repaired = SpokenClips(engine, VoiceSettings(), cache)
    b = repaired.clip(Utterance("Next up: Hurdler."))
    # every clip is spoken by a fresh copy of the same engine state, so the repair is exact
    assert np.array_equal(a, b)
    assert repaired.synthesized == 1 and is_complete_wav(path)


def test_engine_writes_a_checked_wav(engine, tmp_path):
    out = tmp_path / "x.wav"
    engine.synthesize("Routine complete.", engine.default_voice(), 150, out)
    with wave.open(str(out)) as w:
        assert w.getnframes() > 0 and w.getnchannels() == 1


def test_voice_lookup(engine):
    voices = engine.voices()
    assert any(v.id == engine.default_voice() for v in voices)
    assert resolve_voice(engine, None) == engine.default_voice()
    assert resolve_voice(engine, engine.default_voice().upper()) == engine.default_voice()
    with pytest.raises(EngineError, match="no pyttsx3 voice matches"):
        resolve_voice(engine, "klingon-opera")
    with pytest.raises(EngineError, match="matches several voices"):
        resolve_voice(engine, "english")


def test_unknown_engine_lists_the_known_ones():
    with pytest.raises(EngineError, match='unknown speech engine "pytsx3".*pyttsx3.*Did you mean "pyttsx3"'):
        get_engine("pytsx3")
