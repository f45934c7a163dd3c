"""Rebuilds: an unchanged rebuild reuses the mixed session; any change, or a damaged copy, mixes again."""
from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from voiceguide.build import BuildOptions, Reporter, build_options, build_session
from voiceguide.cache import ClipCache
from voiceguide.options import Settings
from voiceguide.routine import load_routine

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


@dataclass(frozen=True)
class First:
    """The drill built once into an empty cache; each test rebuilds it from a copy of that cache."""

    routine: Path
    cache: Path
    mp3: bytes
    stages: list[str]


def _build(routine: Path, cache: Path, out: Path, options: BuildOptions | None = None) -> tuple[bytes, list[str]]:
    stages = _Stages()
    build_session(load_routine(routine), out, options or BuildOptions(), stages, ClipCache(cache))
    return out.read_bytes(), stages.seen


@pytest.fixture(scope="module")
def first(tmp_path_factory) -> First:
    folder = tmp_path_factory.mktemp("first")
    routine = folder / "drill.yaml"
    routine.write_text(ROUTINE)
    mp3, stages = _build(routine, folder / "cache", folder / "a" / "drill.mp3")
    return First(routine, folder / "cache", mp3, stages)


def _rebuild(first: First, tmp_path: Path, options: BuildOptions | None = None,
             damage: Callable[[Path], None] = lambda cache: None) -> tuple[bytes, list[str]]:
    """The drill built again into tmp_path from a copy of the first build's cache (damaged as asked)."""
    cache = tmp_path / "cache"
    shutil.copytree(first.cache, cache)
    damage(cache)
    return _build(first.routine, cache, tmp_path / "b" / "drill.mp3", options)


def _reused(stages: list[str]) -> bool:
    return any("taken from the cache" in s for s in stages)


def test_unchanged_rebuild_reuses_the_mix_with_the_same_bytes(first, tmp_path):
    assert not _reused(first.stages)
    again, stages = _rebuild(first, tmp_path)
    assert _reused(stages) and again == first.mp3


def test_a_changed_setting_mixes_again(first, tmp_path):
    quieter, stages = _rebuild(first, tmp_path, build_options(Settings(volume=0.5)))
    assert not _reused(stages) and quieter != first.mp3


def _cut_the_stored_mix(cache: Path) -> None:
    stored = list((cache / "sessions").glob("*.mp3"))
    assert len(stored) == 1
    stored[0].write_bytes(stored[0].read_bytes()[:1000])


def test_a_damaged_stored_mix_is_not_used(first, tmp_path):
    again, stages = _rebuild(first, tmp_path, damage=_cut_the_stored_mix)
    assert not _reused(stages) and again == first.mp3
