"""One build, end to end: routine -> plan -> voice -> mix -> export."""
from __future__ import annotations

import hashlib
import logging
import math
import os
import shlex
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .atomic import deferred
from .audio import SAMPLE_RATE, ms_to_samples, samples_to_ms
from .cache import ClipCache, SessionStore
from .chimes import chime_names, load_chimes
from .durations import format_clock
from .engines.base import Utterance
from .errors import OutputError, PlanError, VoiceguideError
from .export import Split, check_writable, earlier_made_with, plan_json, write_session
from .language import phrasebook_for
from .memory import release_free_memory
from .mix import TARGET_LUFS, LevelledSession, Levels, Timeline, level
from .mp3 import MP3_FRAME, NoCut, encode_segments, reservoir_lead_frames
from .music import Bed, MusicFile, MusicSettings, open_music
from .names import slug
from .options import OPTIONS, Option, OptionKind, Settings, default, defaults
from .phrasebook import MissingPhrase
from .plan import Detail, Plan, PlanOptions, Setup, build_plan, estimated_measure, utterances
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
    music: MusicSettings = field(default_factory=MusicSettings)
    split: bool = default("split")
    """Also one MP3 per chapter and a playlist, in a folder beside the session."""
    only_mp3: bool = default("only_mp3")
    """The MP3 without its .vtt and .json."""
    variant: tuple[tuple[str, str], ...] = ()
    """The settings a listener hears that differ from the defaults, as (words, flag): ("no intro",
    "--no-intro"); with the engine (named when the build starts it), they name the session in its ID3
    title and comment."""

    @property
    def target_lufs(self) -> float:
        return TARGET_LUFS + 20 * math.log10(self.volume)


def build_options(settings: Settings, language: str = "en") -> BuildOptions:
    """Turn layered user settings (flags over routine options over defaults) into build options; `language`
    is the routine's own (`language:`), which --language overrides."""
    s = settings.over(defaults())
    tag = s.get("language") or language
    plan = PlanOptions(detail=Detail(s["detail"]), countdown=s["countdown"], pace=s["pace"],
                       total_ms=s.get("duration"), intro=s["intro"], next_up=s["next_up"],
                       sides_each=s["sides"] == "each", setup=Setup(s["setup"]), lexicon=default_lexicon(tag),
                       phrases=phrasebook_for(tag))
    voice = VoiceSettings(engine=s["engine"], voice=s.get("voice"), rate_wpm=s["rate"], language=tag)
    music = MusicSettings(choice=s["music"], volume_lu=s["music_volume"], duck_db=s["duck_db"])
    return BuildOptions(plan=plan, voice=voice, bitrate_kbps=s["bitrate"], chime=s["chime"], volume=s["volume"],
                        music=music, split=s["split"], only_mp3=s["only_mp3"], variant=variant(s))


NOT_HEARD = frozenset({"bitrate", "split", "only_mp3"})
"""Options that change the files, not what a listener hears: a build that differs only in these is
not a variant."""
MUSIC_ONLY = frozenset({"music_volume", "duck_db"})
"""Options heard only under music: not a variant without it."""


def unheard_music_settings(settings: Settings) -> tuple[str, ...]:
    """The music-only options set (to other than their default) for a session without music: they do nothing."""
    if str(settings.get("music", default("music"))).strip().lower() != "none":
        return ()
    return tuple(OPTIONS[name].flag for name in sorted(MUSIC_ONLY)
                 if settings.get(name) is not None and settings.get(name) != OPTIONS[name].default)


def variant(settings: Settings) -> tuple[tuple[str, str], ...]:
    """The heard settings that differ from the table's defaults, in the table's order, each in words
    for a title ("no intro", "10:00") and as its flag ("--no-intro", "--duration 10:00"). Not the
    engine: `heard` names it as it names itself, which the name it was asked for by may not be."""
    found = []
    music = str(settings.get("music", default("music"))).strip().lower() != "none"
    for option in OPTIONS.values():
        value = settings.get(option.name)
        if option.name in NOT_HEARD or option.name == "engine" or value is None or value == option.default:
            continue
        if option.name in MUSIC_ONLY and not music:
            continue
        found.append((_in_words(option, value), _as_flag(option, value)))
    return tuple(found)


def _in_words(option: Option, value: Any) -> str:
    words = option.name.replace("_", "-")
    if option.kind is OptionKind.FLAG:
        return words if value else f"no {words}"
    if option.kind is OptionKind.DURATION:
        return format_clock(value)
    if option.name == "countdown" and value == 0:
        return "no countdown"
    if option.name == "chime":
        return "no chime" if value.lower() == "none" else f"{Path(value).name} chime"
    if option.name == "music":
        return f"{Path(value).name} music"
    if option.name == "music_volume":
        return f"music {value:g} LU"
    if option.name == "duck_db":
        return f"music ducked {value:g} dB"
    if option.name == "sides":
        return f"{value} side in full" if value == "each" else f"sides {value}"
    if option.name == "voice":
        return f"{Path(str(value)).name} voice"
    if option.name == "rate":
        return f"{value} wpm"
    if option.kind is OptionKind.CHOICE:
        return f"{value} {words}"
    return f"{words} {value:g}" if isinstance(value, float) else f"{words} {value}"


def _as_flag(option: Option, value: Any) -> str:
    if option.kind is OptionKind.FLAG:
        return option.flag if value else f"--no-{option.flag[2:]}"
    written = format_clock(value) if option.kind is OptionKind.DURATION else \
        f"{value:g}" if isinstance(value, float) else str(value)
    return f"{option.flag} {shlex.quote(written)}"


def heard(options: BuildOptions, engine: str) -> tuple[tuple[str, str], ...]:
    """What sets this session apart from one built with the defaults, as `variant` gives it, with the
    `engine` that speaks it (its own name) when that is not the default one."""
    if engine == default("engine"):
        return options.variant
    return ((f"{engine} engine", f"--engine {shlex.quote(engine)}"), *options.variant)


def session_title(title: str, options: BuildOptions, engine: str = default("engine")) -> str:
    """The session's ID3 title: the routine's, and for a variant what sets it apart
    ("Knee Rehab — 10:00, no intro"), so two variants do not look the same on a phone."""
    parts = heard(options, engine)
    return f"{title} — {', '.join(words for words, _ in parts)}" if parts else title


def session_comment(about: str, options: BuildOptions, engine: str = default("engine")) -> str:
    """The ID3 comment: the routine's `about`, and for a variant the flags that make it."""
    parts = heard(options, engine)
    if not parts:
        return about
    made = f"Variant: {', '.join(words for words, _ in parts)} ({' '.join(f for _, f in parts)})"
    return f"{about}\n\n{made}" if about else made


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote and measured."""

    plan: Plan
    files: tuple[Path, ...]
    """The session's files, the MP3 first, and the library's feed last when the build updated it."""
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

    def warn(self, message: str) -> None:
        """Something the user should know before the files are replaced."""


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


def check_choices(options: BuildOptions, place: Callable[[str], str | None] = lambda name: None) -> None:
    """What can be checked without speaking: the engine starts, the voice is one of its voices, the chime
    and the music read (and the music sounds). A problem with a value the routine set names the routine's line (`place(option)`)."""
    def placed(name: str, exc: VoiceguideError) -> VoiceguideError:
        where = place(name)
        return VoiceguideError(f"{where}: options.{name}: {exc}") if where else exc

    try:
        engine = get_engine(options.voice.engine)
    except VoiceguideError as exc:
        raise placed("engine", exc) from None
    try:
        resolve_voice(engine, options.voice.voice, options.voice.language)
    except VoiceguideError as exc:
        raise placed("voice", exc) from None
    try:
        load_chimes(options.chime)
    except VoiceguideError as exc:
        raise placed("chime", exc) from None
    try:
        open_music(options.music.choice)
    except VoiceguideError as exc:
        raise placed("music", exc) from None


def plan_options_for(options: PlanOptions, chimes: dict[str, np.ndarray], choice: str) -> PlanOptions:
    """The plan must know the real chimes (`choice`, loaded as `chimes`): their names and how long they
    ring (or that there are none)."""
    if not chimes:
        return replace(options, chimes=False)
    between, switch = chime_names(choice)
    return replace(options, bell_ms=samples_to_ms(len(chimes[between])), soft_ms=samples_to_ms(len(chimes[switch])),
                   bell_sound=between, soft_sound=switch)


def speak_plan(routine: Routine, options: BuildOptions, reporter: Reporter, cache: ClipCache | None = None,
               workers: int | None = None, before_speaking: Callable[[list[Utterance]], None] | None = None,
               ) -> tuple[Plan, SpokenClips, dict[str, np.ndarray]]:
    """Synthesise every candidate line once, then plan with their measured lengths; `before_speaking`
    sees the lines the cache lacks before they are spoken."""
    chimes = load_chimes(options.chime)
    plan_options = plan_options_for(options.plan, chimes, options.chime)
    reporter.stage(f"Starting the {options.voice.engine} speech engine")
    clips = SpokenClips(get_engine(options.voice.engine), options.voice, cache, workers or os.cpu_count() or 1)
    clips.open()
    reached("engine started")
    wanted = utterances(routine, plan_options)
    if before_speaking is not None:
        before_speaking(clips.uncached(wanted))
    reached("speaking")
    clips.prepare(wanted, reporter.speaking(len(wanted)))
    reporter.done_speaking()
    reached("speaking done")
    return build_plan(routine, clips.measure, plan_options), clips, chimes


def made_with(options: BuildOptions, clips: SpokenClips, source: str | None = None,
              music: MusicFile | None = None) -> dict[str, Any]:
    """What produced a session, recorded in its plan so two outputs can be told apart: the routine
    file (`source`, as an absolute path), the settings and the versions; the music settings only with
    music (`music_bed`, what was made of it, is added once the session is mixed)."""
    from importlib.metadata import version

    p = options.plan
    with_music = {} if music is None else {
        "music": music.name if music.shipped else str(music.path.absolute()),
        "music_volume": options.music.volume_lu,
        "duck_db": options.music.duck_db,
    }
    return {
        **({"source": str(Path(source).absolute())} if source and Path(source).is_file() else {}),
        "voiceguide": version("voiceguide"),
        "engine": f"{clips.engine.name} ({clips.engine.version()})",
        "voice": clips.voice,
        "language": options.voice.language,
        "rate_wpm": options.voice.rate_wpm,
        "detail": p.detail.value,
        "pace": p.pace,
        "duration_ms": p.total_ms,
        "countdown": p.countdown,
        "intro": p.intro,
        "next_up": p.next_up,
        "sides": "each" if p.sides_each else "split",
        "setup": p.setup.value,
        "chime": options.chime,
        **with_music,
        "volume": options.volume,
        "bitrate_kbps": options.bitrate_kbps,
        "split": options.split,
    }


_NOT_COMPARED = ("voiceguide", "split", "music_bed")
"""Recorded, but not a reason to warn: another voiceguide version, chapter files or not, or what was
made of the music (its loop, level and dips, which follow from the rest)."""


def replaced_differently(earlier: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What sets the session about to be replaced (its `made_with`) apart from this build's, in words:
    "routine /a/knee.yaml (now /a/hip.yaml)", "pace 1.0 (now 1.5)". Settings only one of them
    records are not compared, but for the music, which a session without it does not record (none);
    the engine is compared by name, not version."""
    if "music" in now or "music" in earlier:
        earlier, now = {**earlier, "music": earlier.get("music")}, {**now, "music": now.get("music")}

    def shown(key: str, value: Any) -> str:
        if key == "engine" and isinstance(value, str):
            return value.split(" (")[0]
        if key == "duration_ms":
            return format_clock(value) if isinstance(value, int) else "as written"
        if isinstance(value, bool):
            return "on" if value else "off"
        return "none" if value is None else str(value)

    names = {"source": "routine", "duration_ms": "duration", "rate_wpm": "rate", "bitrate_kbps": "bitrate",
             "next_up": "next-up", "music_volume": "music volume", "duck_db": "music ducking"}
    found = []
    for key, value in now.items():
        if key in _NOT_COMPARED or key not in earlier:
            continue
        before, after = shown(key, earlier[key]), shown(key, value)
        if before != after:
            found.append(f"{names.get(key, key)} {before} (now {after})")
    return found


def build_session(routine: Routine, out: Path, options: BuildOptions = BuildOptions(),
                  reporter: Reporter | None = None, cache: ClipCache | None = None,
                  workers: int | None = None) -> BuildResult:
    """Build the MP3 (with .vtt and .json beside it) for a routine; `workers` processes speak and
    encode in parallel (default: one per core). A build that fails leaves no output folder it made."""
    missing = [folder for folder in (Path(out).parent, *Path(out).parent.parents) if not folder.exists()]
    try:
        return _build_session(routine, Path(out), options, reporter, cache, workers)
    except BaseException:
        for folder in missing:  # the deepest first; one that holds anything stays
            try:
                folder.rmdir()
            except OSError:
                break
        raise


def _build_session(routine: Routine, out: Path, options: BuildOptions, reporter: Reporter | None,
                   cache: ClipCache | None, workers: int | None) -> BuildResult:
    reporter = reporter or Reporter()
    workers = workers or os.cpu_count() or 1
    out = Path(out)
    check_writable(out, not options.only_mp3, options.split)
    cache = cache or ClipCache()
    music = open_music(options.music.choice)
    need = space_needed(routine, options, music)
    check_space(need, out, cache.root)
    plan, clips, chimes = speak_plan(routine, options, reporter, cache, workers,
                                     before_speaking=lambda new: check_space(need, out, cache.root, new))
    reached("planned")
    release_free_memory()  # before the workers that measure and encode are forked
    made = made_with(options, clips, routine.source, music)
    earlier = earlier_made_with(out)
    differences = replaced_differently(earlier, made) if earlier else []
    if differences:
        reporter.warn(f"replacing {out}, which was made differently: {'; '.join(differences)}; "
                      "to keep both, give this build another name with -o")
    bed = Bed(music, options.music, plan, SAMPLE_RATE) if music is not None else None
    timeline = Timeline(plan, clips.clip, chimes, SAMPLE_RATE, bed=bed)
    spans, split = split_spans(timeline, plan, out, options.bitrate_kbps) if options.split else \
        (timeline.segments(), None)

    def write(encode: Callable[[BinaryIO], None]) -> list[Path]:
        engine = clips.engine.name
        files = write_session(out, encode, plan, session_comment(routine.about, options, engine), made,
                              reporter.written, title=session_title(plan.title, options, engine),
                              sidecars=not options.only_mp3, split=split, cover=session_cover(plan, options, engine))
        feed = update_feed(out.parent, reporter, create=not options.only_mp3)
        return files + ([feed] if feed else [])

    store = SessionStore(clips.cache.root)
    key = session_key(plan, made, clips, chimes, options, music)
    stored = store.get(key)
    log.info("stored mix %s: %s", key[:12], "found, reused" if stored else "none, mixing")
    if stored is not None:
        reporter.stage("Mixing and encoding: unchanged since an earlier build, taken from the cache")
        audio, meta = stored
        if music is not None:
            made["music_bed"] = meta.get("music")

        def copy_stored(file: BinaryIO) -> None:
            with open(audio, "rb") as source:
                shutil.copyfileobj(source, file)

        files = write(copy_stored)
        return BuildResult(plan, tuple(files), Levels(**meta["levels"]), clips.synthesized, clips.cached)
    reporter.stage("Levelling")
    levelled = level(timeline, options.target_lufs, workers=workers, scratch=clips.cache.root)
    reached("measured")
    try:
        if music is not None:
            made["music_bed"] = levelled.music_summary()
        release_free_memory()
        reporter.stage("Mixing and encoding MP3")
        files = _encode_and_store(levelled, spans, options.bitrate_kbps, workers, store, key, write)
    finally:
        levelled.close()
    return BuildResult(plan, tuple(files), levelled.levels(), clips.synthesized, clips.cached)


def session_cover(plan: Plan, options: BuildOptions, engine: str) -> bytes:
    """The session's cover (PNG): its title, what sets it apart, its length and each exercise's chapter."""
    from .cover import CoverText, cover_png

    exercises = plan.chapters[1 if options.plan.intro else 0:-1]  # not the intro and outro
    variant = ", ".join(words for words, _ in heard(options, engine))
    try:
        count = options.plan.phrases.count("exercises", len(exercises))
    except MissingPhrase:  # a language with no table of its own: the routine's phrases said it, if at all
        count = str(len(exercises))
    return cover_png(CoverText(plan.title, plan.duration_ms,
                               tuple((c.title, c.end_ms - c.start_ms) for c in exercises), variant, count))


def update_feed(folder: Path, reporter: Reporter, create: bool = True) -> Path | None:
    """Regenerate the library's feed.xml after a build (without `create`, only one already there: an
    --only-mp3 build writes the MP3 alone, but keeps a library's feed up to date). The session is in
    place by now: a feed that cannot be written is a warning (`serve` makes its own from the folder),
    not a failed build."""
    from .feed import FEED_NAME, write_feed

    if not create and not (folder / FEED_NAME).exists():
        return None
    try:
        feed = write_feed(folder)
    except OSError as exc:
        reporter.warn(f"{folder / FEED_NAME}: not updated ({exc.strerror or exc}); the session is written, and "
                      "`voiceguide serve` lists it all the same")
        return None
    reached("feed written")
    return feed


def split_spans(timeline: Timeline, plan: Plan, out: Path,
                bitrate_kbps: int = default("bitrate")) -> tuple[list[tuple[int, int]], Split]:
    """The segments to encode so each chapter's file is whole segments of the session, and where each
    chapter's file begins: at the last silent frame boundary at or before the chapter's start.

    Under music nothing is silent: a chapter's file begins a few frames before the frame its start is
    in, the frames whose bytes a player starting there lacks (`mp3.reservoir_lead_frames`), so it
    decodes alone to the session's samples from before the chapter's start on."""
    starts = [ms_to_samples(c.start_ms, SAMPLE_RATE) for c in plan.chapters[1:]]
    if timeline.bed is not None:
        lead = reservoir_lead_frames(bitrate_kbps)
        firsts = [0, *(max(0, at // MP3_FRAME - lead) * MP3_FRAME for at in starts)]
        return timeline.segments(), Split(tuple(firsts), timeline.length, SAMPLE_RATE)
    try:
        spans = timeline.segments(starts)
    except NoCut as exc:
        raise OutputError(f"{out}: --split: no silence before chapter {exc.part + 2} "
                          f'"{plan.chapters[exc.part + 1].title}" to cut the session at; build without --split') from None
    cuts = [s for s, _ in spans]
    firsts = [0, *(max(c for c in cuts if c <= at) for at in starts)]
    return spans, Split(tuple(firsts), timeline.length, SAMPLE_RATE)


def _encode_and_store(levelled: LevelledSession, spans: list[tuple[int, int]], bitrate_kbps: int, workers: int,
                      store: SessionStore, key: str,
                      write: Callable[[Callable[[BinaryIO], None]], list[Path]]) -> list[Path]:
    """Encode the session through `write` and keep a copy of the audio in the store for unchanged
    rebuilds; a full or read-only cache costs the next build time, never this one its result."""
    spare: Path | None = None
    tee: _Tee | None = None

    def encode(file: BinaryIO) -> None:
        nonlocal tee
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
                store.put(key, spare, {"levels": asdict(levelled.levels()), "music": levelled.music_summary()})
                reached("stored")
            except OSError:
                pass
    finally:
        if spare:
            spare.unlink(missing_ok=True)
    return files


_CLIP_BYTES_PER_S = 96_000  # 16-bit mono at up to 48 kHz: what engines write
_BLOCK_BYTES_PER_S = SAMPLE_RATE * 2 // 45  # the leveller's two bytes per ~1 ms block


@dataclass(frozen=True)
class SpaceNeed:
    """Bytes a build will write, estimated from the plan laid out with estimated speech (as `check`
    does): close, not exact."""

    session: int
    """The MP3 (and its chapter files), captions and plan beside the output."""
    cache: int
    """Levelling files and the stored mix in the cache (the clips are counted when they are known)."""
    wpm: int


def space_needed(routine: Routine, options: BuildOptions, music: MusicFile | None = None) -> SpaceNeed | None:
    try:
        shape = build_plan(routine, estimated_measure(options.voice.rate_wpm), options.plan)
    except PlanError:
        return None  # the real plan will say what does not fit
    seconds = shape.duration_ms / 1000
    mp3 = int(seconds * options.bitrate_kbps * 125)
    session = mp3 * (2 if options.split else 1) + 64 * 1024 + len(shape.events) * 200
    cache = int(seconds * _BLOCK_BYTES_PER_S + mp3)
    if music is not None:  # decoded at 16 bits as far as needed, and its peaks
        cache += int(min(music.seconds, seconds) * SAMPLE_RATE * 2 + seconds * _BLOCK_BYTES_PER_S / 2)
    return SpaceNeed(session, cache, options.voice.rate_wpm)


def check_space(need: SpaceNeed | None, out: Path, cache_root: Path, new_clips: Sequence[Utterance] = ()) -> None:
    """Refuse a build whose files cannot fit where they go: the session beside `out`; the clips still to
    be spoken, the levelling files, the decoded music and the stored mix in the cache. Checked before the
    engine starts, then again with the clips the cache lacks, before they are spoken."""
    if need is None:
        return
    speech_s = sum(estimated_measure(need.wpm)(u) for u in new_clips) / 1000
    cache = need.cache + int(speech_s * _CLIP_BYTES_PER_S * _RESPOKEN)
    if _same_disk(out.parent, cache_root):
        require_free(out.parent, need.session + cache, "this session with its speech cache",
                     "free some space, or write elsewhere with -o / VOICEGUIDE_CACHE_DIR")
        return
    require_free(out.parent, need.session, "this session", "free some space, or write it elsewhere with -o")
    require_free(cache_root, cache, "the speech cache for this session",
                 "free some space, or set VOICEGUIDE_CACHE_DIR to another folder")


_RESPOKEN = 1.5  # lines spoken again at a corrected rate are stored too


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
                options: BuildOptions, music: MusicFile | None = None) -> str:
    """Everything the mixed audio depends on: the plan and settings, the exact clips and chimes, the
    music file's bytes, and the code that mixes them (so a changed voiceguide never reuses audio an older one made). Not what
    changes only the files around the audio: where the routine file is, its name in the tags, the sidecars."""
    digest = hashlib.sha256(plan_json(plan, {k: v for k, v in made.items() if k != "source"}).encode())
    for event in plan.speech:
        if event.utterance is not None:
            digest.update(clips.key_of(event.utterance).encode())
    for name in sorted(chimes):
        digest.update(name.encode() + chimes[name].tobytes())
    if music is not None:
        digest.update(f"music {music.sha256}".encode())
    digest.update(repr(replace(options, only_mp3=False, variant=())).encode())
    for source in sorted(Path(__file__).parent.rglob("*.py")):
        digest.update(source.read_bytes())
    from importlib.metadata import PackageNotFoundError, version

    for package in ("numpy", "soxr", "lameenc", "mutagen", *(("soundfile",) if music is not None else ())):
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
