"""Files that appear whole or not at all, and the signal handling that keeps them so.

A build's outputs are written beside their targets under temporary names (or no name at all) and
swapped in together at the end; Ctrl-C and SIGTERM are held for the few milliseconds where acting
on them at once would leave a temporary file off the record or a session half-replaced.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import BinaryIO

STOPPING = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name))
"""Signals that stop a build cleanly (SIGHUP: the terminal was closed; SIGQUIT: Ctrl-\\)."""

TEMP_MARK = ".vg-tmp-"
"""Temporary files start with this and the writing process's id; the target's name is never part of
a temporary name, so any name the file system takes for the target works for its temporary file."""

log = logging.getLogger(__name__)

STALE_AFTER_S = 600
"""A temporary file untouched this long whose process is gone is a killed build's. (Process ids are
not proof alone: a build in another container sharing the cache has ids this one cannot see.)"""


@contextmanager
def deferred() -> Iterator[list[int]]:
    """Note stopping signals instead of acting on them inside the block; deliver the first again after.

    For steps that must not be cut in half by the KeyboardInterrupt a handler raises: a temporary
    file created but not yet on record for cleanup, or a fork() (whose at-fork hooks would swallow
    the exception). Only the main thread can change handlers; elsewhere this does nothing.
    """
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def note(signum: int, frame: FrameType | None) -> None:
        caught.append(signum)

    previous = {sig: signal.signal(sig, note) for sig in STOPPING}
    try:
        yield caught
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if caught:
        signal.raise_signal(caught[0])


@contextmanager
def ignored() -> Iterator[None]:
    """Ignore stopping signals inside the block: for the moment finished files are swapped in, when
    the work is complete and must be kept whole.

    Python runs signal handlers in the main thread whichever thread a signal reaches, so swapping
    the handlers covers every thread (a thread's signal mask would not).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in STOPPING}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def temp_prefix() -> str:
    """Temporary files carry the writing process's id, so a later build can tell a killed build's
    leftovers (process gone: removed) from a running build's files (left alone)."""
    return f"{TEMP_MARK}{os.getpid()}-"


def remove_stale(folder: Path) -> None:
    """Remove temporary files in `folder` whose process no longer runs and that have not been
    written to for STALE_AFTER_S seconds."""
    try:
        names = [p for p in folder.iterdir() if p.name.startswith(TEMP_MARK)]
    except OSError:
        return
    now = time.time()
    for path in names:
        pid = path.name[len(TEMP_MARK):].split("-", 1)[0]
        try:
            if pid.isdigit() and not _running(int(pid)) and now - path.stat().st_mtime > STALE_AFTER_S:
                path.unlink()
                log.info("removed %s, left by a build that was killed", path)
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


def temp_file(folder: Path, suffix: str = "") -> Path:
    """A new empty temporary file in `folder` (named so `remove_stale` knows whose it is)."""
    with deferred():  # a Ctrl-C between mkstemp and the caller's cleanup would leave it behind
        fd, name = tempfile.mkstemp(dir=folder, prefix=temp_prefix(), suffix=suffix)
        os.close(fd)
    return Path(name)


def write_atomic(target: Path, data: bytes, private: bool = False) -> None:
    """Write through a temporary file in the same folder, so a reader sees the old file or the new one;
    readable as any saved file is (the umask's mode), or by its owner alone when `private` (a secret)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with deferred():  # a Ctrl-C between mkstemp and the cleanup below would leave the temporary file
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=temp_prefix(), suffix=target.suffix)
        try:
            if not private:
                os.chmod(tmp, saved_mode())  # mkstemp makes 0600
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def saved_mode() -> int:
    """The mode a program's newly saved file gets: 0666 less the umask (read by anyone, usually)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


class PendingFile:
    """A file being written beside its target, swapped in by `replace_together`.

    On Linux it is opened with O_TMPFILE: it has no name until it is linked, just before it
    replaces the target, so a killed process leaves nothing. Elsewhere it is a named temporary
    file carrying the process id, which a later build removes once that process is gone.
    """

    def __init__(self, target: Path) -> None:
        self.target = target
        self.path: Path | None = None
        mode = saved_mode()
        with deferred():  # on record for cleanup before a Ctrl-C can act
            try:
                self.fd = os.open(target.parent, os.O_TMPFILE | os.O_RDWR, mode)
            except (AttributeError, OSError):  # no O_TMPFILE here, or a file system without it
                fd, name = tempfile.mkstemp(dir=target.parent, prefix=temp_prefix(), suffix=".tmp")
                self.fd, self.path = fd, Path(name)
                os.chmod(name, mode)  # mkstemp makes 0600; the result should look like any saved file

    def open(self) -> BinaryIO:
        """The file from its start, for writing (the descriptor stays open for the next step)."""
        os.lseek(self.fd, 0, os.SEEK_SET)
        return os.fdopen(os.dup(self.fd), "r+b")

    def sync(self) -> None:
        os.fsync(self.fd)

    def name_it(self) -> Path:
        """Give the file a (temporary) name in the target's folder, ready to be moved into place."""
        if self.path is None:
            name = self.target.parent / f"{temp_prefix()}{os.urandom(4).hex()}.tmp"
            # linkat(AT_SYMLINK_FOLLOW) on /proc/self/fd/N names an O_TMPFILE file (os.link only
            # asks for it when given a directory descriptor)
            fds = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.link(str(self.fd), name, src_dir_fd=fds, follow_symlinks=True)
            finally:
                os.close(fds)
            self.path = name
        return self.path

    def discard(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


class NotARegularFile(OSError):
    """A target that exists but is neither a file nor a folder (a device, a FIFO, a socket)."""


def check_targets(targets: list[Path]) -> None:
    """Raise OSError (IsADirectoryError...) for a target that a finished file could not replace, before
    any work is done or any file swapped."""
    for target in targets:
        if target.is_dir():
            raise IsADirectoryError(21, "Is a directory", str(target))
        if target.exists() and not target.is_file():
            raise NotARegularFile(17, "not a regular file", str(target))


def replace_together(pending: list[PendingFile], on_done: Callable[[], None] | None = None,
                     remove: Sequence[Path] = ()) -> None:
    """Move every pending file onto its target and delete the files `remove`: all of it, or (on
    failure) none.

    The old files are kept (hard-linked under a temporary name) until every new one is in; if a
    swap fails part-way, those already swapped or removed are put back, and the error is raised.
    A journal beside the first target lists them while the swap runs, so a build killed outright in
    that moment is rolled back by the next one (`recover_swaps`). Stopping signals are ignored for
    the few milliseconds this takes; `on_done()` runs inside that window.
    """
    check_targets([p.target for p in pending])
    for file in pending:
        file.sync()
    if not pending and not remove:
        return
    folder = (pending[0].target if pending else remove[0]).parent
    journal = folder / f"{temp_prefix()}{os.urandom(4).hex()}{_JOURNAL}"
    plan: list[tuple[Path, Path | None]] = []  # (target, its old file's second name, or None: there was none)
    done = 0
    with ignored():
        try:
            for file in pending:
                file.name_it()
            plan = [(path, _keep_old(path)) for path in [*(f.target for f in pending), *remove]]
            new = [str(f.path) for f in pending]  # removed too by a rollback after a kill
            write_atomic(journal, json.dumps({"swap": [[str(t), str(o) if o else None] for t, o in plan],
                                              "new": new}).encode())
            for file in pending:
                assert file.path is not None
                os.replace(file.path, file.target)
                file.path = None
                done += 1
            for path in remove:
                path.unlink(missing_ok=True)
                done += 1
            journal.unlink()  # the commit: from here on the new files stand
        except BaseException:
            _roll_back(plan[:done])
            journal.unlink(missing_ok=True)
            raise
        finally:
            for _, spare in plan:
                if spare is not None:
                    spare.unlink(missing_ok=True)
        if on_done:
            on_done()


_JOURNAL = ".swap.json"


def _roll_back(swapped: Sequence[tuple[Path, Path | None]]) -> None:
    """Put back every old file of a swap (and take away new files that had none), even if one cannot be."""
    for target, old in reversed(swapped):
        try:
            if old is not None:
                if old.exists():
                    os.replace(old, target)
            else:
                target.unlink(missing_ok=True)
        except OSError:
            log.error("could not put back the previous %s", target)


def recover_swaps(folder: Path) -> None:
    """Roll back a swap of session files that a killed build left half done in `folder` (its journal
    names the process; only a process that no longer runs is rolled back), so the folder holds the
    previous session whole again."""
    try:
        journals = [p for p in folder.iterdir() if p.name.startswith(TEMP_MARK) and p.name.endswith(_JOURNAL)]
    except OSError:
        return
    for journal in journals:
        pid = journal.name[len(TEMP_MARK):].split("-", 1)[0]
        if not pid.isdigit() or _running(int(pid)):
            continue
        try:
            entries = json.loads(journal.read_text())
            swapped = [(Path(t), Path(o) if o else None) for t, o in entries["swap"]]
            new = [Path(n) for n in entries["new"]]
        except (OSError, ValueError, TypeError, KeyError):
            continue
        with ignored():
            _roll_back(swapped)
            for leftover in [*(spare for _, spare in swapped if spare is not None), *new]:
                leftover.unlink(missing_ok=True)
            journal.unlink(missing_ok=True)
        log.warning("a build killed while swapping in its files was rolled back in %s", folder)


def _keep_old(target: Path) -> Path | None:
    """A second name for the target's current file (None if there is none), so it can be put back."""
    if not target.exists():
        return None
    spare = target.parent / f"{temp_prefix()}{os.urandom(4).hex()}.old"
    try:
        os.link(target, spare)
    except OSError:  # no hard links on this file system: copy it aside instead
        import shutil

        shutil.copy2(target, spare)
    return spare
