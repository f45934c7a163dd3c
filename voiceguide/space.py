"""Free disk space, checked before the work that needs it rather than discovered when a write fails."""
from __future__ import annotations

import shutil
from pathlib import Path

from .errors import OutputError

_MARGIN_BYTES = 1 << 20


def free_bytes(path: Path) -> int | None:
    """Free bytes on the file system that holds `path` (or would: its nearest existing folder)."""
    for folder in [path, *path.parents]:
        try:
            if folder.exists():
                return shutil.disk_usage(folder).free
        except OSError:
            return None
    return None


def require_free(path: Path, need_bytes: int, what: str, fix: str) -> None:
    """Raise OutputError when `path`'s file system has less than `need_bytes` (and a margin) free."""
    free = free_bytes(path)
    if free is not None and free < need_bytes + _MARGIN_BYTES:
        raise OutputError(f"{path}: {what} needs about {_mb(need_bytes + _MARGIN_BYTES)} and only {_mb(free)} "
                          f"is free there; {fix}")


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n < 10**9 else f"{n / 1e9:.1f} GB"
