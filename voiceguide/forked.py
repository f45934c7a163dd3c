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
import struct
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from . import atomic
from .errors import EngineError


def available() -> bool:
    return hasattr(os, "fork")


@dataclass
class _Child:
    batch: list[int]
    """The tasks this child runs, in order; `done` of them have sent their results."""
    pid: int
    fd: int
    deadline: float
    data: bytearray
    done: int = 0

    @property
    def index(self) -> int:
        """The task the child is on now (named when it fails)."""
        return self.batch[min(self.done, len(self.batch) - 1)]


_HEADER = struct.Struct("<Q")


def run_forked(tasks: Sequence[Callable[[], object]], workers: int, timeout_s: float,
               on_done: Callable[[int, object], None], describe: Callable[[int], str],
               error: Callable[[str], Exception] = EngineError, fresh: bool = True) -> None:
    """Run the tasks in forked children, at most `workers` at a time; `on_done(i, result)` in order
    of completion. With `fresh`, each task has a child of its own (it starts from this process's
    state); without, each of `workers` children runs every `workers`-th task, which saves the cost
    of a fork per task when tasks do not change the state later ones see.

    A task that raises, crashes or takes more than `timeout_s` raises `error(message)` here (an
    OSError in a task is raised here as that OSError); `describe(i)` names the task in that
    message ("the speech engine, speaking ...")."""
    if not tasks:
        return
    if fresh:
        batches = [[i] for i in range(len(tasks))]
    else:
        n = max(1, min(workers, len(tasks)))
        batches = [list(range(j, len(tasks), n)) for j in range(n)]
    running: dict[int, _Child] = {}
    exiting: list[_Child] = []  # sent every result; reaped once they are gone
    queue = batches[::-1]

    def fill() -> None:
        while queue and len(running) < max(1, workers):
            batch = queue.pop()
            # a signal during fork() would be swallowed by its at-fork hooks, and one between
            # fork() and this line would leave a child off the record: hold them until here
            with atomic.deferred():
                try:
                    child = _start(batch, tasks, timeout_s)
                except OSError as exc:  # out of processes or descriptors
                    raise error(f"{describe(batch[0])}: could not start a process ({exc.strerror or exc}); "
                                "close other programs or build with -j 1") from None
                running[child.fd] = child

    try:
        while queue or running:
            fill()
            wait = max(0.0, min(c.deadline for c in running.values()) - time.monotonic())
            ready, _, _ = select.select(list(running), [], [], wait)
            results: list[tuple[int, object]] = []
            for fd in ready:
                child = running[fd]
                chunk = os.read(fd, 1 << 20)
                if chunk:
                    child.data.extend(chunk)
                    for value in _results(child, describe, error):
                        child.deadline = time.monotonic() + timeout_s
                        results.append((child.batch[child.done - 1], value))
                    if child.done == len(child.batch):  # all in: its place goes to the next task now
                        exiting.append(child)  # first, so an interrupt here cannot lose it
                        running.pop(fd)
                        os.close(fd)
                    continue
                running.pop(fd)
                os.close(fd)
                _finish(child, describe, error)
            exiting = [c for c in exiting if not _reaped(c)]
            fill()  # the next children start before this process works on the results
            for i, value in results:
                on_done(i, value)
            now = time.monotonic()
            for fd, child in list(running.items()):
                if now > child.deadline:
                    raise error(f"{describe(child.index)}: did not finish within {timeout_s:g} s and was stopped")
    finally:
        for child in running.values():
            _kill(child)
        for child in exiting:
            _reap(child)


def _start(batch: list[int], tasks: Sequence[Callable[[], object]], timeout_s: float) -> _Child:
    r, w = os.pipe()
    try:
        with warnings.catch_warnings():
            # 3.12+ warns of fork with threads: a build has none, but the library may be called from a
            # program that has (the children run only the given tasks and exit)
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        raise
    if pid == 0:  # the child: do the tasks, send each result, never return into the parent's code
        status = 0
        try:
            os.close(r)
            for sig in atomic.STOPPING:
                signal.signal(sig, signal.SIG_DFL)
            for i in batch:
                try:
                    payload = (True, tasks[i]())
                except OSError as exc:  # a file problem (full disk...) is the parent's to report as such
                    payload = (False, OSError(exc.errno, exc.strerror, exc.filename))
                except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
                    payload = (False, str(exc) or type(exc).__name__)
                data = pickle.dumps(payload)
                view = memoryview(_HEADER.pack(len(data)) + data)
                while view:
                    view = view[os.write(w, view):]
                if not payload[0]:
                    break
        except BaseException:  # noqa: BLE001
            status = 1
        finally:
            os._exit(status)
    os.close(w)
    return _Child(batch, pid, r, time.monotonic() + timeout_s, bytearray())


def _results(child: _Child, describe: Callable[[int], str],
             error: Callable[[str], Exception]) -> Iterator[object]:
    """The complete results in the child's pipe so far (a failed task raises here)."""
    while len(child.data) >= _HEADER.size:
        (size,) = _HEADER.unpack_from(child.data)
        if len(child.data) < _HEADER.size + size:
            return
        ok, value = pickle.loads(bytes(child.data[_HEADER.size:_HEADER.size + size]))
        del child.data[:_HEADER.size + size]
        if not ok:
            if isinstance(value, OSError):
                raise value
            raise error(f"{describe(child.index)}: {value}")
        child.done += 1
        yield value


def _finish(child: _Child, describe: Callable[[int], str], error: Callable[[str], Exception]) -> None:
    """Reap a child whose pipe closed; one that closed it before sending every result died."""
    _, status = os.waitpid(child.pid, 0)
    if child.done < len(child.batch):
        how = (f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit {os.WEXITSTATUS(status)}")
        raise error(f"{describe(child.index)}: crashed ({how})") from None


def _reaped(child: _Child) -> bool:
    """Whether a child that sent every result has exited (and is now reaped)."""
    try:
        return os.waitpid(child.pid, os.WNOHANG)[0] != 0
    except ChildProcessError:
        return True


def _reap(child: _Child) -> None:
    try:
        os.waitpid(child.pid, 0)
    except ChildProcessError:
        pass


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
