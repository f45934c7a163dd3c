"""Rebuilds: an unchanged rebuild reuses the mixed session; any change, or a damaged copy, mixes again."""
from __future__ import annotations

from pathlib import Path

from voiceguide.build import BuildOptions, Reporter, build_options, build_session
from voiceguide.cache import ClipCache
from voiceguide.routine import load_routine
from voiceguide.options import Settings

ROUTINE = """\
title: Rebuild Drill
exercises:
  - name: Reach Up
    duration: 20
    instructions:
      - Stand tall with your feet together.
  - name: Fold Down
    duration: 15
"""


class _Stages(Reporter):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def stage(self, message: str) -> None:
        self.seen.append(message)


def _build(tmp_path: Path, name: str, options: BuildOptions = BuildOptions()) -> tuple[bytes, list[str]]:
    routine_file = tmp_path / "drill.yaml"
    routine_file.write_text(ROUTINE)
    stages = _Stages()
    out = tmp_path / name / "drill.mp3"
    build_session(load_routine(routine_file), out, options, stages, ClipCache(tmp_path / "cache"))
    return out.read_bytes(), stages.seen


def _reused(stages: list[str]) -> bool:
    return any("taken from the cache" in s for s in stages)


def test_unchanged_rebuild_reuses_the_mix_with_the_same_bytes(tmp_path):
    first, stages = _build(tmp_path, "a")
    assert not _reused(stages)
    again, stages = _build(tmp_path, "b")
    assert _reused(stages) and again == first


def test_a_changed_setting_mixes_again(tmp_path):
    first, _ = _build(tmp_path, "a")
    quieter, stages = _build(tmp_path, "b", build_options(Settings(volume=0.5)))
    assert not _reused(stages) and quieter != first


def test_a_damaged_stored_mix_is_not_used(tmp_path):
    first, _ = _build(tmp_path, "a")
    stored = list((tmp_path / "cache" / "sessions").glob("*.mp3"))
    assert len(stored) == 1
    stored[0].write_bytes(stored[0].read_bytes()[:1000])
    again, stages = _build(tmp_path, "b")
    assert not _reused(stages) and again == first
