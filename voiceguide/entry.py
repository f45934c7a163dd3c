"""The command's entry point: stopping signals are handled before anything heavy is imported, so a
Ctrl-C in the first moments says "interrupted", not a traceback from the middle of an import."""
from __future__ import annotations

import io
import os
import signal
import sys
from types import FrameType
from typing import TYPE_CHECKING

from .atomic import STOPPING

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

EXIT_INTERRUPTED = 130


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


class _Informational(io.RawIOBase):
    """Standard error as the command writes it: progress, warnings and errors, for a person to read. Once it
    cannot be written (a full disk, a closed terminal) what follows is dropped, so a build whose progress has
    nowhere to go still finishes and writes its session; the exit status still says how it went."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd
        self.lost = False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def write(self, data: ReadableBuffer) -> int:
        size = memoryview(data).nbytes
        if not self.lost:
            try:
                return os.write(self._fd, data)
            except OSError:
                self.lost = True
        return size


def _tolerant_stderr() -> None:
    try:
        fd, encoding, errors = sys.stderr.fileno(), sys.stderr.encoding, sys.stderr.errors
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):  # no real stderr (pythonw, a replaced stream): leave it
        return
    sys.stderr = io.TextIOWrapper(io.BufferedWriter(_Informational(fd)), encoding=encoding, errors=errors,
                                  line_buffering=True)


def main() -> None:
    for sig in STOPPING:
        signal.signal(sig, _interrupt)
    _tolerant_stderr()
    try:
        from .cli import main as run
    except KeyboardInterrupt:
        try:
            sys.stderr.write("interrupted; nothing was written (any previous output is as it was)\n")
            sys.stderr.flush()
        except OSError:
            pass
        os._exit(EXIT_INTERRUPTED)
    run()
