"""Hold Ctrl-C and SIGTERM for a few milliseconds where acting on them at once would do harm."""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

STOPPING = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def deferred() -> Iterator[list[int]]:
    """Note Ctrl-C and SIGTERM instead of acting on them inside the block; deliver the first again after.

    For steps that must not be cut in half by the KeyboardInterrupt a handler raises: a temporary
    file created but not yet on record for cleanup, or a fork() (whose at-fork hooks would swallow
    the exception). Only the main thread can change handlers; elsewhere this does nothing.
    """
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    previous = {sig: signal.signal(sig, lambda signum, frame: caught.append(signum)) for sig in STOPPING}
    try:
        yield caught
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if caught:
        signal.raise_signal(caught[0])
