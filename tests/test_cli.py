"""The command line as a user meets it: help that teaches, clean errors, exit codes, nothing lost."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import zipfile

import pytest
from click.testing import CliRunner
from conftest import PAUSE_ENV, ROOT, default_signals, finish, wait_for_stage

from voiceguide.cli import cli, main

COMMANDS = ["build", "plan", "check", "voices", "routines"]


def run(*args: str, cwd=ROOT, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "voiceguide", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300, check=False)


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_teaches_with_an_example(command):
    args = ([command] if command else []) + ["--help"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0
    assert "Example:" in result.output and "voiceguide" in result.output


def test_help_lists_every_command():
    out = CliRunner().invoke(cli, ["--help"]).output
    for command in COMMANDS:
        assert f"  {command}" in out


def test_routines_lists_the_seed():
    out = CliRunner().invoke(cli, ["routines"]).output
    assert "lower-back-relief" in out and "6:00" in out and "7 exercises" in out


def test_check_ok_and_bad(tmp_path):
    assert run("check", "lower-back-relief").returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: T\nexercises:\n  - name: A\n    duration: fast\n    sids: both\n")
    result = run("check", str(bad))
    assert result.returncode == 2
    assert f"{bad}:4:15: exercises[0].duration" in result.stderr
    assert f'{bad}:5:5: exercises[0].sids: unknown field; did you mean "sides"?' in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_routine_is_a_clean_error():
    result = run("build", "no-such-routine", "-q")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no-such-routine: no such routine file" in result.stderr and "lower-back-relief" in result.stderr


def test_unknown_voice_and_engine_are_clean_errors(tmp_path):
    result = run("build", "lower-back-relief", "--voice", "klingon-opera", "-o", str(tmp_path / "x.mp3"))
    assert result.returncode == 2 and "no pyttsx3 voice matches" in result.stderr
    result = run("voices", "--engine", "nope")
    assert result.returncode == 2 and "known engines: piper, pyttsx3" in result.stderr
    assert not list(tmp_path.iterdir())


def test_bad_flag_value_exits_2():
    result = run("build", "lower-back-relief", "--detail", "loads")
    assert result.returncode == 2 and "Invalid value for '--detail'" in result.stderr


def test_plan_table_and_json():
    table = run("plan", "lower-back-relief")
    assert table.returncode == 0
    assert "Lower Back Relief: 6:40" in table.stdout and "[Kneeling Psoas]" in table.stdout
    assert "Switch sides." in table.stdout and "Not spoken" in table.stdout
    as_json = run("plan", "lower-back-relief", "--json")
    import json

    plan = json.loads(as_json.stdout)
    assert plan["duration_ms"] == 400_000 and len(plan["chapters"]) == 9


def test_build_default_output_progress_and_quiet(tmp_path, seed_session):
    env = {"VOICEGUIDE_CACHE_DIR": str(seed_session.cache_dir)}
    result = run("build", "lower-back-relief", cwd=tmp_path, env_extra=env)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "output"
    assert sorted(p.name for p in out.iterdir()) == [
        "feed.xml", "lower-back-relief.chapters.json", "lower-back-relief.cover.png", "lower-back-relief.json",
        "lower-back-relief.mp3", "lower-back-relief.vtt"]
    assert "Speaking" in result.stderr and "Wrote output/lower-back-relief.mp3 (6:40, 9 chapters" in result.stderr
    assert ("Set-up: 0:40 added beyond the stated 6:00, so that Hurdler and Elbow Side Plank are set up before the "
            "hold starts") in result.stderr
    assert "Not spoken:" in result.stderr and "voiceguide plan lower-back-relief" in result.stderr
    assert result.stdout == ""  # nothing on stdout: pyttsx3's "Audio saved to ..." is kept out
    quiet = run("build", "lower-back-relief", "-q", "-o", str(tmp_path / "q.mp3"), cwd=tmp_path, env_extra=env)
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == ""


def test_unwritable_output_fails_before_speaking_and_keeps_the_old_file(tmp_path, seed_session):
    if os.geteuid() == 0:
        blocked = tmp_path / "file-not-folder"
        blocked.write_text("x")
        target = blocked / "s.mp3"  # a folder that is a file: cannot be created, even by root
    else:
        blocked = tmp_path / "ro"
        blocked.mkdir()
        blocked.chmod(0o500)
        target = blocked / "s.mp3"
    result = run("build", "lower-back-relief", "-o", str(target),
                 env_extra={"VOICEGUIDE_CACHE_DIR": str(tmp_path / "empty-cache")})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "output folder" in result.stderr and "-o" in result.stderr
    assert not (tmp_path / "empty-cache").exists()  # failed before any synthesis


def test_failed_build_keeps_previous_output_and_leaves_no_temp_files(tmp_path, seed_session, monkeypatch):
    from voiceguide import build as build_module
    from voiceguide.cache import ClipCache
    from voiceguide.routine import load_routine

    out = tmp_path / "s.mp3"
    out.write_bytes(b"previous good build")
    clips = tmp_path.parent / f"{tmp_path.name}-clips"  # the seed's clips, without its stored mixes
    shutil.copytree(seed_session.cache_dir, clips, ignore=shutil.ignore_patterns("sessions"))
    from voiceguide import mp3

    monkeypatch.setattr(mp3, "encode_mp3", _explode)
    from voiceguide.errors import WorkerError

    with pytest.raises((RuntimeError, WorkerError), match="encoder crashed"):
        build_module.build_session(load_routine(ROOT / "routines" / "lower-back-relief.yaml"), out,
                                   cache=ClipCache(clips))
    assert out.read_bytes() == b"previous good build"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.mp3"]


def _explode(*args, **kwargs):
    raise RuntimeError("encoder crashed")


def test_export_failure_midway_keeps_previous_files(tmp_path, monkeypatch):
    from conftest import fake_measure

    from voiceguide import export
    from voiceguide.errors import OutputError
    from voiceguide.plan import build_plan
    from voiceguide.routine import load_routine

    plan = build_plan(load_routine(ROOT / "routines" / "lower-back-relief.yaml"), fake_measure)
    out = tmp_path / "s.mp3"
    for suffix in (".mp3", ".vtt", ".json"):
        out.with_suffix(suffix).write_text(f"old {suffix}")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export, "plan_json", full_disk)
    with pytest.raises(OutputError, match="No space left on device"):
        export.write_session(out, lambda f: f.write(b"new mp3"), plan, "")
    for suffix in (".mp3", ".vtt", ".json"):
        assert out.with_suffix(suffix).read_text() == f"old {suffix}"
    assert len(list(tmp_path.iterdir())) == 3


def test_main_maps_user_errors_to_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["check", "/nonexistent/routine.yaml"])
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith("error: /nonexistent/routine.yaml: no such routine file")


def test_wheel_ships_routines_and_chimes_and_runs_from_anywhere(tmp_path):
    """An installed package, run from another folder, finds its routines and chimes."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300)
    wheel = next(tmp_path.glob("voiceguide-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "voiceguide/routines/lower-back-relief.yaml" in names
    assert {"voiceguide/audio_assets/bell.wav", "voiceguide/audio_assets/bell-soft.wav"} <= set(names)
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = ("import voiceguide.chimes as c, voiceguide.resources as r;"
            "print(c.__file__); print(r.chimes_dir()); print(c.shipped_chimes())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=elsewhere,
                            env=env, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    module, chimes, names = result.stdout.splitlines()
    assert module.startswith(str(site)) and chimes.startswith(str(site)) and names == "['bell', 'bowl']"
    listed = subprocess.run([sys.executable, "-m", "voiceguide", "routines"], capture_output=True, text=True,
                            cwd=elsewhere, env=env, timeout=120, check=False)
    assert listed.returncode == 0 and "\nlower-back-relief " in f"\n{listed.stdout}"
    checked = subprocess.run([sys.executable, "-m", "voiceguide", "check", "lower-back-relief"],
                             capture_output=True, text=True, cwd=elsewhere, env=env, timeout=120, check=False)
    assert checked.returncode == 0 and str(site) in checked.stdout


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_build_exits_130_and_keeps_previous_output(tmp_path, signum):
    """Ctrl-C or SIGTERM while clips are being spoken into an empty cache."""
    out = tmp_path / "s.mp3"
    out.write_bytes(b"previous good build")
    proc = _paused_build(out, tmp_path / "cold-cache", "clip spoken#5")
    proc.send_signal(signum)
    code, err = finish(proc)
    assert code == 130, err
    assert "interrupted; nothing was written" in err and "Traceback" not in err
    assert out.read_bytes() == b"previous good build"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cold-cache", "s.mp3"]
    leftovers = list((tmp_path / "cold-cache").rglob(".*"))  # temporary files: their names start with a dot
    assert leftovers == []


def _paused_build(out, cache, stage: str) -> subprocess.Popen:
    """`voiceguide build lower-back-relief -o out` with its own cache, held at `stage`."""
    return _paused(["build", "lower-back-relief", "-o", str(out)], stage, {"VOICEGUIDE_CACHE_DIR": str(cache)})


def _paused(args: list[str], stage: str, env_extra: dict | None = None) -> subprocess.Popen:
    """`voiceguide ARGS`, held at `stage` (voiceguide/stages.py) until it is sent a signal."""
    env = {**os.environ, **(env_extra or {}), PAUSE_ENV: stage}
    proc = subprocess.Popen([sys.executable, "-m", "voiceguide", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=default_signals)  # noqa: PLW1509 - the test starts no threads
    wait_for_stage(proc, stage)
    return proc


def test_check_lays_the_session_out(tmp_path):
    """`check` fails, like a build would, when a hold is too short or the stated total too small."""
    short = tmp_path / "short.yaml"
    short.write_text("title: T\nexercises:\n  - name: Quick One\n    duration: 4s\n")
    result = run("check", str(short))
    assert result.returncode == 2 and 'exercise 1 "Quick One" lasts 4.0 s, too short' in result.stderr
    tight = tmp_path / "tight.yaml"
    tight.write_text('title: T\nduration: "1:00"\nexercises:\n  - name: A\n    duration: "1:45"\n')
    result = run("check", str(tight))
    assert result.returncode == 2 and "stated total 1:00" in result.stderr


@pytest.mark.parametrize("name", ["x.json", "x.vtt", "x"])
def test_output_must_be_an_mp3(tmp_path, name):
    result = run("build", "lower-back-relief", "-o", str(tmp_path / name), "-q")
    assert result.returncode == 2 and "ending in .mp3" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_unusable_cache_folder_is_a_clean_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run("build", "lower-back-relief", "-o", str(tmp_path / "x.mp3"), "-q",
                 env_extra={"VOICEGUIDE_CACHE_DIR": str(blocker / "cache")})
    assert result.returncode == 2 and "speech cache folder is not usable" in result.stderr
    assert "VOICEGUIDE_CACHE_DIR" in result.stderr and "Traceback" not in result.stderr


def test_plan_piped_into_head_exits_quietly():
    result = subprocess.run(f"{sys.executable} -m voiceguide plan lower-back-relief -q | head -2", shell=True,
                            capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert result.stdout.startswith("Lower Back Relief: 6:40") and "Traceback" not in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_while_encoding_keeps_previous_output(tmp_path, seed_session, signum):
    """Interrupted after speaking, while the MP3 is being written beside the old one."""
    out = tmp_path / "s.mp3"
    for suffix in (".mp3", ".vtt", ".json"):
        out.with_suffix(suffix).write_text(f"previous {suffix}")
    clips = tmp_path.parent / f"{tmp_path.name}-clips"  # the seed's clips, without its stored mixes
    shutil.copytree(seed_session.cache_dir, clips, ignore=shutil.ignore_patterns("sessions"))
    proc = _paused_build(out, clips, "encoding segment#2")
    proc.send_signal(signum)
    code, err = finish(proc)
    assert code == 130, err
    assert "interrupted" in err and "Traceback" not in err
    for suffix in (".mp3", ".vtt", ".json"):
        assert out.with_suffix(suffix).read_text() == f"previous {suffix}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json", "s.mp3", "s.vtt"]


def _routine_file(folder, title):
    path = folder / f"{title.lower().replace(' ', '-')}.yaml"
    path.write_text(f"title: {title}\nexercises:\n  - name: Reach Up\n    duration: 20\n")
    return path


@pytest.mark.parametrize("stage, signum", [("files in place", signal.SIGINT), ("stored", signal.SIGTERM)])
def test_a_signal_after_the_files_are_in_place_changes_nothing(tmp_path, stage, signum):
    """Once the new files are in place there is nothing left to stop: the build goes on and exits 0."""
    routine = _routine_file(tmp_path, f"Late {signal.Signals(signum).name}")  # a mix no other build stored
    proc = _paused(["build", str(routine), "-o", str(tmp_path / "o" / "l.mp3")], stage)
    proc.send_signal(signum)
    code, err = finish(proc)
    assert code == 0, err
    assert "Wrote" in err and "interrupted" not in err and "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "feed.xml", "l.chapters.json", "l.cover.png", "l.json", "l.mp3", "l.vtt"]


def test_interrupting_a_batch_says_what_was_already_written(tmp_path):
    first, second = _routine_file(tmp_path, "First"), _routine_file(tmp_path, "Second")
    proc = _paused(["build", str(first), str(second), "-o", str(tmp_path / "lib")], "engine started#2")
    proc.send_signal(signal.SIGINT)
    code, err = finish(proc)
    assert code == 130, err
    assert f"written before that: {tmp_path / 'lib' / 'first.mp3'}" in err and "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "lib").iterdir()) == [
        "feed.xml", "first.chapters.json", "first.cover.png", "first.json", "first.mp3", "first.vtt"]
