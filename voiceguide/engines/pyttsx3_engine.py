"""The default engine: pyttsx3 (SAPI5 on Windows, NSSpeechSynthesizer on macOS, eSpeak NG on Linux).

pyttsx3 2.99 has traps this module works around, each seen on a real machine:
- `runAndWait()` returns before the WAV is written: we wait for "finished-utterance" and check the file;
- queued `save_to_file` calls write only the last file: we save one utterance per `runAndWait()`;
- with eSpeak, a rate set after the first utterance is often ignored: we wait for eSpeak to apply it
  (`espeak_Synchronize`) and read it back before speaking;
- every save prints "Audio saved to ..." on stdout: we keep stdout clean;
- eSpeak initialises once per process: one engine object per process, reused;
- eSpeak carries state from one utterance to the next, so on Linux every clip is spoken by a child
  forked from a process that started eSpeak but never spoke (see `_SyncEspeak` and `forked`).
"""
from __future__ import annotations

import contextlib
import ctypes
import io
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from .. import forked
from ..audio import Audio, is_complete_wav
from ..errors import EngineError
from .base import Engine, OnSpoken, SpeechJob, VoiceInfo, read_driver_wav

_DEFAULT_VOICES = ("gmw/en-us", "en-us", "gmw/en")

_TIMEOUT_S = 60.0
_lock = threading.Lock()
_engine = None


def _prepare_espeak() -> None:
    """On Linux, load the eSpeak NG that the espeakng-loader wheel ships, so a routine gives the same
    bytes on every machine whatever eSpeak the system has; `VOICEGUIDE_ESPEAK=system` asks for the
    system's own libespeak-ng instead."""
    if not sys.platform.startswith("linux"):
        return
    choice = os.environ.get("VOICEGUIDE_ESPEAK", "").strip().lower()
    if choice not in ("", "wheel", "system"):
        raise EngineError(f"VOICEGUIDE_ESPEAK={choice!r}: expected system (the system's libespeak-ng) or wheel "
                          "(the one installed with voiceguide, the default)")
    try:
        import espeakng_loader
    except ImportError:
        espeakng_loader = None
    if choice == "system" or espeakng_loader is None:
        try:
            ctypes.CDLL("libespeak-ng.so.1")
            return
        except OSError:
            raise EngineError("no eSpeak NG library found; install it with `pip install espeakng-loader` "
                              "(or your system's espeak-ng package and VOICEGUIDE_ESPEAK=system)") from None
    # Loaded first, this copy is the one pyttsx3's later dlopen("libespeak-ng.so.1") gets (the same
    # soname), even with a system copy installed. It is loaded RTLD_LOCAL on purpose: with RTLD_GLOBAL
    # its symbols override those of the eSpeak NG that piper-tts bundles, and Piper crashes in the
    # same process (seen: a segfault).
    ctypes.CDLL(espeakng_loader.get_library_path())
    os.environ["ESPEAK_DATA_PATH"] = str(Path(espeakng_loader.get_data_path()).parent)


def _shared_engine() -> Any:
    """The process's single pyttsx3 engine (eSpeak cannot be initialised twice)."""
    global _engine
    if _engine is None:
        _prepare_espeak()
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                import pyttsx3

                _engine = pyttsx3.init()
                # The driver queues property changes until its first loop has run; run an empty one
                # so later setProperty calls apply at once.
                _engine.runAndWait()
        except EngineError:
            raise
        except Exception as exc:  # noqa: BLE001 - the driver's own errors vary by platform
            raise EngineError(f"pyttsx3 could not start a speech engine: {exc}. On Linux, "
                              "`pip install espeakng-loader`; on Windows and macOS the system voices "
                              "are used") from None
    return _engine


class _LocalSpeaker:
    """Speech through pyttsx3 in this process, one utterance at a time, each WAV checked before it is used."""

    def __init__(self) -> None:
        self._engine = _shared_engine()
        self._driver = self._engine.proxy._driver
        self._espeak = type(self._driver).__module__.endswith(".espeak")
        self._finished = threading.Event()
        self._engine.connect("finished-utterance", self._on_finished)

    def _on_finished(self, name: object = None, completed: bool = True) -> None:
        self._finished.set()

    def version(self) -> str:
        parts = [f"pyttsx3 {metadata.version('pyttsx3')}", type(self._driver).__module__.rsplit(".", 1)[-1]]
        if self._espeak:
            from pyttsx3.drivers import _espeak

            info = _espeak.Info()
            parts.append(f"espeak-ng {info.decode() if info else '?'}")
        return " ".join(parts)

    def voices(self) -> list[VoiceInfo]:
        out = []
        for v in self._engine.getProperty("voices"):
            languages = [str(x) for x in (v.languages or [])]
            out.append(VoiceInfo(str(v.id), str(v.name), languages[0] if languages else ""))
        return out

    def default_voice(self) -> str:
        if self._espeak:
            ids = {v.id for v in self.voices()}
            for preferred in _DEFAULT_VOICES:
                if preferred in ids:
                    return preferred
        return str(self._engine.getProperty("voice"))

    def synthesize(self, text: str, voice: str, rate: int) -> Audio:
        with _lock, tempfile.TemporaryDirectory(prefix="voiceguide-") as folder:
            self._set("voice", voice)
            self._set("rate", rate)
            wav_path = Path(folder) / "clip.wav"
            self._save(text, wav_path)
            return read_driver_wav(wav_path, "pyttsx3", text)

    def _set(self, name: str, value: Any) -> None:
        self._engine.setProperty(name, value)
        if self._espeak:
            from pyttsx3.drivers import _espeak

            _espeak.Synchronize()
            if name == "rate":
                deadline = time.monotonic() + 2.0
                while self._engine.getProperty("rate") != value:
                    if time.monotonic() > deadline:
                        raise EngineError(f"eSpeak did not accept the speaking rate {value} wpm")
                    time.sleep(0.01)
                    _espeak.Synchronize()

    def _save(self, text: str, wav_path: Path) -> None:
        wav_path = Path(wav_path)
        wav_path.unlink(missing_ok=True)
        self._finished.clear()
        with contextlib.redirect_stdout(io.StringIO()):
            self._engine.save_to_file(text, str(wav_path))
            self._engine.runAndWait()
            if not self._finished.wait(_TIMEOUT_S):
                raise EngineError(f'pyttsx3 did not finish speaking within {_TIMEOUT_S:.0f} s: "{text}"')
            _wait_for_wav(wav_path, text)


class _SyncEspeak:
    """eSpeak NG through pyttsx3's own ctypes binding, started in synchronous mode.

    pyttsx3's driver starts eSpeak in its asynchronous mode, which runs a thread (a forked child
    would wait on it forever) and polls in 10 ms sleeps. Synchronous eSpeak has no thread: this
    process starts it once and never speaks; each clip is spoken in a child forked from it, so
    every clip starts from the same engine state and costs only its own synthesis.
    """

    def __init__(self) -> None:
        _prepare_espeak()
        with contextlib.redirect_stdout(io.StringIO()):
            from pyttsx3.drivers import _espeak
        self._espeak = _espeak
        self.sample_rate = _espeak.Initialize(_espeak.AUDIO_OUTPUT_SYNCHRONOUS, 0, None, 0)
        if self.sample_rate <= 0:
            raise EngineError("eSpeak NG could not start (espeak_Initialize failed); reinstall it with "
                              "`pip install --force-reinstall espeakng-loader`")
        self._samples: list[bytes] = []
        _espeak.SetSynthCallback(self._collect)
        info = _espeak.Info()
        self.version = (f"pyttsx3 {metadata.version('pyttsx3')} espeak "
                        f"espeak-ng {info.decode() if info else '?'}")
        self.voices = []
        for v in _espeak.ListVoices(None):
            language = v.languages[1:].decode("utf-8", errors="ignore") if v.languages else ""
            self.voices.append(VoiceInfo(v.identifier.decode("utf-8").lower(), v.name.decode("utf-8"), language))

    def _collect(self, wav: Any, numsamples: int, events: Any) -> int:
        if numsamples > 0:
            self._samples.append(ctypes.string_at(wav, numsamples * 2))
        return 0

    def speak(self, job: SpeechJob) -> Audio:
        """Speak one line (in a forked child: never in the process that started eSpeak)."""
        e = self._espeak
        if e.SetVoiceByName(job.voice.encode("utf-8")) != e.EE_OK:
            raise EngineError(f'eSpeak NG has no voice "{job.voice}"; see `voiceguide voices`')
        e.SetParameter(e.RATE, int(job.rate), 0)
        self._samples = []
        if e.Synth(job.text.encode("utf-8"), flags=e.ENDPAUSE | e.CHARS_UTF8) != e.EE_OK:
            raise EngineError(f'eSpeak NG could not speak "{job.text}"')
        return Audio.from_bytes(b"".join(self._samples), self.sample_rate)


class Pyttsx3Engine(Engine):
    """The engine the build sees; on Linux each clip is spoken by a forked child of a started eSpeak."""

    name = "pyttsx3"

    def __init__(self) -> None:
        self._sync: _SyncEspeak | None = None
        self._local: _LocalSpeaker | None = None
        if sys.platform.startswith("linux") and forked.available():
            self._sync = _SyncEspeak()
        else:
            self._local = _LocalSpeaker()

    def version(self) -> str:
        if self._sync is not None:
            return self._sync.version
        assert self._local is not None
        return self._local.version()

    def voices(self) -> list[VoiceInfo]:
        if self._sync is not None:
            return list(self._sync.voices)
        assert self._local is not None
        return self._local.voices()

    def default_voice(self) -> str:
        if self._sync is not None:
            ids = {v.id for v in self._sync.voices}
            return next((p for p in _DEFAULT_VOICES if p in ids), self._sync.voices[0].id)
        assert self._local is not None
        return self._local.default_voice()

    def rate_hint(self, wpm: int) -> int:
        """Where rate calibration starts (it then measures): eSpeak NG's voices speak faster than
        the rate they are set to."""
        return round(wpm * 0.9) if self._sync else wpm

    def synthesize(self, text: str, voice: str, rate: int) -> Audio:
        if self._local is not None:
            return self._local.synthesize(text, voice, rate)
        spoken: list[Audio] = []
        self.synthesize_many([SpeechJob(text, voice, rate)], 1, lambda i, audio: spoken.append(audio), _TIMEOUT_S)
        return spoken[0]

    def synthesize_many(self, jobs: Sequence[SpeechJob], workers: int, on_spoken: OnSpoken,
                        timeout_s: float) -> None:
        """Speak every job (in parallel children on Linux); `on_spoken(i, audio)` as each is ready."""
        sync = self._sync
        if sync is None:
            super().synthesize_many(jobs, workers, on_spoken, timeout_s)
            return
        tasks = [lambda job=job: sync.speak(job) for job in jobs]
        forked.run_forked(tasks, workers, timeout_s, lambda i, audio: on_spoken(i, audio),  # type: ignore[arg-type]
                          lambda i: f'the speech engine, speaking "{jobs[i].text}"')


def _wait_for_wav(path: Path, text: str) -> None:
    """Return once `path` is a complete WAV with audio in it (pyttsx3 may return before it is)."""
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        if is_complete_wav(path):
            return
        time.sleep(0.01)
    what = "no file was written" if not path.exists() else "the WAV is incomplete or has no audio"
    raise EngineError(f'pyttsx3 wrote no usable WAV for "{text}" ({what})')

