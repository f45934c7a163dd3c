"""Speech engines by name: the registry, choosing a voice, and speaking a batch of lines."""
from __future__ import annotations

import difflib
import math
import os
from collections.abc import Callable, Sequence

from .engines.base import Engine, OnSpoken, SpeechJob
from .errors import EngineError

DEFAULT_ENGINE_TIMEOUT_S = 60.0


def engine_timeout_s() -> float:
    """How long one clip may take before the engine is taken to be hung (`VOICEGUIDE_ENGINE_TIMEOUT`,
    seconds, 0.1 to one day)."""
    raw = os.environ.get("VOICEGUIDE_ENGINE_TIMEOUT")
    if raw is None or not raw.strip():
        return DEFAULT_ENGINE_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0.1 <= value <= 86400:
        raise EngineError(f"VOICEGUIDE_ENGINE_TIMEOUT={raw!r}: expected seconds from 0.1 to 86400 "
                          "(how long one line may take to speak); unset it for the default of 60")
    return value


def speak_all(engine: Engine, jobs: Sequence[SpeechJob], workers: int, on_spoken: OnSpoken) -> None:
    """Speak every job (in parallel where the engine can); a line that takes longer than
    `engine_timeout_s()` or fails stops the build with an EngineError naming it."""
    engine.synthesize_many(jobs, workers, on_spoken, engine_timeout_s())


_REGISTRY: dict[str, Callable[[], Engine]] = {}
_STARTED: dict[str, Engine] = {}
"""Engines are started once per process: eSpeak NG started a second time silences the first."""


def register_engine(name: str, factory: Callable[[], Engine]) -> None:
    """Make an engine available by name; the built-in engines register the same way."""
    _REGISTRY[name] = factory
    _STARTED.pop(name, None)


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
    if name not in _STARTED:
        _STARTED[name] = factory()
    return _STARTED[name]


def resolve_voice(engine: Engine, query: str | None) -> str:
    """A voice id from an id or a unique part of a voice's name (None: the engine's default)."""
    if not query:
        return engine.default_voice()
    given = engine.resolve_voice(query)
    if given:
        return given
    voices = engine.voices()
    q = query.lower()
    exact = [
        [v for v in voices if v.id.lower() == q],
        [v for v in voices if v.id.lower().rsplit("/", 1)[-1] == q],
        [v for v in voices if v.language.lower() == q],
        [v for v in voices if v.name.lower() == q],
    ]
    for same in exact:
        if len(same) == 1:
            return same[0].id
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
