"""A library: the sessions in one folder, read back from their files (what the feed and `serve` list)."""
from __future__ import annotations

import hashlib
import logging
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from .atomic import TEMP_MARK
from .export import ARTIST, CHAPTERS_SUFFIX, COVER_SUFFIX
from .language import from_iso639_2

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Session:
    """One session of a library, as its files say: the MP3's own tags, and the sidecars made with it."""

    mp3: Path
    title: str
    description: str
    duration_ms: int
    size: int
    modified_ns: int
    sha256: str
    """Of the MP3's bytes: what tells one build from another (the feed's guid, the version in its URL)."""
    plan: Path | None = None
    captions: Path | None = None
    chapters: Path | None = None
    cover: Path | None = None
    language: str = ""
    """The language spoken (a BCP 47 tag, from the MP3's TLAN frame); "" when it does not say."""

    @property
    def stem(self) -> str:
        return self.mp3.stem

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file of the session that may be handed out."""
        return tuple(p for p in (self.mp3, self.plan, self.captions, self.chapters, self.cover) if p is not None)


@dataclass(frozen=True)
class _Tags:
    title: str
    description: str
    duration_ms: int
    sha256: str
    language: str


_read: dict[tuple[str, int, int, int], _Tags | None] = {}
"""What each MP3 said, by path, size, change time and inode: a library is read again on every request
of `serve`, and an unchanged file is not read twice."""
_read_lock = threading.Lock()


def scan(folder: Path) -> list[Session]:
    """The sessions in `folder` (not in folders below it), newest first: every regular .mp3 file whose
    ID3 artist is voiceguide's. Symbolic links, temporary files and other MP3s are not sessions.
    A sidecar counts only when it is a regular file at least as new as the MP3 (one an `--only-mp3`
    build left from an earlier build is not this session's)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    sessions = []
    for entry in entries:
        if not entry.name.lower().endswith(".mp3") or entry.name.startswith((".", TEMP_MARK)):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode):
            continue
        path = Path(entry.path)
        tags = _tags(path, info)
        if tags is None:
            continue
        sidecars = {suffix: _sidecar(path.with_suffix(suffix), info.st_mtime_ns)
                    for suffix in (".json", ".vtt", CHAPTERS_SUFFIX, COVER_SUFFIX)}
        sessions.append(Session(path, tags.title, tags.description, tags.duration_ms, info.st_size,
                                info.st_mtime_ns, tags.sha256, sidecars[".json"], sidecars[".vtt"],
                                sidecars[CHAPTERS_SUFFIX], sidecars[COVER_SUFFIX], tags.language))
    return sorted(sessions, key=lambda s: (-s.modified_ns, s.mp3.name))


def _sidecar(path: Path, mp3_modified_ns: int) -> Path | None:
    try:
        info = path.stat(follow_symlinks=False)
    except OSError:
        return None
    return path if stat.S_ISREG(info.st_mode) and info.st_mtime_ns >= mp3_modified_ns else None


def _tags(path: Path, info: os.stat_result) -> _Tags | None:
    key = (str(path), info.st_size, info.st_ctime_ns, info.st_ino)
    with _read_lock:
        if key in _read:
            return _read[key]
    tags = _read_tags(path)
    with _read_lock:
        if len(_read) > 4096:
            _read.clear()
        _read[key] = tags
    return tags


def _read_tags(path: Path) -> _Tags | None:
    from mutagen import MutagenError
    from mutagen.mp3 import MP3

    try:
        with open(path, "rb") as file:
            audio = MP3(file)
            file.seek(0)
            digest = hashlib.file_digest(file, "sha256").hexdigest()
    except (OSError, MutagenError) as exc:
        log.info("%s: not read as a session (%s)", path, exc)
        return None
    tags = audio.tags
    if tags is None or [str(t) for t in getattr(tags.get("TPE1"), "text", [])] != [ARTIST]:
        return None
    title = str(tags["TIT2"].text[0]) if "TIT2" in tags else path.stem
    comments = tags.getall("COMM")
    description = str(comments[0].text[0]) if comments and comments[0].text else ""
    ends = [frame.end_time for frame in tags.getall("CHAP")]
    duration_ms = max(ends) if ends else round(audio.info.length * 1000)
    spoken = [str(t) for t in getattr(tags.get("TLAN"), "text", [])]
    language = (from_iso639_2(spoken[0]) or "") if spoken else ""
    return _Tags(title, description, duration_ms, digest, language)
