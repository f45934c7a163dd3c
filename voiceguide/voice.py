"""Speech engines by name: the registry, choosing a voice, and speaking a batch of lines."""
from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Callable, Sequence

from .engines.base import Engine, OnSpoken, SpeechJob, VoiceInfo
from .errors import EngineError
from .language import language_name, primary, speaks

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


def resolve_voice(engine: Engine, query: str | None, language: str | None = None) -> str:
    """A voice id from an id or a unique part of a voice's name; with no query, the engine's voice for the
    session's `language` (its default voice when that speaks it). A voice asked for that speaks another
    language than the session's is refused, saying which voices speak it."""
    if not query:
        return voice_for_language(engine, language) if language else engine.default_voice()
    voice = _find_voice(engine, query)
    if language:
        spoken = engine.voice_language(voice)
        if spoken and not speaks(spoken, language):
            raise EngineError(f'the voice "{query}" speaks {language_name(primary(spoken))} ({spoken}), but the session is in '
                              f"{language_name(language)} ({language}); {_choices(engine, language, query)}")
    return voice


def _find_voice(engine: Engine, query: str) -> str:
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
    piper = f"; {PIPER_VOICES}" if _PIPER_NAME.match(query) and engine.name != "piper" else ""
    raise EngineError(f'no {engine.name} voice matches "{query}"{hint}; see `voiceguide voices`{piper}')


_PIPER_NAME = re.compile(r"[a-z]{2,3}_[A-Z]{2}-")
"""How Piper names its voices: en_US-joe-medium, de_DE-thorsten-medium."""
PIPER_VOICES = ("Piper voices (many languages) are downloaded with `python -m piper.download_voices` (it lists "
                "them; with a name such as de_DE-thorsten-medium it downloads that voice into the current folder), "
                "then used with --engine piper --voice de_DE-thorsten-medium.onnx")
"""Where voices for Piper come from: it ships one (en_US), and others are files."""


def voices_for(engine: Engine, language: str) -> list[VoiceInfo]:
    """The engine's voices that speak `language`, the best first (see `voice_for_language`)."""
    try:
        default = engine.default_voice()
    except EngineError:
        default = ""
    tag = language.lower()
    head = tag.split("-")[0]

    def rank(v: VoiceInfo) -> tuple[bool, bool, bool, bool, int]:
        own = v.language.replace("_", "-").lower()
        return (own == tag, v.id == default, own in (head, f"{head}-{head}"), "-x-" not in own, -len(own))

    return sorted((v for v in engine.voices() if speaks(v.language, language)), key=rank, reverse=True)


def voice_for_language(engine: Engine, language: str) -> str:
    """The voice a session in `language` is spoken with when none is asked for: one whose language is the tag
    itself ("pt-br"), else the engine's default voice if it speaks the language, else its plainest voice for it
    ("fr-fr" before "fr-be"). An engine that says no voice's language (all unknown) speaks with its default."""
    found = voices_for(engine, language)
    if found:
        return found[0].id
    if not any(v.language for v in engine.voices()):
        return engine.default_voice()
    raise EngineError(f"no {engine.name} voice on this machine speaks {language_name(language)} ({language}); "
                      f"{_choices(engine, language)}")


def _choices(engine: Engine, language: str, query: str | None = None) -> str:
    """What to do for a voice in `language`: this engine's voices for it, or another engine's, or where Piper
    voices come from."""
    own = voices_for(engine, language)
    if own:
        listed = ", ".join(f"{v.id} ({v.language})" for v in own[:6])
        return f"leave out --voice for {own[0].id}, or give one of: {listed}"
    others = []
    for name in engine_names():
        if name == engine.name:
            continue
        try:
            found = voices_for(get_engine(name), language)
        except EngineError:
            continue
        if found:
            others.append(f"--engine {name} speaks it with {', '.join(v.id for v in found[:4])}")
    hint = "; ".join(others) if others else "no engine here has a voice for it; see `voiceguide voices`"
    if engine.name == "piper" or not others:
        hint += f"; {PIPER_VOICES}"
    return hint


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
