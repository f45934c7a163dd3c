"""The command's entry point: stopping signals are handled before anything heavy is imported, so a
Ctrl-C in the first moments says "interrupted", not a traceback from the middle of an import."""
from __future__ import annotations

import os
import signal
import sys
from types import FrameType

from .atomic import STOPPING

EXIT_INTERRUPTED = 130


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> None:
    for sig in STOPPING:
        signal.signal(sig, _interrupt)
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
