"""Every session option, measured on the real output: the MP3 decoded again, its chapters, its plan."""
from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import DATA, SEED

from voiceguide.cli import cli

SMALL = (DATA / "desk-break.yaml").read_text()


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("flag-cache")


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("routine") / "desk-break.yaml"
    path.write_text(SMALL)
    return path


class Session:
    """A built session: decoded samples, plan, chapters (from the MP3's ID3 frames)."""

    def __init__(self, mp3: Path) -> None:
        import soundfile
        from mutagen.id3 import ID3
        from mutagen.mp3 import MP3

        self.mp3 = mp3
        self.samples, self.rate = soundfile.read(str(mp3), dtype="float32")
        self.plan = json.loads(mp3.with_suffix(".json").read_text())
        self.vtt = mp3.with_suffix(".vtt").read_text()
        tags = ID3(str(mp3))
        order = tags.getall("CTOC")[0].child_element_ids
        chaps = {c.element_id: c for c in tags.getall("CHAP")}
        self.chapters = [(str(chaps[i].sub_frames["TIT2"]), chaps[i].start_time, chaps[i].end_time) for i in order]
        info = MP3(str(mp3)).info
        assert info is not None
        self.bitrate = info.bitrate

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate

    def speech(self, role: str | None = None) -> list[dict]:
        return [e for e in self.plan["events"] if e["kind"] == "speech" and (role is None or e["role"] == role)]

    def db(self, start_ms: int, end_ms: int) -> float:
        x = self.samples[start_ms * self.rate // 1000: end_ms * self.rate // 1000]
        return float(20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12))

    def dominant_hz(self, start_ms: int, end_ms: int) -> float:
        x = self.samples[start_ms * self.rate // 1000: end_ms * self.rate // 1000]
        spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
        return float(np.fft.rfftfreq(len(x), 1 / self.rate)[np.argmax(spectrum)])

    def lufs(self) -> float:
        import pyloudnorm

        return pyloudnorm.Meter(self.rate).integrated_loudness(self.samples.astype(np.float64))


def build(tmp_path: Path, cache: Path, routine, *flags: str, name: str = "s.mp3") -> Session:
    out = tmp_path / name
    result = CliRunner().invoke(cli, ["build", str(routine), "-q", "-o", str(out), *flags],
                                env={"VOICEGUIDE_CACHE_DIR": str(cache)}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return Session(out)


def test_pace_makes_every_hold_longer(tmp_path, shared_cache, seed):
    s = build(tmp_path, shared_cache, SEED, "--pace", "1.5")
    holds = {e.name: e.duration_ms for e in seed.exercises}
    exercise_chapters = [c for c in s.chapters if c[0] in holds]
    assert len(exercise_chapters) == 7
    setup = {c["title"]: c["setup_ms"] for c in s.plan["chapters"]}  # set-up gaps come before the hold
    for title, start, end in exercise_chapters:
        assert abs((end - start) - setup[title] - 1.5 * holds[title]) <= 10, title
    assert abs(s.seconds - s.plan["duration_ms"] / 1000) <= 0.1
    assert s.plan["duration_ms"] == 30_000 + 495_000 + s.plan["setup_added_ms"]  # intro and outro keep 30 s
    assert "One minute, thirty seconds." in s.vtt


def test_duration_fits_the_session_exactly_keeping_proportions(tmp_path, shared_cache, seed):
    s = build(tmp_path, shared_cache, SEED, "--duration", "10:00")
    assert 600.0 <= s.seconds <= 600.1 and s.plan["duration_ms"] == 600_000
    holds = {e.name: e.duration_ms for e in seed.exercises}
    setup = {c["title"]: c["setup_ms"] for c in s.plan["chapters"]}  # set-up gaps come before the hold
    spans = {t: end - start - setup[t] for t, start, end in s.chapters if t in holds}
    scale = sum(spans.values()) / sum(holds.values())
    for title, span in spans.items():  # in proportion, in whole 5 s
        assert span % 5000 <= 10 and abs(span - holds[title] * scale) < 5000, title
    assert "Ten minutes, seven exercises." in s.vtt


def _wpm(events: list[dict]) -> list[float]:
    return [len(e["text"].split()) / ((e["end_ms"] - e["start_ms"]) / 60_000)
            for e in events if len(e["text"].split()) >= 6]


@pytest.mark.parametrize("rate", [120, 200])
def test_rate_is_measured_on_every_sentence(tmp_path, shared_cache, small, rate):
    s = build(tmp_path, shared_cache, small, "--rate", str(rate), "--detail", "full")
    rates = _wpm(s.speech())
    assert len(rates) >= 3
    assert all(abs(r - rate) <= 0.10 * rate for r in rates), rates
    for e in s.speech():  # and the audio really holds speech for that long
        assert s.db(e["start_ms"], e["end_ms"]) > -40


def test_volume_lowers_the_loudness(tmp_path, shared_cache, small):
    loud = build(tmp_path, shared_cache, small, name="loud.mp3")
    quiet = build(tmp_path, shared_cache, small, "--volume", "0.5", name="quiet.mp3")
    assert -17 <= loud.lufs() <= -15
    assert abs((loud.lufs() - quiet.lufs()) - 6.02) <= 0.5


def test_detail_brief_and_full(tmp_path, shared_cache, small):
    brief = build(tmp_path, shared_cache, small, "--detail", "brief", name="brief.mp3")
    full = build(tmp_path, shared_cache, small, "--detail", "full", name="full.mp3")
    assert {e["role"] for e in brief.speech()} <= {"title", "overview", "begin", "name", "length", "switch",
                                                  "countdown", "complete"}
    assert "instruction" in {e["role"] for e in full.speech()}
    tips = [e["text"] for e in full.speech("tip")]
    assert len(tips) > len(set(tips))  # full repeats tips where the hold has room
    # brief leaves more silence: less of the session is speech
    brief_speech = sum(e["end_ms"] - e["start_ms"] for e in brief.speech())
    full_speech = sum(e["end_ms"] - e["start_ms"] for e in full.speech())
    assert brief_speech < full_speech / 2


@pytest.mark.parametrize("count", [0, 5])
def test_countdown(tmp_path, shared_cache, small, count):
    s = build(tmp_path, shared_cache, small, "--countdown", str(count))
    numbers = s.speech("countdown")
    assert len(numbers) == count * 2
    for title, start, end in s.chapters[1:3]:
        mine = [e for e in numbers if start <= e["start_ms"] < end]
        assert [end - e["start_ms"] for e in mine] == [1000 * k for k in range(count, 0, -1)]
        for e in mine:
            assert s.db(e["start_ms"], e["end_ms"]) > -40


def test_no_intro_starts_with_the_first_exercise(tmp_path, shared_cache, small):
    s = build(tmp_path, shared_cache, small, "--no-intro")
    assert s.chapters[0][:2] == ("Neck Tilt", 0)
    assert s.speech()[0]["text"] == "Neck Tilt."
    assert abs(s.dominant_hz(20, 1000) - 587.3) < 5  # the bell opens the session


def test_no_next_up(tmp_path, shared_cache, small):
    with_next = build(tmp_path, shared_cache, small, name="with.mp3")
    without = build(tmp_path, shared_cache, small, "--no-next-up", name="without.mp3")
    assert "Next up: Chest Opener." in with_next.vtt
    assert "Next up" not in without.vtt
    said = with_next.speech("next")[0]
    assert with_next.db(said["start_ms"], said["end_ms"]) > -40


def test_sides_each_holds_each_side_in_full(tmp_path, shared_cache, small):
    s = build(tmp_path, shared_cache, small, "--sides", "each")
    title, start, end = s.chapters[1]
    assert title == "Neck Tilt" and end - start == 2 * 40_000 + 5_000
    assert "Forty seconds each side." in s.vtt
    switch = s.speech("switch")[0]
    assert abs(switch["start_ms"] - (start + end) // 2) <= 1000
    assert s.chapters[2][2] - s.chapters[2][1] == 30_000  # one-sided holds are unchanged


def test_chime_choices(tmp_path, shared_cache, small):
    bowl = build(tmp_path, shared_cache, small, "--chime", "bowl", name="bowl.mp3")
    for _, start, _ in bowl.chapters:
        assert abs(bowl.dominant_hz(start + 20, start + 1100) - 293.7) < 5
    tone = tmp_path / "tone.wav"
    t = np.arange(22050) / 22050
    with wave.open(str(tone), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(22050)
        w.writeframes((np.sin(2 * np.pi * 1000 * t) * np.exp(-3 * t) * 20000).astype("<i2").tobytes())
    own = build(tmp_path, shared_cache, small, "--chime", str(tone), name="own.mp3")
    for _, start, _ in own.chapters:
        assert abs(own.dominant_hz(start + 20, start + 900) - 1000) < 5
    silent = build(tmp_path, shared_cache, small, "--chime", "none", name="none.mp3")
    assert not [e for e in silent.plan["events"] if e["kind"] == "chime"]
    for _, start, _ in silent.chapters[1:]:
        assert silent.db(start + 20, start + 1000) < -50  # nothing rings at the boundary


def test_bitrate(tmp_path, shared_cache, small):
    assert build(tmp_path, shared_cache, small, "--bitrate", "128").bitrate == 128_000
    assert build(tmp_path, shared_cache, small, name="d.mp3").bitrate == 96_000


def test_voice_changes_the_voice(tmp_path, shared_cache, small):
    us = build(tmp_path, shared_cache, small, name="us.mp3")
    gb = build(tmp_path, shared_cache, small, "--voice", "en-gb", name="gb.mp3")
    assert us.plan["made_with"]["voice"] == "gmw/en-us" and gb.plan["made_with"]["voice"] == "gmw/en"
    assert us.mp3.read_bytes() != gb.mp3.read_bytes()


def test_routine_options_apply_and_flags_win(tmp_path, shared_cache, small):
    with_options = small.parent / "with-options.yaml"
    with_options.write_text(SMALL + "options:\n  chime: none\n  countdown: 0\n  rate: 130\n")
    s = build(tmp_path, shared_cache, with_options, name="opt.mp3")
    assert not [e for e in s.plan["events"] if e["kind"] == "chime"] and not s.speech("countdown")
    assert s.plan["made_with"]["rate_wpm"] == 130
    flagged = build(tmp_path, shared_cache, with_options, "--countdown", "2", name="flag.mp3")
    assert len(flagged.speech("countdown")) == 4 and flagged.plan["made_with"]["chime"] == "none"




def test_piper_engine_builds_offline_at_the_asked_rate(tmp_path, shared_cache, small, monkeypatch):
    pytest.importorskip("piper", reason="the neural extra is not installed")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    s = build(tmp_path, shared_cache, small, "--engine", "piper", "--rate", "140", "--detail", "full")
    assert s.plan["made_with"]["engine"].startswith("piper") and s.plan["made_with"]["voice"] == "en_US-joe-medium"
    rates = _wpm(s.speech())
    assert rates and all(abs(r - 140) <= 14 for r in rates), rates
    for e in s.speech():
        assert s.db(e["start_ms"], e["end_ms"]) > -40
    assert 100.0 <= s.seconds <= 100.1


def test_missing_piper_extra_says_how_to_install(monkeypatch):
    import sys

    from voiceguide import voice
    from voiceguide.errors import EngineError

    monkeypatch.setitem(sys.modules, "piper", None)
    monkeypatch.setattr(voice, "_STARTED", {})  # as in a process that has not started piper yet
    with pytest.raises(EngineError, match=r"pip install 'voiceguide\[neural\]'"):
        voice.get_engine("piper")


# The option table: one row per option; everything else is derived from it.

def _bad_values(option) -> list[str]:
    """Values a user might give that the option must refuse, written as on the command line."""
    from voiceguide.options import OptionKind

    if option.kind in (OptionKind.INT, OptionKind.FLOAT):
        low, high = option.range
        return ["fast", "nan", "inf", f"{high + 1:g}", f"{low - 1:g}", "9" * 400]
    if option.kind is OptionKind.CHOICE:
        return ["loads", "0"]
    if option.kind is OptionKind.DURATION:
        return ["fast", "999:59:59", "9" * 400, "2024-01-01", "1:75"]
    if option.kind is OptionKind.TEXT:
        return ["a\x01b"]
    return []


def _option_cases() -> list[tuple[str, str]]:
    from voiceguide.options import OPTIONS

    return [(o.name, bad) for o in OPTIONS.values() for bad in _bad_values(o)]


@pytest.mark.parametrize("name, bad", _option_cases())
def test_a_bad_value_says_the_same_from_a_flag_and_from_the_file(name, bad, tmp_path, capsys):
    from voiceguide.cli import main
    from voiceguide.options import OPTIONS

    option = OPTIONS[name]
    with pytest.raises(SystemExit) as info:
        main(["plan", str(SEED), "-q", option.flag, bad])
    flag_err = capsys.readouterr().err
    assert info.value.code == 2 and "Traceback" not in flag_err
    from_flag = flag_err.split(f"Invalid value for '{option.flag}': ", 1)[1].strip()

    routine = tmp_path / "r.yaml"
    written = bad if bad.isprintable() else '"' + bad.encode("unicode_escape").decode() + '"'
    routine.write_text(f"title: T\nexercises:\n  - name: A\n    duration: 30\noptions:\n  {name}: {written}\n")
    with pytest.raises(SystemExit) as info:
        main(["check", str(routine)])
    file_err = capsys.readouterr().err
    assert info.value.code == 2 and "Traceback" not in file_err
    assert file_err.startswith(f"error: {routine}:6:{5 + len(name)}: options.{name}: "), file_err
    assert file_err.split(f"options.{name}: ", 1)[1].strip() == from_flag
    assert from_flag.startswith("expected ")


def test_every_option_has_a_flag_an_example_and_its_default_in_help():
    from voiceguide.options import OPTIONS, OptionKind

    help_text = " ".join(CliRunner().invoke(cli, ["build", "--help"], terminal_width=1000).output.split())
    for option in OPTIONS.values():
        assert option.example.startswith(option.flag if option.kind is not OptionKind.FLAG else ("--", ))
        assert f"Example: {option.example}" in help_text, option.name
        if option.default is not None:
            assert f"Default: {option.default_text()}." in help_text, option.name
    assert "Default: 150. Example: --rate 135" in help_text and "--intro / --no-intro" in help_text


def test_defaults_are_defined_once_in_the_table():
    from voiceguide.build import BuildOptions, build_options
    from voiceguide.options import OPTIONS, Settings, defaults
    from voiceguide.speech import VoiceSettings

    default = {name: o.default for name, o in OPTIONS.items()}
    assert VoiceSettings().rate_wpm == default["rate"] == 150 and VoiceSettings().engine == default["engine"]
    assert BuildOptions().bitrate_kbps == default["bitrate"] == 96
    assert (BuildOptions().chime, BuildOptions().volume) == (default["chime"], default["volume"])
    built = build_options(Settings())
    assert built == BuildOptions(plan=built.plan)  # the table's defaults are what a bare build gets
    assert (built.plan.countdown, built.plan.pace, built.plan.detail.value) == (3, 1.0, "standard")
    assert dict(defaults()) == {k: v for k, v in default.items() if v is not None}


def test_settings_layer_and_stay_immutable():
    from voiceguide.options import Settings

    routine = Settings(pace=1.5, chime="none")
    flags = Settings({"pace": 2.0, "rate": None})
    assert dict(flags.over(routine)) == {"pace": 2.0, "chime": "none"}
    with pytest.raises(TypeError, match="unknown option"):
        Settings(speed=2)
    with pytest.raises(TypeError):
        routine["pace"] = 3  # type: ignore[index]
    assert hash(Settings(pace=1.5)) == hash(Settings({"pace": 1.5}))


_LAUNCHER = """
import sys
from voiceguide.options import Option, OptionKind, add_option

add_option(Option("breaths", OptionKind.INT, 4, "Slow breaths counted between exercises.", "--breaths 6",
                  noun="a number of breaths", range=(0, 12), metavar="N"))
from voiceguide.cli import main

main(sys.argv[1:])
"""


def test_a_new_option_is_one_row_of_the_table(tmp_path):
    """A row added in one place is a flag, a key of `options:` checked with file:line:column, and
    part of the schema."""
    import subprocess
    import sys

    import jsonschema
    import yaml

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", _LAUNCHER, *args], capture_output=True, text=True,
                              cwd=tmp_path, timeout=120, check=False)

    help_text = " ".join(run("build", "--help").stdout.split())
    assert ("--breaths N Slow breaths counted between exercises. Default: 4. Example: --breaths 6"
            in help_text)
    assert "--breaths" in run("plan", "--help").stdout

    schema = json.loads(run("schema").stdout)
    assert schema["properties"]["options"]["properties"]["breaths"] == {
        "type": "integer", "minimum": 0, "maximum": 12, "description": "Slow breaths counted between exercises.",
        "default": 4}
    routine = tmp_path / "r.yaml"
    base = "title: T\nexercises:\n  - name: A\n    duration: 30\noptions:\n  breaths: {}\n"
    routine.write_text(base.format(6))
    jsonschema.validate(yaml.safe_load(routine.read_text()), schema)
    ok = run("check", str(routine))
    assert ok.returncode == 0 and ": ok: T, 1 exercise," in ok.stdout, ok.stderr

    routine.write_text(base.format(13))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(yaml.safe_load(routine.read_text()), schema)
    bad = run("check", str(routine))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr == f"error: {routine}:6:12: options.breaths: expected a number of breaths from 0 to 12, got 13\n"
    flag = run("plan", "lower-back-relief", "--breaths", "13")
    assert flag.returncode == 2
    assert "Invalid value for '--breaths': expected a number of breaths from 0 to 12, got 13" in flag.stderr

    unknown = subprocess.run([sys.executable, "-m", "voiceguide", "check", str(routine)], capture_output=True,
                             text=True, cwd=tmp_path, timeout=120, check=False)
    assert unknown.returncode == 2 and "options.breaths: unknown field" in unknown.stderr  # only with the row
