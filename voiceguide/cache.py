"""A content-addressed store of synthesised clips, so a rebuild speaks nothing twice."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import wave
from pathlib import Path

from platformdirs import user_cache_dir


def default_cache_dir() -> Path:
    """`VOICEGUIDE_CACHE_DIR`, else the user cache folder (e.g. ~/.cache/voiceguide)."""
    override = os.environ.get("VOICEGUIDE_CACHE_DIR")
    return Path(override) if override else Path(user_cache_dir("voiceguide")) / "clips"


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
            probe = tempfile.NamedTemporaryFile(dir=self.root, prefix=".tmp-probe-")
            probe.close()
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

    def put(self, key: str, wav: Path) -> Path:
        """Copy a finished WAV into the cache (atomically, so readers never see half a file)."""
        target = self.path(key)
        write_atomic(target, Path(wav).read_bytes())
        return target


def write_atomic(target: Path, data: bytes) -> None:
    """Write through a temporary file in the same folder, so a reader sees the old file or the new one."""
    from .interrupts import deferred

    target.parent.mkdir(parents=True, exist_ok=True)
    with deferred():  # a Ctrl-C between mkstemp and the cleanup below would leave the temporary file
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def is_complete_wav(path: Path) -> bool:
    """A WAV whose header parses, holds audio frames, and whose data is all there."""
    try:
        with wave.open(str(path), "rb") as w:
            frames = w.getnframes()
            need = frames * w.getsampwidth() * w.getnchannels()
            return frames > 0 and path.stat().st_size >= 44 + need
    except (OSError, EOFError, wave.Error):
        return False


class SessionStore:
    """Mixed and encoded sessions (the MP3 audio before tags), by a key over everything that shapes them.

    A rebuild that changes nothing (the same routine, settings, clips, chimes and code) copies the
    audio instead of mixing and encoding it again. Only the most recently used few are kept.
    """

    KEEP = 16

    def __init__(self, root: Path) -> None:
        self.root = Path(root) / "sessions"

    def get(self, key: str) -> tuple[Path, dict] | None:
        audio, info = self.root / f"{key}.mp3", self.root / f"{key}.json"
        try:
            meta = json.loads(info.read_text())
            if audio.stat().st_size != meta["bytes"]:
                return None
            os.utime(audio)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return audio, meta

    def put(self, key: str, audio: Path, meta: dict) -> None:
        """Move a finished audio file in (atomically) and forget the least recently used beyond KEEP."""
        self.root.mkdir(parents=True, exist_ok=True)
        write_atomic(self.root / f"{key}.json", json.dumps({**meta, "bytes": audio.stat().st_size}).encode())
        os.replace(audio, self.root / f"{key}.mp3")
        stored = sorted(self.root.glob("*.mp3"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in stored[self.KEEP:]:
            old.unlink(missing_ok=True)
            old.with_suffix(".json").unlink(missing_ok=True)

    def temp_file(self) -> Path:
        """A temporary file in the store's folder, so `put` can move it in atomically."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".mp3")
        os.close(fd)
        return Path(name)
