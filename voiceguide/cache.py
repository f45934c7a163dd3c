"""A content-addressed store of synthesised clips, so a rebuild speaks nothing twice."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
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
            probe = tempfile.NamedTemporaryFile(dir=self.root, prefix=temp_prefix() + "probe-")
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

    def temp_path(self, key: str) -> Path:
        """Where an engine writes a clip before it is checked and adopted (same folder: a rename)."""
        folder = self.path(key).parent
        with cache_errors(self.root):
            folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{temp_prefix()}{key}.wav"

    def adopt(self, key: str, wav: Path) -> Path:
        """Move a checked clip from `temp_path(key)` into place, atomically."""
        target = self.path(key)
        with cache_errors(self.root):
            os.replace(wav, target)
        return target

    def remove_stale_temp_files(self) -> None:
        """Temporary files of builds that were killed (their process is gone) are removed."""
        for folder in [self.root, self.root / "rates", self.root / "sessions", *self.root.glob("??")]:
            remove_stale(folder, ".tmp-")


def temp_prefix(stem: str = "") -> str:
    """Temporary files carry the writing process's id, so a later build can tell a killed build's
    leftovers (process gone: removed) from a running build's files (left alone)."""
    return f".{stem + '.' if stem else ''}tmp-{os.getpid()}-"


STALE_AFTER_S = 600
"""A temporary file untouched this long whose process is gone is a killed build's. (Process ids are
not proof alone: a build in another container sharing the cache has ids this one cannot see.)"""


def remove_stale(folder: Path, prefix: str) -> None:
    """Remove `prefix<pid>-*` files in `folder` whose process no longer runs and that have not been
    written to for STALE_AFTER_S seconds."""
    try:
        names = [p for p in folder.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return
    now = time.time()
    for path in names:
        pid = path.name[len(prefix):].split("-", 1)[0]
        try:
            if pid.isdigit() and not _running(int(pid)) and now - path.stat().st_mtime > STALE_AFTER_S:
                path.unlink()
        except OSError:
            pass


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but another user's
        return True
    return True


class cache_errors:
    """A full or unwritable cache is the user's to fix: say so, with the folder, not a traceback."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        if isinstance(exc, OSError):
            from .errors import VoiceguideError

            raise VoiceguideError(f"{self.root}: could not store speech in the cache ({exc.strerror or exc}); free "
                                  "some space, or set VOICEGUIDE_CACHE_DIR to another folder") from None
        return False


def write_atomic(target: Path, data: bytes) -> None:
    """Write through a temporary file in the same folder, so a reader sees the old file or the new one."""
    from .interrupts import deferred

    target.parent.mkdir(parents=True, exist_ok=True)
    with deferred():  # a Ctrl-C between mkstemp and the cleanup below would leave the temporary file
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=temp_prefix(), suffix=target.suffix)
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
            if audio.stat().st_size != meta["bytes"] or _sha256(audio) != meta["sha256"]:
                return None
            os.utime(audio)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return audio, meta

    def put(self, key: str, audio: Path, meta: dict) -> None:
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
        fd, name = tempfile.mkstemp(dir=self.root, prefix=temp_prefix(), suffix=".mp3")
        os.close(fd)
        return Path(name)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
