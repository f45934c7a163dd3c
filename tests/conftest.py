"""Shared fixtures: the seed routine, a fake speech measure, and one real build of the seed session."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from voiceguide.engines.base import Utterance
from voiceguide.routine import Routine, load_routine

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "routines" / "lower-back-relief.yaml"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session", autouse=True)
def _private_clip_cache(tmp_path_factory):
    """Tests never read or fill the user's own clip cache (~/.cache/voiceguide)."""
    import os

    previous = os.environ.get("VOICEGUIDE_CACHE_DIR")
    os.environ["VOICEGUIDE_CACHE_DIR"] = str(tmp_path_factory.mktemp("default-clip-cache"))
    yield
    if previous is None:
        os.environ.pop("VOICEGUIDE_CACHE_DIR", None)
    else:
        os.environ["VOICEGUIDE_CACHE_DIR"] = previous


def fake_measure(u: Utterance) -> int:
    """A stand-in for real speech: 350 ms a word at the session rate, plus 150 ms."""
    return len(u.text.split()) * 350 * 100 // u.rate_percent + 150


@pytest.fixture(scope="session")
def seed() -> Routine:
    return load_routine(SEED)


@dataclass(frozen=True)
class BuiltSession:
    """A session the program really built, decoded again by an independent decoder (libsndfile)."""

    mp3: Path
    plan: dict
    samples: np.ndarray
    rate: int
    cache_dir: Path


@pytest.fixture(scope="session")
def seed_session(tmp_path_factory) -> BuiltSession:
    import soundfile

    from voiceguide.build import build_session
    from voiceguide.cache import ClipCache

    folder = tmp_path_factory.mktemp("session")
    cache_dir = tmp_path_factory.mktemp("clip-cache")
    mp3 = folder / "lower-back-relief.mp3"
    build_session(load_routine(SEED), mp3, cache=ClipCache(cache_dir))
    samples, rate = soundfile.read(str(mp3), dtype="float32", always_2d=False)
    plan = json.loads(mp3.with_suffix(".json").read_text())
    return BuiltSession(mp3, plan, samples, rate, cache_dir)
