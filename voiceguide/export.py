"""Write what the user gets: the MP3 with tags, chapters and cover, the captions, the plan, the chapters
for podcast apps and the cover image, and with --split one MP3 per chapter and a playlist; all atomically."""
from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from .atomic import (
    NotARegularFile,
    PendingFile,
    check_targets,
    recover_swaps,
    remove_stale,
    replace_together,
)
from .errors import OutputError
from .names import slug
from .plan import Plan
from .stages import reached

if TYPE_CHECKING:
    from mutagen.id3 import ID3

ARTIST = "voiceguide"
"""The ID3 artist of every session: how a library tells its sessions from other MP3s in the folder."""
COVER_MIME = "image/png"
CHAPTERS_MIME = "application/json+chapters"
"""What the Podcasting 2.0 JSON chapters format asks to be served as."""


def tag_mp3(path: Path | BinaryIO, plan: Plan, comment: str, title: str | None = None,
            cover: bytes | None = None) -> None:
    """ID3 title, artist, album, comment, the cover (a PNG, as APIC), and chapters (CHAP per section
    under one ordered CTOC). `title` (default: the plan's) is the title and album, so a variant's name
    shows on a phone."""
    from mutagen.id3 import CHAP, CTOC, TIT2, CTOCFlags

    tags = _common_tags(title or plan.title, comment, plan.language, cover)
    ids = [f"chp{i}" for i in range(len(plan.chapters))]
    tags.add(CTOC(element_id="toc", flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
                  child_element_ids=ids, sub_frames=[TIT2(encoding=3, text=["Chapters"])]))
    for element_id, chapter in zip(ids, plan.chapters):
        tags.add(CHAP(element_id=element_id, start_time=chapter.start_ms, end_time=chapter.end_ms,
                      start_offset=0xFFFFFFFF, end_offset=0xFFFFFFFF,
                      sub_frames=[TIT2(encoding=3, text=[chapter.title])]))
    _save(tags, path)


def tag_part(path: Path | BinaryIO, title: str, album: str, comment: str, number: int, count: int,
             language: str = "en", cover: bytes | None = None) -> None:
    """ID3 of one chapter's file: its title, the session as album, track number n/N, the session's cover."""
    from mutagen.id3 import TIT2, TRCK

    tags = _common_tags(album, comment, language, cover)
    tags.delall("TIT2")
    tags.add(TIT2(encoding=3, text=[title]))
    tags.add(TRCK(encoding=3, text=[f"{number}/{count}"]))
    _save(tags, path)


def _common_tags(title: str, comment: str, language: str, cover: bytes | None = None) -> ID3:
    """Title, artist, album, the language spoken (TLAN, ISO 639-2 as ID3 wants: "deu"), the comment in
    it, and the cover."""
    from mutagen.id3 import APIC, COMM, ID3, TALB, TIT2, TLAN, TPE1, PictureType

    from .language import iso639_2

    code = iso639_2(language)
    tags = ID3()
    tags.add(TIT2(encoding=3, text=[title]))
    tags.add(TPE1(encoding=3, text=[ARTIST]))
    tags.add(TALB(encoding=3, text=[title]))
    tags.add(TLAN(encoding=3, text=[code]))
    if comment:
        tags.add(COMM(encoding=3, lang=code, desc="", text=[comment]))
    if cover:
        tags.add(APIC(encoding=3, mime=COVER_MIME, type=PictureType.COVER_FRONT, desc="Cover", data=cover))
    return tags


def _save(tags: ID3, path: Path | BinaryIO) -> None:
    from mutagen import MutagenError

    try:
        tags.save(str(path) if isinstance(path, Path) else path, v2_version=4, padding=lambda info: 0)
    except MutagenError as exc:  # e.g. a full disk: mutagen wraps the OSError in its own class
        cause = exc.__cause__ or exc.__context__
        raise cause if isinstance(cause, OSError) else OSError(str(exc)) from None


def webvtt(plan: Plan) -> str:
    """Every spoken line as a WebVTT cue, timed as the plan places it; the header names the language."""
    lines = ["WEBVTT", f"Language: {plan.language}", ""]
    for i, e in enumerate(plan.speech, 1):
        lines += [str(i), f"{_vtt_time(e.start_ms)} --> {_vtt_time(e.end_ms)}", vtt_text(e.text), ""]
    return "\n".join(lines)


def vtt_text(text: str) -> str:
    """A line as WebVTT cue text: &, < and > escaped (so "-->" and tags cannot end or change the cue),
    on one line (a blank line would end it)."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(escaped.split())


def _vtt_time(ms: int) -> str:
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def chapters_json(plan: Plan, title: str | None = None) -> str:
    """The chapters in the Podcasting 2.0 JSON chapters format (version 1.2.0), which a feed's
    `podcast:chapters` points podcast apps at: seconds with the milliseconds kept."""
    data = {
        "version": "1.2.0",
        "title": title or plan.title,
        "author": ARTIST,
        "chapters": [{"startTime": c.start_ms / 1000, "endTime": c.end_ms / 1000, "title": c.title}
                     for c in plan.chapters],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def plan_json(plan: Plan, made_with: dict[str, Any] | None = None) -> str:
    """The plan as JSON; `made_with` records the settings and versions that produced it."""
    data = plan.to_dict()
    if made_with:
        data["made_with"] = made_with
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def check_writable(mp3_path: Path, sidecars: bool = True, split: bool = False, cover: bool = True) -> None:
    """Fail before any synthesis if the output folder cannot take the session's files."""
    folder = mp3_path.parent
    if mp3_path.suffix.lower() != ".mp3":
        raise OutputError(f"{mp3_path}: the session is an MP3 (with .vtt and .json beside it); "
                          "give a file name ending in .mp3, or a folder (ending in /) to write it in, with -o")
    if mp3_path.stem.lower().endswith(CHAPTERS_SUFFIX.removesuffix(".json")):
        raise OutputError(f"{mp3_path}: a session's name may not end in \".chapters\" (its plan would be named "
                          "as another session's chapters file); choose another name with -o")
    for above in [folder, *folder.parents]:
        if above.exists():
            if not above.is_dir():
                raise OutputError(f"{above}: is not a folder, so the output folder {folder} cannot be made; "
                                  "choose another place with -o")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{folder}: cannot create the output folder ({exc.strerror}); choose another with -o") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{folder}: the output folder is not writable; choose another with -o")
    names = [p.name for p in session_files(mp3_path, sidecars, cover)]
    if split:
        names.append(f"{mp3_path.stem}.m3u")  # in the chapter folder; longer than the folder's own name
    try:
        longest = max(len(name.encode()) for name in names)
        limit = os.pathconf(folder, "PC_NAME_MAX") if hasattr(os, "pathconf") else 255
    except (OSError, ValueError):
        limit = 255
    if longest > limit:
        own = len(mp3_path.name.encode())
        if longest == own:
            raise OutputError(f"{mp3_path}: the file name is {longest} bytes long with its extension; this folder "
                              f"takes at most {limit}; choose a shorter name with -o")
        beside = max(names, key=lambda name: len(name.encode()))
        ending = beside.removeprefix(mp3_path.stem)
        raise OutputError(f"{mp3_path}: the file name is {own} bytes long with its extension, and {longest} bytes as "
                          f"its {ending} beside it; this folder takes at most {limit}; choose a name of at most "
                          f"{own - (longest - limit)} bytes with -o")
    try:
        check_targets(session_files(mp3_path, sidecars, cover))
    except OSError as exc:
        raise OutputError(_write_problem(exc, mp3_path)) from None
    if split:
        _check_split_folder(split_folder(mp3_path))
    probe: PendingFile | None = None
    try:  # a folder that looks writable but is not (/proc, a full disk): find out now, not after the work
        probe = PendingFile(mp3_path)
        with probe.open() as out:
            out.write(b"\0")
            out.flush()
    except OSError as exc:
        raise OutputError(f"{folder}: files cannot be written in this folder ({exc.strerror or exc}); "
                          "choose another with -o") from None
    finally:
        if probe is not None:
            probe.discard()


def _check_split_folder(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: is not a folder, so --split cannot put the chapter files there; move it "
                          "away or choose another name with -o")
    if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{folder}: the folder for the chapter files (--split) is not writable; make it "
                          "writable or choose another name with -o")


def _write_problem(exc: OSError, mp3_path: Path) -> str:
    where = exc.filename or mp3_path
    if isinstance(exc, IsADirectoryError):
        return f"{where}: is a folder, so the session cannot be written there; move it away or choose another name with -o"
    if isinstance(exc, NotARegularFile):
        return f"{where}: is not a regular file, so the session cannot be written there; choose another name with -o"
    return f"{where}: could not write the session ({exc.strerror or exc}); check free space and permissions"


CHAPTERS_SUFFIX = ".chapters.json"
COVER_SUFFIX = ".cover.png"
SIDECAR_SUFFIXES = (".vtt", ".json", CHAPTERS_SUFFIX, COVER_SUFFIX)
"""What sits beside a session's MP3, in the order `session_files` lists them."""


def session_files(mp3_path: Path, sidecars: bool = True, cover: bool = True) -> list[Path]:
    """The files a session is made of: the MP3, and unless left out its captions, plan, chapters
    (for podcast apps) and, when it has one, its cover image."""
    if not sidecars:
        return [mp3_path]
    suffixes = SIDECAR_SUFFIXES if cover else SIDECAR_SUFFIXES[:-1]
    return [mp3_path, *(mp3_path.with_suffix(suffix) for suffix in suffixes)]


def split_folder(mp3_path: Path) -> Path:
    """Where `--split` puts a session's chapter files and playlist: a folder named as the MP3, beside it."""
    return mp3_path.with_suffix("")


@dataclass(frozen=True)
class Split:
    """How to cut a session into one MP3 per chapter: where each chapter's file begins, as samples
    of the session at `rate`. Each is a frame boundary in silence at or just before the chapter's
    start (`mp3.part_cuts`), so a chapter's file is whole frames of the session's MP3."""

    starts: tuple[int, ...]
    length: int
    """The session's length in samples."""
    rate: int


def part_files(mp3_path: Path, plan: Plan) -> list[Path]:
    """The chapter files of a session: 01-intro.mp3, 02-wide-leg-bend.mp3, ... in its split folder."""
    width = max(2, len(str(len(plan.chapters))))
    folder = split_folder(mp3_path)
    return [folder / f"{n:0{width}d}-{slug(c.title)}.mp3" for n, c in enumerate(plan.chapters, 1)]


def playlist_file(mp3_path: Path) -> Path:
    return split_folder(mp3_path) / f"{mp3_path.stem}.m3u"


def playlist(titles: list[str], files: list[Path], seconds: list[int], album: str) -> str:
    """An extended M3U playlist of the chapter files, by names relative to the playlist (UTF-8)."""
    lines = ["#EXTM3U", f"#PLAYLIST:{_one_line(album)}"]
    for title, file, length in zip(titles, files, seconds):
        lines += [f"#EXTINF:{length},{_one_line(title)}", file.name]
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    return " ".join(text.split())


_PART_NAME = re.compile(r"\d{2,}-[a-z0-9-]+\.mp3")
"""A chapter file's name, as `part_files` makes it: an earlier build's not among this build's is removed."""


def stale_parts(folder: Path, keep: list[Path]) -> list[Path]:
    """Chapter files an earlier build left in `folder` that this build does not write (it had more
    chapters, or other titles); anything else in the folder is the user's and left alone."""
    try:
        found = [p for p in folder.iterdir() if _PART_NAME.fullmatch(p.name) and p.is_file()]
    except OSError:
        return []
    return sorted(set(found) - set(keep))


_LARGEST_PLAN = 64 << 20
"""A plan beside an MP3 larger than this is not ours (a day-long session's is a few MB): not read."""


def earlier_made_with(mp3_path: Path) -> dict[str, Any] | None:
    """What made the session now at `mp3_path`, from the plan beside it (its `made_with`); None when
    there is no such session, or its plan is missing, unreadable or older than the MP3 (an
    `--only-mp3` build replaced the MP3 after it was written)."""
    data = mp3_path.with_suffix(".json")
    try:
        if not mp3_path.is_file() or data.stat().st_mtime_ns < mp3_path.stat().st_mtime_ns:
            return None
        if data.stat().st_size > _LARGEST_PLAN:
            return None
        made = json.loads(data.read_text(encoding="utf-8")).get("made_with")
    except (OSError, ValueError, AttributeError):
        return None
    return made if isinstance(made, dict) else None


def write_session(mp3_path: Path, write_mp3: Callable[[BinaryIO], None], plan: Plan, comment: str,
                  made_with: dict[str, Any] | None = None, on_written: Callable[[], None] | None = None, *,
                  title: str | None = None, sidecars: bool = True, split: Split | None = None,
                  cover: bytes | None = None) -> list[Path]:
    """Write MP3, .vtt, .json, .chapters.json and (given `cover`, PNG bytes) .cover.png side by side
    (with `sidecars=False`, the MP3 alone: the cover is still inside it), and with `split` one MP3 per
    chapter and a playlist in the session's split folder; all land together or none does.

    Each is written to a file in the same folder that has no name yet (or a temporary name where
    the system cannot do that) and moved into place only when all are complete; if one cannot be
    moved, those already moved are put back. So a failure never leaves a partial file or a mix of
    two builds, and even a build killed outright (SIGKILL, power loss) leaves nothing behind.
    Chapter files of an earlier build that this one does not write are removed in the same step.
    `on_written()` is called the moment all are in place.
    """
    targets = session_files(mp3_path, sidecars, cover is not None)
    folder = split_folder(mp3_path)
    parts = part_files(mp3_path, plan) if split else []
    made_folder = done = False
    recover_swaps(mp3_path.parent)  # a build killed while swapping its files in: the previous session whole
    remove_stale(mp3_path.parent)  # what a killed build left behind where files must be named
    pending: list[PendingFile] = []
    try:
        if split:
            _check_split_folder(folder)
            if not folder.is_dir():
                folder.mkdir()
                made_folder = True
            remove_stale(folder)
            targets += [*parts, playlist_file(mp3_path)]
        check_targets(targets)  # before the work, not after
        for target in targets:
            pending.append(PendingFile(target))
        mp3 = pending[0]
        with mp3.open() as out:
            write_mp3(out)
        if split:
            _write_parts(mp3, pending[-len(parts) - 1:], plan, split, title or plan.title, comment, cover)
        with mp3.open() as out:
            tag_mp3(out, plan, comment, title, cover)
        if sidecars:  # after the MP3, so each is at least as new as it (what tells them from an older build's)
            texts = [webvtt(plan), plan_json(plan, made_with), chapters_json(plan, title)]
            for file, text in zip(pending[1:4], texts):
                with file.open() as out:
                    out.write(text.encode("utf-8"))
            if cover is not None:
                with pending[4].open() as out:
                    out.write(cover)
        reached("files ready")
        replace_together(pending, on_written, remove=stale_parts(folder, parts) if split else ())
        reached("files in place")
        done = True
    except OSError as exc:
        raise OutputError(_write_problem(exc, mp3_path)) from None
    finally:
        for file in pending:
            file.discard()
        if made_folder and not done:
            _remove_empty(folder)
    return targets


def _write_parts(mp3: PendingFile, pending: list[PendingFile], plan: Plan, split: Split, album: str,
                 comment: str, cover: bytes | None) -> None:
    """Copy each chapter's frames out of the session's (untagged) MP3 into its own file, tag it, and
    write the playlist (the last of `pending`)."""
    import mmap

    from .mp3 import MP3_FRAME, frame_offsets

    files, playlist_out = pending[:-1], pending[-1]
    with mp3.open() as source, mmap.mmap(source.fileno(), 0, access=mmap.ACCESS_READ) as data:
        frames = [start // MP3_FRAME for start in split.starts]
        offsets = frame_offsets(data, frames) + [len(data)]
        for n, (file, lo, hi) in enumerate(zip(files, offsets, offsets[1:]), 1):
            with file.open() as out:
                out.write(data[lo:hi])
            with file.open() as out:
                tag_part(out, plan.chapters[n - 1].title, album, comment, n, len(files), plan.language, cover)
    bounds = [*split.starts, split.length]
    seconds = [max(1, round((b - a) / split.rate)) for a, b in pairwise(bounds)]
    text = playlist([c.title for c in plan.chapters], [f.target for f in files], seconds, album)
    with playlist_out.open() as out:
        out.write(text.encode("utf-8"))


def _remove_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
