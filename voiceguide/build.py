"""One build, end to end: routine -> plan -> voice -> mix -> export."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from .cache import ClipCache
from .export import DEFAULT_BITRATE_KBPS, check_writable, encode_mp3, write_session
from .mix import Levels, level, render, to_pcm16
from .plan import Plan, PlanOptions, build_plan, utterances
from .resources import chime_path
from .routine import Routine
from .speech import SAMPLE_RATE, SpokenClips, VoiceSettings, read_wav, resample, samples_to_ms
from .voice import get_engine

CHIMES = ("bell", "soft")


@dataclass(frozen=True)
class BuildOptions:
    """Everything a build can be asked for besides the routine itself."""

    plan: PlanOptions = PlanOptions()
    voice: VoiceSettings = VoiceSettings()
    bitrate_kbps: int = DEFAULT_BITRATE_KBPS


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote and measured."""

    plan: Plan
    files: tuple[Path, ...]
    levels: Levels
    synthesized: int
    cached: int


class Reporter:
    """Progress hooks; the CLI shows them on stderr, the library stays quiet by default."""

    def stage(self, message: str) -> None:
        pass

    def speaking(self, total: int) -> Callable[[int], None]:
        return lambda n: None

    def done_speaking(self) -> None:
        pass


def default_output(routine: Routine, folder: Path = Path("output")) -> Path:
    return folder / f"{slug(routine.title)}.mp3"


def slug(title: str) -> str:
    """A safe file stem from a title: lower-case words joined by hyphens."""
    stem = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:80].strip("-")
    return stem or "session"


def load_chimes() -> dict[str, np.ndarray]:
    return {name: resample(*read_wav(chime_path(name))) for name in CHIMES}


def plan_options_for(options: PlanOptions, chimes: dict[str, np.ndarray]) -> PlanOptions:
    """The plan must know how long the real chimes ring."""
    return replace(options, bell_ms=samples_to_ms(len(chimes["bell"])), soft_ms=samples_to_ms(len(chimes["soft"])))


def speak_plan(routine: Routine, options: BuildOptions, reporter: Reporter,
               cache: ClipCache | None = None) -> tuple[Plan, SpokenClips, dict[str, np.ndarray]]:
    """Synthesise every candidate line once, then plan with their measured lengths."""
    chimes = load_chimes()
    plan_options = plan_options_for(options.plan, chimes)
    reporter.stage(f"Starting the {options.voice.engine} speech engine")
    clips = SpokenClips(get_engine(options.voice.engine), options.voice, cache)
    wanted = utterances(routine, plan_options)
    clips.prepare(wanted, reporter.speaking(len(wanted)))
    reporter.done_speaking()
    return build_plan(routine, clips.measure, plan_options), clips, chimes


def build_session(routine: Routine, out: Path, options: BuildOptions = BuildOptions(),
                  reporter: Reporter | None = None, cache: ClipCache | None = None) -> BuildResult:
    """Build the MP3 (with .vtt and .json beside it) for a routine."""
    reporter = reporter or Reporter()
    out = Path(out)
    check_writable(out)
    plan, clips, chimes = speak_plan(routine, options, reporter, cache)
    reporter.stage("Mixing and levelling")
    track = render(plan, clips.clip, chimes, SAMPLE_RATE)
    track, levels = level(track, SAMPLE_RATE)
    reporter.stage("Encoding MP3")
    mp3 = encode_mp3(to_pcm16(track), SAMPLE_RATE, options.bitrate_kbps)
    files = write_session(out, mp3, plan, routine.about)
    return BuildResult(plan, tuple(files), levels, clips.synthesized, clips.cached)
