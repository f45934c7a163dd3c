"""For the feed, serve and page tests: a small library really built, and the real web application
served on 127.0.0.1 from a thread (with a token, as `serve --lan` gives it, without leaving loopback)."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path

QUICK = """\
title: Quick Stretch
about: A short routine for the tests. Two stretches, a minute.
exercises:
  - name: Neck Roll
    duration: 20
    instructions:
      - Sit tall with your shoulders relaxed.
      - Roll your head slowly to the right.
    tips:
      - Breathe out as you roll.
  - name: Shoulder Shrug
    duration: 20
    instructions:
      - Lift both shoulders towards your ears.
    tips:
      - Let them drop slowly.
"""
"""Two short exercises: a real build of it takes a second or two."""


def build(routine: Path, out: Path, cache: Path, *args: str) -> subprocess.CompletedProcess:
    """`voiceguide build` as a user runs it, with its own clip cache."""
    env = {**os.environ, "VOICEGUIDE_CACHE_DIR": str(cache)}
    result = subprocess.run([sys.executable, "-m", "voiceguide", "build", str(routine), "-o", str(out), "-q", *args],
                            capture_output=True, text=True, env=env, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    return result


def quick_library(folder: Path, cache: Path) -> Path:
    """A library of two sessions of the quick routine: in full (`quick-stretch.mp3` and every sidecar)
    and at half pace as the MP3 alone (`quick-slow.mp3`, --only-mp3)."""
    folder.mkdir(parents=True, exist_ok=True)
    routine = folder.parent / "quick.yaml"
    routine.write_text(QUICK)
    build(routine, folder / "quick-stretch.mp3", cache)
    build(routine, folder / "quick-slow.mp3", cache, "--pace", "1.5", "--only-mp3")
    return folder


class ThreadServer:
    """`voiceguide.serve.make_app` on 127.0.0.1 (a free port) in a thread of its own, until `stop()`."""

    def __init__(self, folder: Path, token: str | None) -> None:
        from aiohttp import web

        from voiceguide.serve import make_app

        self.token = token
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(make_app(folder, lambda: self.url, token))
        started = threading.Event()

        async def start() -> None:
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", 0).start()
            port = self._runner.addresses[0][1]
            self.root = f"http://127.0.0.1:{port}/"
            self.url = self.root + (f"{token}/" if token else "")
            started.set()

        def run() -> None:
            self._loop.run_until_complete(start())
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not started.wait(30):
            raise AssertionError("the server did not start")

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()
