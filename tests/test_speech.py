"""The real default engine (pyttsx3 on eSpeak NG): clips come out whole, at the asked rate, once."""
from __future__ import annotations

import numpy as np
import pytest

from voiceguide.audio import SAMPLE_RATE, Audio, is_complete_wav, samples_to_ms
from voiceguide.cache import ClipCache, clip_key
from voiceguide.engines.base import Engine, SpeechJob, Utterance, VoiceInfo
from voiceguide.errors import EngineError
from voiceguide.speech import SpokenClips, VoiceSettings, prepare_clip
from voiceguide.voice import get_engine, resolve_voice, speak_all

SENTENCE = "Kneel with knees hip-width apart, then step one foot forward so both knees are bent at ninety degrees."
WORDS = len(SENTENCE.split())


@pytest.fixture(scope="module")
def engine():
    return get_engine("pyttsx3")


def test_rate_is_honoured_even_when_it_changes_between_clips(engine, tmp_path, capfd):
    """pyttsx3 on eSpeak ignores many rate changes unless waited for; alternate rates and measure."""
    lengths: dict[int, list[int]] = {}
    for rate in (150, 100, 200, 150, 100, 200, 120, 180) * 2:
        audio = engine.synthesize(SENTENCE, engine.default_voice(), rate)
        lengths.setdefault(rate, []).append(len(prepare_clip(audio.to_float(), audio.rate)))
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


def test_engine_returns_sixteen_bit_audio(engine):
    audio = engine.synthesize("Routine complete.", engine.default_voice(), 150)
    assert audio.pcm16.dtype == np.dtype("<i2") and audio.rate > 8000
    assert 0.3 < audio.seconds < 3 and int(np.abs(audio.pcm16).max()) > 1000
    # speaking several at once (forked children on Linux) gives each job the same audio as alone
    got: dict[int, Audio] = {}
    jobs = [SpeechJob(t, engine.default_voice(), 150) for t in ("Routine complete.", "Switch sides.")]
    speak_all(engine, jobs, 2, got.__setitem__)
    assert sorted(got) == [0, 1] and np.array_equal(got[0].pcm16, audio.pcm16)


class _Minimal(Engine):
    """An engine with only what the interface requires: every optional part has a default."""

    name = "minimal"

    def version(self) -> str:
        return "1"

    def voices(self) -> list[VoiceInfo]:
        return [VoiceInfo("v", "Voice")]

    def default_voice(self) -> str:
        return "v"

    def synthesize(self, text: str, voice: str, rate: int) -> Audio:
        if text == "fail":
            raise RuntimeError("driver fell over")
        return Audio(np.full(rate, 1000, dtype="<i2"), 8000)


def test_an_engine_needs_only_the_required_parts():
    engine = _Minimal()
    assert engine.rate_hint(150) == 150 and engine.resolve_voice("v.onnx") is None
    got: dict[int, int] = {}
    speak_all(engine, [SpeechJob("a", "v", 100), SpeechJob("b", "v", 200)], 2,
              lambda i, audio: got.__setitem__(i, len(audio.pcm16)))
    assert got == {0: 100, 1: 200}
    with pytest.raises(EngineError, match='minimal failed while speaking "fail": driver fell over'):
        speak_all(engine, [SpeechJob("fail", "v", 100)], 1, lambda i, audio: None)

    class Incomplete(Engine):
        name = "incomplete"

        def version(self) -> str:
            return "1"

    with pytest.raises(TypeError):
        Incomplete()  # type: ignore[abstract]


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
