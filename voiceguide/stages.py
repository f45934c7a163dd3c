"""Named stages of a build: logged, and a place where a test can hold the build to act at a known point.

A test that must interrupt a build "while it is encoding", or fill its disk once the speech is
done, cannot wait for the clock: on a busy machine the moment it guessed comes before or after.
With `VOICEGUIDE_TEST_PAUSE_AT=stage` (or `stage#N` for its N-th occurrence) the build stops
there, says so on stderr and waits for a signal. SIGKILL ends it there; a stopping signal (Ctrl-C,
SIGTERM, SIGHUP, SIGQUIT) is handled exactly as if it had arrived at that stage: where the build
stops on it, it stops from here, and where it ignores it (once the files are in place), it goes on;
SIGUSR1 lets it go on.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from types import FrameType

from .atomic import STOPPING

PAUSE_ENV = "VOICEGUIDE_TEST_PAUSE_AT"

_log = logging.getLogger(__name__)
_seen: dict[str, int] = {}


def reached(stage: str) -> None:
    """The build has reached `stage` (called in the build's own process, not in worker children)."""
    _log.debug("reached: %s", stage)
    wanted = os.environ.get(PAUSE_ENV)
    if not wanted:
        return
    name, _, nth = wanted.partition("#")
    if name != stage:
        return
    _seen[stage] = _seen.get(stage, 0) + 1
    if _seen[stage] == (int(nth) if nth.isdigit() else 1):
        _pause(wanted)


def _pause(wanted: str) -> None:
    """Say where the build is held, wait for a signal, then let the build's own handler act on it.

    Handlers that only note the signal are in place before the line is written, so one sent the
    moment the line is read is not missed. (Blocking the signals instead would not do: numpy's
    BLAS threads leave them unblocked, and the kernel hands a signal to any thread that takes it.)
    """
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread can change handlers
    got: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        got.append(signum)

    waited = [*STOPPING, *([signal.SIGUSR1] if hasattr(signal, "SIGUSR1") else [])]
    previous = {sig: signal.signal(sig, note) for sig in waited}
    try:
        sys.stderr.write(f"voiceguide: paused at {wanted}\n")
        sys.stderr.flush()
        while not got:  # a signal another thread took is noted here within the sleep
            time.sleep(0.05)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if got[0] in STOPPING:
        signal.raise_signal(got[0])
