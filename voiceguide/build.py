"""One build, end to end: routine -> plan -> voice -> mix -> export."""
from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import re
import shutil
import unicodedata
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np

from . import forked
from .cache import ClipCache, SessionStore
from .chimes import load_chimes
from .errors import OutputError, WorkerError
from .interrupts import deferred
from .memory import release_free_memory
from .export import DEFAULT_BITRATE_KBPS, check_writable, encode_mp3, plan_json, write_session
from .mix import TARGET_LUFS, Leveller, Levels, Timeline
from .plan import Detail, Plan, PlanOptions, build_plan, utterances
from .resources import default_lexicon
from .routine import Routine
from .settings import DEFAULTS, Settings
from .speech import SAMPLE_RATE, SpokenClips, VoiceSettings, samples_to_ms
from .stages import reached
from .voice import get_engine


@dataclass(frozen=True)
class BuildOptions:
    """Everything a build can be asked for besides the routine itself."""

    plan: PlanOptions = PlanOptions()
    voice: VoiceSettings = VoiceSettings()
    bitrate_kbps: int = DEFAULT_BITRATE_KBPS
    chime: str = "bell"
    """A shipped chime's name, a sound file, or none."""
    volume: float = 1.0
    """Session loudness as a fraction of the standard level (1.0 = -16 LUFS)."""

    @property
    def target_lufs(self) -> float:
        return TARGET_LUFS + 20 * math.log10(self.volume)


def build_options(settings: Settings) -> BuildOptions:
    """Turn layered user settings (flags over routine options over defaults) into build options."""
    s = settings.over(DEFAULTS)
    plan = PlanOptions(detail=Detail(s.detail), countdown=s.countdown, pace=s.pace, total_ms=s.duration_ms,
                       intro=s.intro, next_up=s.next_up, sides_each=s.sides == "each",
                       lexicon=default_lexicon())
    voice = VoiceSettings(engine=s.engine, voice=s.voice, rate_wpm=s.rate)
    return BuildOptions(plan=plan, voice=voice, bitrate_kbps=s.bitrate, chime=s.chime, volume=s.volume)


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

    def written(self) -> None:
        """The new files are in place (called while Ctrl-C and SIGTERM are held)."""


def default_output(routine: Routine, folder: Path = Path("output")) -> Path:
    return folder / f"{slug(routine.title)}.mp3"


def batch_outputs(routines: list[Routine], folder: Path) -> list[Path]:
    """One MP3 per routine in `folder`, named from its title; two routines that would share a file are
    an error before anything is built."""
    outputs = [default_output(r, folder) for r in routines]
    seen: dict[Path, Routine] = {}
    for routine, out in zip(routines, outputs):
        if out in seen:
            raise OutputError(f"{routine.source}: its title makes the same file name as {seen[out].source} "
                              f"({out.name}); give one of them another title, or build them separately with -o")
        seen[out] = routine
    return outputs


def slug(title: str) -> str:
    """A safe file stem from a title: lower-case words joined by hyphens."""
    plain = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    stem = re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")[:80].strip("-")
    if stem in _RESERVED:  # names Windows will not create, whatever the extension
        stem += "-session"
    return stem or "session"


_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def plan_options_for(options: PlanOptions, chimes: dict[str, np.ndarray]) -> PlanOptions:
    """The plan must know how long the real chimes ring (or that there are none)."""
    if not chimes:
        return replace(options, chimes=False)
    return replace(options, bell_ms=samples_to_ms(len(chimes["bell"])), soft_ms=samples_to_ms(len(chimes["soft"])))


def speak_plan(routine: Routine, options: BuildOptions, reporter: Reporter, cache: ClipCache | None = None,
               workers: int | None = None) -> tuple[Plan, SpokenClips, dict[str, np.ndarray]]:
    """Synthesise every candidate line once, then plan with their measured lengths."""
    chimes = load_chimes(options.chime)
    plan_options = plan_options_for(options.plan, chimes)
    reporter.stage(f"Starting the {options.voice.engine} speech engine")
    clips = SpokenClips(get_engine(options.voice.engine), options.voice, cache, workers)
    reached("engine started")
    wanted = utterances(routine, plan_options)
    clips.prepare(wanted, reporter.speaking(len(wanted)))
    reporter.done_speaking()
    reached("speaking done")
    return build_plan(routine, clips.measure, plan_options), clips, chimes


def made_with(options: BuildOptions, clips: SpokenClips) -> dict:
    """What produced a session, recorded in its plan so two outputs can be told apart."""
    from importlib.metadata import version

    p = options.plan
    return {
        "voiceguide": version("voiceguide"),
        "engine": f"{clips.engine.name} ({clips.engine.version()})",
        "voice": clips.voice,
        "rate_wpm": options.voice.rate_wpm,
        "detail": p.detail.value,
        "pace": p.pace,
        "duration_ms": p.total_ms,
        "countdown": p.countdown,
        "intro": p.intro,
        "next_up": p.next_up,
        "sides": "each" if p.sides_each else "split",
        "chime": options.chime,
        "volume": options.volume,
        "bitrate_kbps": options.bitrate_kbps,
    }


def encode_in_segments(leveller: Leveller, out: BinaryIO, bitrate_kbps: int, workers: int) -> None:
    """Encode the session's segments (in parallel children where the platform forks) and join them."""
    spans = leveller.timeline.segments()

    def encode(span: tuple[int, int]) -> bytes:
        buffer = io.BytesIO()
        encode_mp3(leveller.pcm16_chunks(*span), SAMPLE_RATE, buffer, bitrate_kbps)
        return buffer.getvalue()

    if workers <= 1 or len(spans) == 1 or not forked.available():
        for span in spans:
            reached("encoding segment")
            out.write(encode(span))
        return
    ready: dict[int, bytes] = {}
    written = 0

    def keep(i: int, data: object) -> None:
        nonlocal written
        reached("encoding segment")
        ready[i] = data  # type: ignore[assignment]
        while written in ready:
            out.write(ready.pop(written))
            written += 1

    # a child per segment: the next segment goes to whichever worker is free, so the segments
    # waiting here to be written in order stay few however long the session
    forked.run_forked([lambda span=span: encode(span) for span in spans], workers, _ENCODE_TIMEOUT_S, keep,
                      lambda i: f"the MP3 encoder, segment {i + 1} of {len(spans)}", WorkerError)


_ENCODE_TIMEOUT_S = 600.0


def build_session(routine: Routine, out: Path, options: BuildOptions = BuildOptions(),
                  reporter: Reporter | None = None, cache: ClipCache | None = None,
                  workers: int | None = None) -> BuildResult:
    """Build the MP3 (with .vtt and .json beside it) for a routine; `workers` processes speak and
    encode in parallel (default: one per core)."""
    reporter = reporter or Reporter()
    workers = workers or os.cpu_count() or 1
    out = Path(out)
    check_writable(out)
    plan, clips, chimes = speak_plan(routine, options, reporter, cache, workers)
    reached("planned")
    release_free_memory()  # before the workers that measure and encode are forked
    made = made_with(options, clips)
    store = SessionStore(clips.cache.root)
    key = session_key(plan, made, clips, chimes, options)
    stored = store.get(key)
    if stored is not None:
        reporter.stage("Mixing and encoding: unchanged since an earlier build, taken from the cache")
        audio, meta = stored
        levels = Levels(**meta["levels"])

        def write_mp3(file) -> None:
            with open(audio, "rb") as source:
                shutil.copyfileobj(source, file)

        files = write_session(out, write_mp3, plan, routine.about, made, reporter.written)
        return BuildResult(plan, tuple(files), levels, clips.synthesized, clips.cached)

    reporter.stage("Levelling")
    leveller = Leveller(Timeline(plan, clips.clip, chimes, SAMPLE_RATE), options.target_lufs, workers=workers,
                        scratch=clips.cache.root)
    reached("measured")
    release_free_memory()
    reporter.stage("Mixing and encoding MP3")
    keep: Path | None = None
    tee: _Tee | None = None

    def write_mp3(file) -> None:
        nonlocal tee
        if keep is None:
            encode_in_segments(leveller, file, options.bitrate_kbps, workers)
            return
        with open(keep, "wb") as spare:
            tee = _Tee(file, spare)
            encode_in_segments(leveller, tee, options.bitrate_kbps, workers)
            try:
                spare.flush()
            except OSError:
                tee.spare_ok = False

    try:
        with deferred():  # on record for cleanup before a Ctrl-C can act
            keep = _temp_for(store)
        files = write_session(out, write_mp3, plan, routine.about, made, reporter.written)
        if keep and tee is not None and tee.spare_ok:
            try:
                store.put(key, keep, {"levels": asdict(leveller.levels())})
                reached("stored")
            except OSError:
                pass  # a full or read-only cache costs the next build time, not this one its result
    finally:
        leveller.close()
        if keep:
            keep.unlink(missing_ok=True)
    return BuildResult(plan, tuple(files), leveller.levels(), clips.synthesized, clips.cached)


def session_key(plan: Plan, made: dict, clips: SpokenClips, chimes: dict[str, np.ndarray],
                options: BuildOptions) -> str:
    """Everything the mixed audio depends on: the plan and settings, the exact clips and chimes, and
    the code that mixes them (so a changed voiceguide never reuses audio an older one made)."""
    digest = hashlib.sha256(plan_json(plan, made).encode())
    for event in plan.speech:
        digest.update(clips.key_of(event.utterance).encode())
    for name in sorted(chimes):
        digest.update(name.encode() + chimes[name].tobytes())
    digest.update(repr(options).encode())
    for source in sorted(Path(__file__).parent.rglob("*.py")):
        digest.update(source.read_bytes())
    from importlib.metadata import PackageNotFoundError, version

    for package in ("numpy", "soxr", "lameenc", "mutagen"):
        try:
            digest.update(f"{package} {version(package)}".encode())
        except PackageNotFoundError:
            pass
    return digest.hexdigest()


def _temp_for(store: SessionStore) -> Path | None:
    try:
        return store.temp_file()
    except OSError:
        return None


class _Tee:
    """Writes to the output and to a spare copy for the cache; the copy may fail (a full cache),
    the output may not."""

    def __init__(self, out: BinaryIO, spare: BinaryIO) -> None:
        self._out, self._spare = out, spare
        self.spare_ok = True

    def write(self, data: bytes) -> int:
        self._out.write(data)
        if self.spare_ok:
            try:
                self._spare.write(data)
            except OSError:
                self.spare_ok = False
        return len(data)
