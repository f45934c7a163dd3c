"""The music bed: ducked exactly where the plan speaks, looped where the music repeats itself, levelled
under the voice, decoded a little at a time; and a real build with a known test tone as the bed,
decoded and measured (the voice apart from the tone by frequency: eSpeak's speech has nothing above
11 kHz, the tone is at 14 kHz)."""
from __future__ import annotations

import itertools
import json
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner
from conftest import DATA
from scipy.signal import butter, sosfilt, sosfiltfilt

from voiceguide.audio import db_to_gain, ms_to_samples
from voiceguide.build import BuildOptions, Reporter, build_session
from voiceguide.cache import ClipCache
from voiceguide.cli import cli, main
from voiceguide.engines.base import Utterance
from voiceguide.errors import VoiceguideError
from voiceguide.loudness import k_weighting_sos
from voiceguide.mp3 import MP3_DELAY, MP3_FRAME, frames_of, reservoir_lead_frames
from voiceguide.music import (
    CHIME_DIP_DB,
    DUCK_ATTACK_MS,
    DUCK_RELEASE_MS,
    Bed,
    Dip,
    MusicSettings,
    crossfade_gains,
    dips,
    open_music,
)
from voiceguide.plan import Event, Kind, Plan, Priority, Role
from voiceguide.routine import load_routine

RATE = 44100
TONE_HZ = 14_000


def _plan(total_ms: int, lines: list[tuple[int, int]], chimes: list[tuple[int, int]] = (),
          names: tuple[int, ...] = ()) -> Plan:
    """Lines (start, end), TIP but those whose index is in `names`, which are exercise names."""
    events = [Event(kind=Kind.SPEECH, start_ms=a, duration_ms=b - a, priority=Priority.MUST, exercise=None,
                    role=Role.NAME if i in names else Role.TIP, text=f"line {i}", utterance=Utterance(f"line {i}"))
              for i, (a, b) in enumerate(lines)]
    events += [Event(kind=Kind.CHIME, start_ms=a, duration_ms=b - a, priority=Priority.MUST, exercise=None,
                     role=Role.CHIME, sound="bell") for a, b in chimes]
    return Plan(title="t", duration_ms=total_ms, events=tuple(sorted(events, key=lambda e: e.start_ms)),
                chapters=(), dropped=())


def _write(path: Path, x: np.ndarray, rate: int = RATE, **kwargs) -> Path:
    soundfile.write(str(path), np.asarray(x, dtype=np.float32), rate, **kwargs)
    return path


def _tone(seconds: float, rate: int = 48_000, hz: float = TONE_HZ, amplitude: float = 0.1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return amplitude * np.sin(2 * np.pi * hz * t)


def _chords(seconds: float, cycle_s: float = 6.0, rate: int = RATE) -> np.ndarray:
    """Steady synthetic music: four chords, each held a quarter of `cycle_s` and blended into the next,
    at an even level; its frequencies do not repeat exactly with the cycle (as a played loop would not)."""
    t = np.arange(int(seconds * rate)) / rate
    chords = [(220.0, 277.2, 329.6), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6), (164.8, 207.7, 246.9)]
    slot = cycle_s / len(chords)
    bumps = [np.clip(np.cos(np.pi * ((t - (j + 0.5) * slot + cycle_s / 2) % cycle_s - cycle_s / 2) / (2 * slot)),
                     0, None) ** 2 for j in range(len(chords))]
    total = np.sum(bumps, axis=0)
    x = sum(w / total * sum(np.sin(2 * np.pi * f * t + i) for i, f in enumerate(chord)) / 3
            for w, chord in zip(bumps, chords))
    return 0.2 * x


def _rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


# -- where the bed goes down: from the plan alone ------------------------------------------------------

def test_sounds_less_than_a_second_apart_share_one_dip_and_a_chime_alone_dips_a_little():
    plan = _plan(20_000, [(1000, 2000), (2800, 3500), (5000, 6000), (12_000, 12_500), (14_900, 15_500)],
                 chimes=[(8000, 9800), (13_000, 14_800)])  # the second: a countdown, a chime, a name
    assert dips(plan, 12.0) == (Dip(1000, 3500, 12.0), Dip(5000, 6000, 12.0), Dip(8000, 9800, CHIME_DIP_DB),
                                Dip(12_000, 15_500, 12.0))


def test_an_exercise_name_and_the_countdown_joined_to_it_go_8_db_further_down():
    plan = _plan(20_000, [(1000, 1500), (2000, 2500), (3000, 3500), (5200, 6000), (9000, 10_000)], names=(3,),
                 chimes=[(4000, 5000)])  # three, two, one, the chime, the name; a tip on its own
    assert dips(plan, 12.0) == (Dip(1000, 6000, 20.0), Dip(9000, 10_000, 12.0))
    assert dips(plan, 36.0)[0].depth_db == 40.0  # no deeper than the deepest --duck-db


@pytest.fixture(scope="module")
def tone_file(tmp_path_factory) -> Path:
    """30 s of a 14 kHz tone at 48 kHz: shorter than the sessions here (it loops) and resampled."""
    return _write(tmp_path_factory.mktemp("tone") / "tone.wav", _tone(30), 48_000, subtype="PCM_16")


def test_the_bed_is_down_exactly_where_the_plan_speaks(tone_file):
    """Sample for sample: all the way down (duck-db) from each line's first sample to its last, going down
    over the 150 ms before it and back up over the 500 ms after; down across a gap under a second; up
    between lines; a small dip under a chime; faded in at the start and out at the end."""
    lines = [(10_000, 12_000), (12_800, 14_000), (20_000, 21_000)]
    plan = _plan(40_000, lines, chimes=[(30_000, 31_800)])
    bed = Bed(open_music(str(tone_file)), MusicSettings(str(tone_file), duck_db=12.0), plan, RATE)
    curve = bed.gain_curve(0, bed.length)
    down = np.float32(db_to_gain(-12.0))
    s = lambda ms: ms_to_samples(ms, RATE)
    assert np.all(curve[s(10_000):s(14_000)] == down)  # both lines and the 800 ms between them
    assert np.all(curve[s(20_000):s(21_000)] == down)
    attack, release = s(DUCK_ATTACK_MS), s(DUCK_RELEASE_MS)
    assert np.all(curve[s(5_000):s(10_000) - attack] == 1.0)  # up until 150 ms before the line
    ramp = curve[s(10_000) - attack:s(10_000)]
    assert np.all(np.diff(ramp) <= 0) and down < ramp[len(ramp) // 2] < 1.0
    assert ramp[0] > 0.999 and ramp[-1] < down * 1.001  # smooth: no step at either end
    back = curve[s(14_000):s(14_000) + release]
    assert np.all(np.diff(back) >= 0) and down < back[len(back) // 2] < 1.0
    assert back[0] < down * 1.001 and back[-1] > 0.999
    assert np.all(curve[s(14_000) + release:s(20_000) - attack] == 1.0)
    assert curve[s(30_500)] == np.float32(db_to_gain(-CHIME_DIP_DB))
    assert curve[0] < 1e-3 and curve[s(4_000)] == 1.0 and curve[-1] < 1e-3  # the fades


def test_bed_samples_depend_on_their_position_only(tone_file):
    plan = _plan(70_000, [(5_000, 7_000), (40_000, 41_000)])
    one = Bed(open_music(str(tone_file)), MusicSettings(str(tone_file)), plan, RATE)
    two = Bed(open_music(str(tone_file)), MusicSettings(str(tone_file)), plan, RATE)
    one.open()
    two.open()
    try:
        whole = one.span(-1000, one.length + 1000)
        pieces = np.concatenate([two.span(a, min(a + 12_345, two.length + 1000))
                                 for a in range(-1000, two.length + 1000, 12_345)])
        assert np.array_equal(whole, pieces)
        assert not whole[:1000].any() and not whole[-1000:].any()  # nothing outside the session
    finally:
        one.close()
        two.close()


# -- looping ---------------------------------------------------------------------------------------------

def test_crossfade_keeps_the_power_for_sound_alike_or_unrelated():
    fade_in, fade_out = crossfade_gains(1000, 0.0)
    assert np.allclose(fade_in ** 2 + fade_out ** 2, 1.0, atol=1e-6)
    fade_in, fade_out = crossfade_gains(1000, 1.0)
    assert np.allclose(fade_in + fade_out, 1.0, atol=1e-6)
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(2, 1000))
    fade_in, fade_out = crossfade_gains(1000, 0.0)
    assert abs(_rms_db(a * fade_out + b * fade_in) - _rms_db(a)) < 0.5


def test_calm_loops_on_its_own_32_second_cycle():
    bed = Bed(open_music("calm"), MusicSettings("calm"), _plan(120_000, []), RATE)
    bed.open()
    try:
        loop = bed.track.loop
        assert loop is not None and abs(loop.period - 32 * RATE) <= 2 and loop.correlation > 0.98
        assert loop.crossfade >= 2 * RATE
    finally:
        bed.close()


def test_short_music_loops_a_whole_cycle_back_without_a_seam(tmp_path):
    """Chords in a 6 s cycle, 20 s of them: the loop goes back two whole cycles (12 s, within 100 ms),
    and the bed's level stays as even as the music's own through every crossfade, with nothing
    above the music's own frequencies (no click)."""
    music = _write(tmp_path / "chords.flac", _chords(20.0))
    bed = Bed(open_music(str(music)), MusicSettings(str(music)), _plan(70_000, []), RATE)
    bed.open()
    try:
        loop = bed.track.loop
        assert loop is not None and abs(loop.period - 12 * RATE) <= RATE // 10
        assert loop.crossfade >= 2 * RATE
        x = bed.span(0, bed.length)
    finally:
        bed.close()
    body = x[5 * RATE: -6 * RATE]  # past the fades
    hop = RATE // 10
    levels = [_rms_db(body[i:i + hop]) for i in range(0, len(body) - hop, hop)]
    own = [_rms_db(c) for c in np.array_split(_chords(20.0)[:19 * RATE], 190)]
    assert max(levels) - min(levels) <= max(own) - min(own) + 1.0
    high = sosfiltfilt(butter(8, 4000, "high", fs=RATE, output="sos"), body)
    assert np.abs(high).max() < 1e-3


def test_the_beds_loudness_is_worked_out_as_measuring_it_rendered_would_give(tmp_path):
    """Each 100 ms of the bed's K-weighted energy, from the music's own loudness where the session plays
    it: against the bed rendered and measured, the same loudness to 0.05 LU (music off the 100 ms grid,
    looping, under dips and fades)."""
    from voiceguide.loudness import KWeighting, integrated_loudness, sums

    music = _write(tmp_path / "chords.flac", np.concatenate([np.zeros(12_345), _chords(20.0)]))
    plan = _plan(70_000, [(5_000, 7_000), (7_500, 9_000), (30_000, 31_000)], chimes=[(50_000, 51_800)])
    bed = Bed(open_music(str(music)), MusicSettings(str(music)), plan, RATE)
    bed.open()
    try:
        k = KWeighting(RATE)
        rendered = sums(k.power(bed.span(-k.memory, bed.length), k.memory), k.hop)
        worked_out = bed.hop_energies(len(rendered))
    finally:
        bed.close()
    assert abs(integrated_loudness(worked_out, RATE) - integrated_loudness(rendered, RATE)) < 0.05
    sounding = rendered > rendered.max() * 1e-3
    assert np.median(np.abs(10 * np.log10(worked_out[sounding] / rendered[sounding]))) < 0.5


def test_long_music_is_decoded_only_as_far_as_the_session_needs_in_little_memory(tmp_path):
    """Four minutes of stereo at 48 kHz (the decoder's whole output would be 46 MB of floats): a
    one-minute session decodes a minute of it, a five-minute one all of it (and loops), each with a
    few MB of memory at most, the decoded samples kept in a temporary file."""
    t = np.arange(240 * 48_000) / 48_000
    left = 0.1 * np.sin(2 * np.pi * 220 * t) * (1 + 0.3 * np.sin(2 * np.pi * t / 7))
    music = _write(tmp_path / "long.wav", np.stack([left, left[::-1]], axis=1), 48_000, subtype="PCM_16")
    del t, left
    for minutes, decoded in ((1, 60 * RATE), (5, 240 * RATE)):
        bed = Bed(open_music(str(music)), MusicSettings(str(music)), _plan(minutes * 60_000, []), RATE)
        tracemalloc.start()
        try:
            bed.open()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        try:
            assert abs(bed.track._samples.length - decoded) <= 2 * 65_536
            assert (bed.track.loop is not None) == (minutes == 5)
            assert peak < 12_000_000, peak
        finally:
            bed.close()


# -- what is refused, and where ---------------------------------------------------------------------------

@pytest.mark.parametrize("make, expected", [
    (lambda d: d / "missing.wav", "no such file"),
    (lambda d: d, "is not a file"),
    (lambda d: (d / "junk.mp3").write_bytes(b"not really music" * 100) and d / "junk.mp3", "not music voiceguide can decode"),
    (lambda d: _write(d / "silent.wav", np.zeros(10 * RATE)), "silent"),
    (lambda d: _write(d / "short.wav", _tone(3.0, RATE)), "at least 6 s"),
])
def test_a_music_file_that_will_not_do_is_refused_by_name(tmp_path, make, expected):
    path = make(tmp_path)
    with pytest.raises(VoiceguideError) as caught:
        open_music(str(path))
    assert expected in str(caught.value) and str(path.name) in str(caught.value)


def _refused(args: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as info:
        main(args)
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.startswith("error: ") and "Traceback" not in err, err
    return err


def test_a_text_file_named_mp3_is_one_plain_line_without_the_decoders_notes(tmp_path, capfd):
    """libsndfile's MP3 decoder writes its notes on the bad frames to file descriptor 2 itself."""
    fake = tmp_path / "fake.mp3"
    fake.write_text("hello this is text\n")
    for flag in ("--music", "--chime"):
        with pytest.raises(SystemExit) as info:
            main(["build", "lower-back-relief", "-q", flag, str(fake), "-o", str(tmp_path / "out" / "s.mp3")])
        what = "music" if flag == "--music" else "a sound file"
        assert info.value.code == 2
        assert capfd.readouterr().err == (f"error: {fake}: not {what} voiceguide can decode (the format is told "
                                          "from the file's contents, not its name); give a WAV, MP3, OGG or FLAC "
                                          "file\n")
    assert not (tmp_path / "out").exists()


def test_music_and_chime_files_named_in_options_are_found_beside_the_routine(tmp_path, monkeypatch):
    """A physio keeps a patient's routine and music together; the command is run from anywhere."""
    folder = tmp_path / "patients" / "ana"
    folder.mkdir(parents=True)
    _write(folder / "bed.wav", _tone(8.0, RATE))
    _write(folder / "ding.wav", _tone(1.0, RATE))
    routine = folder / "ana.yaml"
    routine.write_text("title: R\noptions:\n  music: bed.wav\n  chime: ding.wav\nexercises:\n  - name: A\n"
                       "    duration: 20\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    loaded = load_routine(routine)
    assert (loaded.options["music"], loaded.options["chime"]) == (str(folder / "bed.wav"), str(folder / "ding.wav"))
    result = CliRunner().invoke(cli, ["check", str(routine)])
    assert result.exit_code == 0, result.output
    # a shipped name, none and a path from the current folder are as written
    (elsewhere / "here.wav").write_bytes((folder / "bed.wav").read_bytes())
    routine.write_text(routine.read_text().replace("bed.wav", "here.wav").replace("ding.wav", "bowl"))
    loaded = load_routine(routine)
    assert (loaded.options["music"], loaded.options["chime"]) == ("here.wav", "bowl")


def test_music_settings_without_music_are_said_to_do_nothing():
    from voiceguide.build import unheard_music_settings
    from voiceguide.options import Settings

    assert unheard_music_settings(Settings({"duck_db": 18.0, "music_volume": -20.0})) == ("--duck-db",
                                                                                         "--music-volume")
    assert unheard_music_settings(Settings({"duck_db": 12.0})) == ()  # the default: nothing was asked
    assert unheard_music_settings(Settings({"duck_db": 18.0, "music": "calm"})) == ()


def test_build_and_check_refuse_bad_music_before_any_work(tmp_path, capsys):
    silent = _write(tmp_path / "silent.wav", np.zeros(10 * RATE))
    routine = tmp_path / "r.yaml"
    routine.write_text(f"title: R\noptions:\n  music: {silent}\nexercises:\n  - name: A\n    duration: 20\n")
    out = tmp_path / "out"
    err = _refused(["build", str(routine), "-q", "-o", f"{out}/"], capsys)
    assert f"{routine}:3:10: options.music: {silent}: the music is silent" in err and not out.exists()
    assert "the music is silent" in _refused(["check", str(routine)], capsys)
    err = _refused(["build", str(routine), "-q", "-o", f"{out}/", "--music", "nope.ogg"], capsys)
    assert 'music "nope.ogg": not a shipped bed (calm) and no such file' in err and not out.exists()
    with pytest.raises(SystemExit) as info:
        main(["build", str(routine), "-q", "--music", "calm", "--music-volume", "-50"])
    assert info.value.code == 2
    assert "'--music-volume': expected a music volume in LU from -40 to -6, got -50" in capsys.readouterr().err


# -- a real build, decoded and measured ---------------------------------------------------------------------

ROUTINE = (DATA / "desk-break.yaml").read_text()


@dataclass(frozen=True)
class Built:
    mp3: Path
    plan: dict
    samples: np.ndarray
    plain: np.ndarray
    """The same routine built without music."""
    cache: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory, tone_file) -> Built:
    folder = tmp_path_factory.mktemp("music-build")
    routine = folder / "desk-break.yaml"
    routine.write_text(ROUTINE)
    cache = folder / "cache"
    runner = CliRunner()
    for name, flags in (("plain.mp3", []), ("tone.mp3", ["--music", str(tone_file), "--split"])):
        result = runner.invoke(cli, ["build", str(routine), "-q", "-o", str(folder / name), *flags],
                               env={"VOICEGUIDE_CACHE_DIR": str(cache)}, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    mp3 = folder / "tone.mp3"
    samples, rate = soundfile.read(str(mp3), dtype="float64")
    plain, _ = soundfile.read(str(folder / "plain.mp3"), dtype="float64")
    assert rate == RATE
    return Built(mp3, json.loads(mp3.with_suffix(".json").read_text()), samples[MP3_DELAY:], plain[MP3_DELAY:],
                 cache)


def _lufs(x: np.ndarray) -> float:
    """K-weighted mean square over the whole of x, as LUFS (no gating: for one line's stretch)."""
    return float(-0.691 + 10 * np.log10(np.mean(sosfilt(k_weighting_sos(RATE), x) ** 2) + 1e-20))


def _integrated(x: np.ndarray) -> float:
    import pyloudnorm

    return float(pyloudnorm.Meter(RATE).integrated_loudness(x))


def _apart(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the voice and chimes, the tone) of a decoded session."""
    return (sosfiltfilt(butter(8, 10_000, "low", fs=RATE, output="sos"), x),
            sosfiltfilt(butter(8, 12_000, "high", fs=RATE, output="sos"), x))


def _spans(plan: dict) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(each line's samples, the middle of every gap of 2.5 s or more between sounds)."""
    s = lambda ms: ms * RATE // 1000
    lines = [(s(e["start_ms"]), s(e["end_ms"])) for e in plan["events"] if e["kind"] == "speech"]
    sounds = sorted((e["start_ms"], e["end_ms"]) for e in plan["events"])
    gaps = [(s(end + 800), s(start - 300)) for (_, end), (start, _) in itertools.pairwise(sounds) if start - end >= 2500]
    return lines, gaps


def test_the_bed_is_ducked_under_every_line_by_the_depth_asked(built):
    """In the MP3: the tone is at least duck-db - 2 dB (10 dB) quieter during every line than between
    lines, where it is as even as the tone itself (within 1 dB, loops and all); and no line has music
    louder than -15 LU relative to it."""
    voice, tone = _apart(built.samples)
    lines, gaps = _spans(built.plan)
    between = [_rms_db(tone[a:b]) for a, b in gaps]
    assert len(lines) >= 8 and len(gaps) >= 4
    assert max(between) - min(between) < 1.0
    for a, b in lines:
        assert _rms_db(tone[a:b]) <= min(between) - (12 - 2)
        assert _lufs(tone[a:b]) - _lufs(voice[a:b]) < -15


def test_the_voice_is_as_loud_as_without_music_and_the_session_at_its_target(built):
    voice, tone = _apart(built.samples)
    plain_voice, _ = _apart(built.plain)
    assert abs(_integrated(voice) - _integrated(plain_voice)) < 1.0
    assert abs(_integrated(built.samples) - (-16.0)) < 1.0
    lines, gaps = _spans(built.plan)
    speech = np.concatenate([voice[a:b] for a, b in lines])
    bed = np.concatenate([tone[a:b] for a, b in gaps])
    assert -17.0 < _lufs(bed) - _integrated(speech) < -13.0  # between lines, about 15 LU under the speech
    assert 20 * np.log10(np.abs(built.samples).max()) < -1.0


def test_the_plan_records_the_music_and_its_gain_curve(built, tone_file):
    made = built.plan["made_with"]
    assert (made["music"], made["music_volume"], made["duck_db"]) == (str(tone_file), -15.0, 12.0)
    bed = made["music_bed"]
    assert bed["sha256"] and bed["loop"]["crossfade_ms"] >= 2000 and bed["loop"]["from_ms"] > bed["loop"]["to_ms"]
    lines = [e for e in built.plan["events"] if e["kind"] == "speech"]
    ducked = [d for d in bed["dips"] if d[2] >= 12.0]
    assert all(any(d[0] <= e["start_ms"] and e["end_ms"] <= d[1] for d in ducked) for e in lines)
    assert all(any(d[0] <= e["start_ms"] < d[1] for e in lines) for d in ducked)  # no deep dip without a line
    # 8 dB further where an exercise's name is said, and only there
    names = [e for e in lines if e["role"] == "name"]
    assert names and {d[2] for d in ducked} == {12.0, 20.0}
    assert all(any(e["start_ms"] < d[1] and d[0] < e["end_ms"] for e in names) == (d[2] == 20.0) for d in ducked)
    chimes = [e for e in built.plan["events"] if e["kind"] == "chime"]
    assert all(any(d[0] <= e["start_ms"] and e["end_ms"] <= d[1] for d in bed["dips"]) for e in chimes)


def test_a_session_with_music_is_named_as_a_variant(built, tone_file):
    from mutagen.id3 import ID3

    tags = ID3(str(built.mp3))
    assert str(tags["TIT2"]) == "Desk Break — tone.wav music"
    assert f"Variant: tone.wav music (--music {tone_file})" in str(tags["COMM::eng"])


def test_replacing_a_session_made_with_other_music_or_none_says_so():
    from voiceguide.build import replaced_differently

    assert replaced_differently({"pace": 1.0}, {"pace": 1.0, "music": "calm", "music_volume": -15.0}) == \
        ["music none (now calm)"]
    assert replaced_differently({"music": "calm", "duck_db": 12.0}, {}) == ["music calm (now none)"]
    assert replaced_differently({"music": "calm", "duck_db": 12.0}, {"music": "calm", "duck_db": 18.0}) == \
        ["music ducking 12.0 (now 18.0)"]
    assert replaced_differently({"pace": 1.0}, {"pace": 1.0}) == []


def _frames(path: Path) -> bytes:
    data = path.read_bytes()
    size = (data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9]
    return data[10 + size:]


def test_chapter_files_under_music_are_the_session_and_decode_alone_from_their_chapter_on(built):
    """Nothing is silent to cut in: each chapter's file starts a few frames before its chapter (the
    frames a player starting there cannot decode), and from its chapter's start on decodes alone to the
    session's own samples."""
    parts = sorted((built.mp3.parent / "tone").glob("*.mp3"))
    assert len(parts) == len(built.plan["chapters"]) == 4
    assert b"".join(_frames(p) for p in parts) == _frames(built.mp3)
    whole, _ = soundfile.read(str(built.mp3), dtype="float32")
    first = 0  # the session's frame each file starts with
    for part, chapter in zip(parts, built.plan["chapters"]):
        decoded, _ = soundfile.read(str(part), dtype="float32")
        at = first * MP3_FRAME
        start = chapter["start_ms"] * RATE // 1000 + MP3_DELAY - at  # the chapter's start, in this file
        assert (start >= reservoir_lead_frames(96) * MP3_FRAME) if first else start >= 0
        n = min(len(decoded), len(whole) - at) - 2 * MP3_FRAME
        assert n - start > RATE
        assert np.abs(decoded[start:n] - whole[at + start:at + n]).max() < 1e-6, part.name
        first += len(frames_of(_frames(part)))


def test_the_stored_mix_is_kept_for_the_same_music_and_not_for_other_music(built, tone_file, tmp_path):
    """The key of a stored mix holds the music file's bytes: the same file reuses it, the same name with
    other sound in it does not."""
    class Stages(Reporter):
        def __init__(self) -> None:
            self.seen: list[str] = []

        def stage(self, message: str) -> None:
            self.seen.append(message)

    routine = load_routine(built.mp3.parent / "desk-break.yaml")
    music = tmp_path / "tone.wav"
    music.write_bytes(tone_file.read_bytes())
    options = BuildOptions(music=MusicSettings(str(music)), split=True)

    def reused() -> bool:
        stages = Stages()
        build_session(routine, tmp_path / "out" / "s.mp3", options, stages, ClipCache(built.cache))
        return any("taken from the cache" in s for s in stages.seen)

    assert not reused()
    assert reused()
    _write(music, _tone(30, amplitude=0.05), 48_000, subtype="PCM_16")
    assert not reused()


def test_the_wheel_ships_calm_and_an_installed_package_finds_it(tmp_path):
    import os
    import subprocess
    import sys
    import zipfile

    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(root)], check=True, capture_output=True, timeout=300)
    wheel = next(tmp_path.glob("voiceguide-*.whl"))
    assert "voiceguide/audio_assets/music/calm.ogg" in zipfile.ZipFile(wheel).namelist()
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = "from voiceguide.music import open_music, shipped_music; print(shipped_music(), open_music('calm').path)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(site)}, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    names, path = result.stdout.split(" ", 1)
    assert names == "['calm']" and path.strip().startswith(str(site))
