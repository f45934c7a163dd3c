"""Run work in short-lived forked children: each starts from the same state, none can hang the build.

eSpeak NG carries state from one utterance to the next (the same line spoken twice in one process
differs by hundreds of samples), so a clip would depend on what the process said before it, and a
build's bytes on what the cache already held. A child forked from a parent that never started the
engine starts it fresh for each clip: the clip is a function of its text, voice and rate alone.
Children also give parallelism across cores and a hard timeout (a hung child is killed); the MP3
encoder uses them too, one segment of the session per child.
"""
from __future__ import annotations

import os
import pickle
import select
import signal
import time
import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

from . import interrupts
from .errors import EngineError


def available() -> bool:
    return hasattr(os, "fork")


@dataclass
class _Child:
    index: int
    pid: int
    fd: int
    deadline: float
    data: bytearray


def run_forked(tasks: Sequence[Callable[[], object]], workers: int, timeout_s: float,
               on_done: Callable[[int, object], None], describe: Callable[[int], str],
               error: Callable[[str], Exception] = EngineError) -> None:
    """Run each task in its own forked child, at most `workers` at a time; `on_done(i, result)` in order
    of completion. A task that raises, crashes or outlives `timeout_s` raises `error(message)` here
    (an OSError in a task is raised here as that OSError); `describe(i)` names the task in that
    message ("the speech engine, speaking ...")."""
    running: dict[int, _Child] = {}
    queue = list(range(len(tasks)))[::-1]
    try:
        while queue or running:
            while queue and len(running) < max(1, workers):
                i = queue.pop()
                # a signal during fork() would be swallowed by its at-fork hooks, and one between
                # fork() and this line would leave a child off the record: hold them until here
                with interrupts.deferred():
                    try:
                        child = _start(i, tasks[i], timeout_s)
                    except OSError as exc:  # out of processes or descriptors
                        raise error(f"{describe(i)}: could not start a process ({exc.strerror or exc}); "
                                    "close other programs or build with -j 1") from None
                    running[child.fd] = child
            wait = max(0.0, min(c.deadline for c in running.values()) - time.monotonic())
            ready, _, _ = select.select(list(running), [], [], wait)
            for fd in ready:
                chunk = os.read(fd, 1 << 16)
                if chunk:
                    running[fd].data.extend(chunk)
                    continue
                child = running.pop(fd)
                os.close(fd)
                on_done(child.index, _finish(child, describe, error))
            now = time.monotonic()
            for fd, child in list(running.items()):
                if now > child.deadline:
                    raise error(f"{describe(child.index)}: did not finish within {timeout_s:g} s and was stopped")
    finally:
        for child in running.values():
            _kill(child)


def _start(index: int, task: Callable[[], object], timeout_s: float) -> _Child:
    r, w = os.pipe()
    try:
        with warnings.catch_warnings():
            # 3.12+ warns of fork with threads: the build's only other thread imports scipy and
            # pyloudnorm, which no child uses (children use only modules imported before they fork)
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        raise
    if pid == 0:  # the child: do the task, send the result, never return into the parent's code
        status = 0
        try:
            os.close(r)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            try:
                payload = (True, task())
            except OSError as exc:  # a file problem (full disk...) is the parent's to report as such
                payload = (False, OSError(exc.errno, exc.strerror, exc.filename))
            except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
                payload = (False, str(exc) or type(exc).__name__)
            data = pickle.dumps(payload)
            view = memoryview(data)
            while view:
                view = view[os.write(w, view):]
        except BaseException:  # noqa: BLE001
            status = 1
        finally:
            os._exit(status)
    os.close(w)
    return _Child(index, pid, r, time.monotonic() + timeout_s, bytearray())


def _finish(child: _Child, describe: Callable[[int], str], error: Callable[[str], Exception]) -> object:
    _, status = os.waitpid(child.pid, 0)
    try:
        ok, value = pickle.loads(bytes(child.data))
    except Exception:  # noqa: BLE001 - no result: the child died
        how = (f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit {os.WEXITSTATUS(status)}")
        raise error(f"{describe(child.index)}: crashed ({how})") from None
    if not ok:
        if isinstance(value, OSError):
            raise value
        raise error(f"{describe(child.index)}: {value}")
    return value


def _kill(child: _Child) -> None:
    try:
        os.kill(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(child.pid, 0)
    except ChildProcessError:
        pass
    try:
        os.close(child.fd)
    except OSError:
        pass
