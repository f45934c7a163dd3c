"""One build, end to end: routine -> plan -> voice -> mix -> export."""
from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import shutil
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .atomic import deferred
from .audio import SAMPLE_RATE, samples_to_ms
from .cache import ClipCache, SessionStore
from .chimes import load_chimes
from .errors import OutputError, PlanError, VoiceguideError
from .export import check_writable, plan_json, write_session
from .memory import release_free_memory
from .mix import TARGET_LUFS, LevelledSession, Levels, Timeline, level
from .mp3 import encode_segments
from .options import Settings, default, defaults
from .plan import Detail, Plan, PlanOptions, build_plan, estimated_measure, utterances
from .resources import default_lexicon
from .routine import Routine
from .space import require_free
from .speech import SpokenClips, VoiceSettings
from .stages import reached
from .voice import get_engine, resolve_voice

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildOptions:
    """Everything a build can be asked for besides the routine itself."""

    plan: PlanOptions = field(default_factory=PlanOptions)
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    bitrate_kbps: int = default("bitrate")
    chime: str = default("chime")
    """A shipped chime's name, a sound file, or none."""
    volume: float = default("volume")
    """Session loudness as a fraction of the standard level (1.0 = -16 LUFS)."""

    @property
    def target_lufs(self) -> float:
        return TARGET_LUFS + 20 * math.log10(self.volume)


def build_options(settings: Settings) -> BuildOptions:
    """Turn layered user settings (flags over routine options over defaults) into build options."""
    s = settings.over(defaults())
    plan = PlanOptions(detail=Detail(s["detail"]), countdown=s["countdown"], pace=s["pace"],
                       total_ms=s.get("duration"), intro=s["intro"], next_up=s["next_up"],
                       sides_each=s["sides"] == "each", lexicon=default_lexicon())
    voice = VoiceSettings(engine=s["engine"], voice=s.get("voice"), rate_wpm=s["rate"])
    return BuildOptions(plan=plan, voice=voice, bitrate_kbps=s["bitrate"], chime=s["chime"], volume=s["volume"])


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


def check_choices(options: BuildOptions, place: Callable[[str], str | None] = lambda name: None) -> None:
    """What can be checked without speaking: the engine starts, the voice is one of its voices, the chime
    reads. A problem with a value the routine set names the routine's line (`place(option)`)."""
    def placed(name: str, exc: VoiceguideError) -> VoiceguideError:
        where = place(name)
        return VoiceguideError(f"{where}: options.{name}: {exc}") if where else exc

    try:
        engine = get_engine(options.voice.engine)
    except VoiceguideError as exc:
        raise placed("engine", exc) from None
    try:
        resolve_voice(engine, options.voice.voice)
    except VoiceguideError as exc:
        raise placed("voice", exc) from None
    try:
        load_chimes(options.chime)
    except VoiceguideError as exc:
        raise placed("chime", exc) from None


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
    clips = SpokenClips(get_engine(options.voice.engine), options.voice, cache, workers or os.cpu_count() or 1)
    clips.open()
    reached("engine started")
    wanted = utterances(routine, plan_options)
    clips.prepare(wanted, reporter.speaking(len(wanted)))
    reporter.done_speaking()
    reached("speaking done")
    return build_plan(routine, clips.measure, plan_options), clips, chimes


def made_with(options: BuildOptions, clips: SpokenClips) -> dict[str, Any]:
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


def build_session(routine: Routine, out: Path, options: BuildOptions = BuildOptions(),
                  reporter: Reporter | None = None, cache: ClipCache | None = None,
                  workers: int | None = None) -> BuildResult:
    """Build the MP3 (with .vtt and .json beside it) for a routine; `workers` processes speak and
    encode in parallel (default: one per core)."""
    reporter = reporter or Reporter()
    workers = workers or os.cpu_count() or 1
    out = Path(out)
    check_writable(out)
    cache = cache or ClipCache()
    check_space(routine, options, out, cache.root)
    plan, clips, chimes = speak_plan(routine, options, reporter, cache, workers)
    reached("planned")
    release_free_memory()  # before the workers that measure and encode are forked
    made = made_with(options, clips)
    store = SessionStore(clips.cache.root)
    key = session_key(plan, made, clips, chimes, options)
    stored = store.get(key)
    log.info("stored mix %s: %s", key[:12], "found, reused" if stored else "none, mixing")
    if stored is not None:
        reporter.stage("Mixing and encoding: unchanged since an earlier build, taken from the cache")
        audio, meta = stored

        def copy_stored(file: BinaryIO) -> None:
            with open(audio, "rb") as source:
                shutil.copyfileobj(source, file)

        files = write_session(out, copy_stored, plan, routine.about, made, reporter.written)
        return BuildResult(plan, tuple(files), Levels(**meta["levels"]), clips.synthesized, clips.cached)
    reporter.stage("Levelling")
    levelled = level(Timeline(plan, clips.clip, chimes, SAMPLE_RATE), options.target_lufs, workers=workers,
                     scratch=clips.cache.root)
    reached("measured")
    try:
        release_free_memory()
        reporter.stage("Mixing and encoding MP3")
        files = _encode_and_store(levelled, options.bitrate_kbps, workers, store, key,
                                  lambda encode: write_session(out, encode, plan, routine.about, made,
                                                               reporter.written))
    finally:
        levelled.close()
    return BuildResult(plan, tuple(files), levelled.levels(), clips.synthesized, clips.cached)


def _encode_and_store(levelled: LevelledSession, bitrate_kbps: int, workers: int, store: SessionStore, key: str,
                      write: Callable[[Callable[[BinaryIO], None]], list[Path]]) -> list[Path]:
    """Encode the session through `write` and keep a copy of the audio in the store for unchanged
    rebuilds; a full or read-only cache costs the next build time, never this one its result."""
    spare: Path | None = None
    tee: _Tee | None = None

    def encode(file: BinaryIO) -> None:
        nonlocal tee
        spans = levelled.timeline.segments()
        if spare is None:
            encode_segments(levelled.pcm16_chunks, spans, file, bitrate_kbps, workers)
            return
        with open(spare, "wb") as copy:
            tee = _Tee(file, copy)
            encode_segments(levelled.pcm16_chunks, spans, tee, bitrate_kbps, workers)
            try:
                copy.flush()
            except OSError:
                tee.spare_ok = False

    try:
        with deferred():  # on record for cleanup before a Ctrl-C can act
            spare = _temp_for(store)
        files = write(encode)
        if spare and tee is not None and tee.spare_ok:
            try:
                store.put(key, spare, {"levels": asdict(levelled.levels())})
                reached("stored")
            except OSError:
                pass
    finally:
        if spare:
            spare.unlink(missing_ok=True)
    return files


_CLIP_BYTES_PER_S = 96_000  # 16-bit mono at up to 48 kHz: what engines write
_BLOCK_BYTES_PER_S = SAMPLE_RATE * 2 // 45  # the leveller's two bytes per ~1 ms block


def check_space(routine: Routine, options: BuildOptions, out: Path, cache_root: Path) -> None:
    """Refuse, before anything is spoken, a build whose files cannot fit where they go: the session
    beside `out`, and the clips, levelling files and stored mix in the cache. Lengths come from the plan
    laid out with estimated speech (as `voiceguide check` does), so they are close, not exact."""
    try:
        shape = build_plan(routine, estimated_measure(options.voice.rate_wpm), options.plan)
    except PlanError:
        return  # the real plan will say what does not fit
    seconds = shape.duration_ms / 1000
    speech_s = sum(estimated_measure(options.voice.rate_wpm)(u) for u in utterances(routine, options.plan)) / 1000
    mp3 = int(seconds * options.bitrate_kbps * 125)
    session = mp3 + 64 * 1024 + len(shape.events) * 200  # the MP3, its captions and plan
    cache = int(speech_s * _CLIP_BYTES_PER_S + seconds * _BLOCK_BYTES_PER_S + mp3)
    if _same_disk(out.parent, cache_root):
        require_free(out.parent, session + cache, "this session with its speech cache",
                     "free some space, or write elsewhere with -o / VOICEGUIDE_CACHE_DIR")
        return
    require_free(out.parent, session, "this session", "free some space, or write it elsewhere with -o")
    require_free(cache_root, cache, "the speech cache for this session",
                 "free some space, or set VOICEGUIDE_CACHE_DIR to another folder")


def _same_disk(a: Path, b: Path) -> bool:
    def device(path: Path) -> int | None:
        for folder in [path, *path.parents]:
            if folder.exists():
                return folder.stat().st_dev
        return None

    try:
        return device(a) == device(b)
    except OSError:
        return False


def session_key(plan: Plan, made: dict[str, Any], clips: SpokenClips, chimes: dict[str, np.ndarray],
                options: BuildOptions) -> str:
    """Everything the mixed audio depends on: the plan and settings, the exact clips and chimes, and
    the code that mixes them (so a changed voiceguide never reuses audio an older one made)."""
    digest = hashlib.sha256(plan_json(plan, made).encode())
    for event in plan.speech:
        if event.utterance is not None:
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
