"""A content-addressed store of synthesised clips, so a rebuild speaks nothing twice."""
from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from platformdirs import user_cache_dir

from .atomic import remove_stale, temp_file, temp_prefix, write_atomic
from .audio import Audio, is_complete_wav
from .user_paths import user_path


def default_cache_dir() -> Path:
    """`VOICEGUIDE_CACHE_DIR`, else the user cache folder (e.g. ~/.cache/voiceguide)."""
    override = os.environ.get("VOICEGUIDE_CACHE_DIR")
    return user_path(override, "VOICEGUIDE_CACHE_DIR") if override else Path(user_cache_dir("voiceguide")) / "clips"


def clip_key(engine: str, engine_version: str, voice: str, rate_wpm: int, text: str) -> str:
    """The cache key: everything that changes the sound of a clip, and nothing else."""
    blob = json.dumps([engine, engine_version, voice, rate_wpm, text], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ClipCache:
    """WAV files named by their key; entries are written atomically and checked when read."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else default_cache_dir()

    def check_writable(self) -> None:
        """Fail before any synthesis when the cache folder cannot take new clips."""
        from .errors import VoiceguideError

        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=temp_prefix()):
                pass
        except OSError as exc:
            raise VoiceguideError(f"{self.root}: the speech cache folder is not usable ({exc.strerror or exc}); "
                                  "set VOICEGUIDE_CACHE_DIR to a writable folder") from None

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.wav"

    def get(self, key: str) -> Path | None:
        """The cached WAV, or None when missing or damaged (a damaged entry is removed)."""
        path = self.path(key)
        if not path.exists():
            return None
        if is_complete_wav(path):
            return path
        path.unlink(missing_ok=True)
        return None

    def put(self, key: str, audio: Audio) -> Path:
        """Store a checked clip as a WAV file, atomically."""
        target = self.path(key)
        with cache_errors(self.root):
            write_atomic(target, audio.wav_bytes())
        return target

    def remove_stale_temp_files(self) -> None:
        """Temporary files of builds that were killed (their process is gone) are removed."""
        for folder in [self.root, self.root / "rates", self.root / "sessions", *self.root.glob("??")]:
            remove_stale(folder)


class cache_errors:
    """A full or unwritable cache is the user's to fix: say so, with the folder, not a traceback."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        if isinstance(exc, OSError):
            from .errors import VoiceguideError

            fix = ("free some space, or set VOICEGUIDE_CACHE_DIR to another folder" if exc.errno == errno.ENOSPC
                   else "set VOICEGUIDE_CACHE_DIR to a writable folder")
            raise VoiceguideError(f"{self.root}: could not store speech in the cache ({exc.strerror or exc}); "
                                  f"{fix}") from None
        return False


class SessionStore:
    """Mixed and encoded sessions (the MP3 audio before tags), by a key over everything that shapes them.

    A rebuild that changes nothing (the same routine, settings, clips, chimes and code) copies the
    audio instead of mixing and encoding it again. Only the most recently used few are kept.
    """

    KEEP = 16

    def __init__(self, root: Path) -> None:
        self.root = Path(root) / "sessions"

    def get(self, key: str) -> tuple[Path, dict[str, Any]] | None:
        audio, info = self.root / f"{key}.mp3", self.root / f"{key}.json"
        try:
            meta = json.loads(info.read_text())
            if audio.stat().st_size != meta["bytes"] or _sha256(audio) != meta["sha256"]:
                return None
            os.utime(audio)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return audio, meta

    def put(self, key: str, audio: Path, meta: dict[str, Any]) -> None:
        """Move a finished audio file in (atomically) and forget the least recently used beyond KEEP."""
        self.root.mkdir(parents=True, exist_ok=True)
        write_atomic(self.root / f"{key}.json",
                     json.dumps({**meta, "bytes": audio.stat().st_size, "sha256": _sha256(audio)}).encode())
        os.replace(audio, self.root / f"{key}.mp3")
        stored = sorted(self.root.glob("*.mp3"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in stored[self.KEEP:]:
            old.unlink(missing_ok=True)
            old.with_suffix(".json").unlink(missing_ok=True)

    def temp_file(self) -> Path:
        """A temporary file in the store's folder, so `put` can move it in atomically."""
        self.root.mkdir(parents=True, exist_ok=True)
        return temp_file(self.root, ".mp3")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
