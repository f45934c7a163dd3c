"""Speech engines behind one small interface, found by name in a registry."""
from __future__ import annotations

import difflib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence

from .errors import EngineError


@dataclass(frozen=True)
class VoiceInfo:
    """A voice an engine offers, as `voiceguide voices` lists it."""

    id: str
    name: str
    language: str = ""


@dataclass(frozen=True)
class SpeechJob:
    """One clip to speak into a WAV file."""

    text: str
    voice: str
    rate_wpm: int
    wav_path: Path


def engine_timeout_s() -> float:
    """How long one clip may take before the engine is taken to be hung (`VOICEGUIDE_ENGINE_TIMEOUT`)."""
    try:
        return max(0.1, float(os.environ.get("VOICEGUIDE_ENGINE_TIMEOUT", "60")))
    except ValueError:
        return 60.0


class Engine(Protocol):
    """What the build needs from a text-to-speech engine."""

    name: str

    def version(self) -> str:
        """Engine and library versions; part of the clip cache key, so an upgrade re-synthesises."""
        ...

    def voices(self) -> list[VoiceInfo]:
        ...

    def default_voice(self) -> str:
        ...

    def synthesize(self, text: str, voice: str, rate_wpm: int, wav_path: Path) -> None:
        """Write `text` spoken by `voice` at `rate_wpm` words per minute to a WAV file."""
        ...


def synthesize_all(engine: Engine, jobs: Sequence[SpeechJob], workers: int,
                   on_done: Callable[[int], None]) -> None:
    """Speak every job; engines that can work in parallel (`synthesize_many`) do, others one by one.
    Either way a clip that takes longer than `engine_timeout_s()` stops the build with an EngineError."""
    timeout = engine_timeout_s()
    many = getattr(engine, "synthesize_many", None)
    if many is not None:
        many(jobs, workers, on_done, timeout_s=timeout)
        return
    for i, job in enumerate(jobs):
        try:
            with_timeout(lambda: engine.synthesize(job.text, job.voice, job.rate_wpm, job.wav_path), timeout,
                          f'{engine.name} did not finish speaking within {timeout:g} s: "{job.text}"')
        except EngineError:
            raise
        except Exception as exc:  # an engine's own failure, whatever its type: name the line
            raise EngineError(f'{engine.name} failed while speaking "{job.text}": {exc or type(exc).__name__}') from None
        on_done(i)


def with_timeout(call: Callable[[], None], timeout_s: float, message: str) -> None:
    """Run `call` in a daemon thread so a hung engine cannot hold the build (or its exit) forever."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout_s)
    if not outcome:
        raise EngineError(message)
    if outcome[0] is not None:
        raise outcome[0]


_REGISTRY: dict[str, Callable[[], Engine]] = {}


def register_engine(name: str, factory: Callable[[], Engine]) -> None:
    """Make an engine available by name; the built-in engines register the same way."""
    _REGISTRY[name] = factory


def engine_names() -> list[str]:
    _register_builtins()
    return sorted(_REGISTRY)


def get_engine(name: str) -> Engine:
    """The engine registered under `name`; an unknown name lists the known ones."""
    _register_builtins()
    factory = _REGISTRY.get(name)
    if factory is None:
        close = difflib.get_close_matches(name, _REGISTRY, n=1)
        hint = f' Did you mean "{close[0]}"?' if close else ""
        raise EngineError(f'unknown speech engine "{name}"; known engines: {", ".join(sorted(_REGISTRY))}.{hint}')
    return factory()


def resolve_voice(engine: Engine, query: str | None) -> str:
    """A voice id from an id or a unique part of a voice's name (None: the engine's default)."""
    if not query:
        return engine.default_voice()
    resolve = getattr(engine, "resolve", None)
    if resolve is not None and (found := resolve(query)):
        return found
    voices = engine.voices()
    q = query.lower()
    exact = [
        [v for v in voices if v.id.lower() == q],
        [v for v in voices if v.id.lower().rsplit("/", 1)[-1] == q],
        [v for v in voices if v.language.lower() == q],
        [v for v in voices if v.name.lower() == q],
    ]
    for found in exact:
        if len(found) == 1:
            return found[0].id
    matches = [v for v in voices if q in v.name.lower() or q in v.id.lower()]
    if len(matches) == 1:
        return matches[0].id
    if matches:
        listed = ", ".join(f"{v.id} ({v.name})" for v in matches[:8])
        raise EngineError(f'voice "{query}" matches several voices: {listed}; give a voice id '
                          f"(see `voiceguide voices`)")
    close = difflib.get_close_matches(query.lower(), [v.name.lower() for v in voices] + [v.id for v in voices], n=5)
    hint = f"; closest: {', '.join(close)}" if close else ""
    raise EngineError(f'no {engine.name} voice matches "{query}"{hint}; see `voiceguide voices`')


def _register_builtins() -> None:
    if "pyttsx3" not in _REGISTRY:
        register_engine("pyttsx3", _pyttsx3)
        register_engine("piper", _piper)


def _pyttsx3() -> Engine:
    from .engines.pyttsx3_engine import Pyttsx3Engine

    return Pyttsx3Engine()


def _piper() -> Engine:
    from .engines.piper_engine import PiperEngine

    return PiperEngine()
