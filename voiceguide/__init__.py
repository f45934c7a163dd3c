"""voiceguide: turn an exercise routine into a voice-guided MP3 session.

The pipeline runs one way: routine -> plan -> voice -> mix -> export. The public names below are
imported on first use, so `voiceguide --help` does not pay for numpy and the speech engine.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

_HOMES = {
    "BuildOptions": "build", "BuildResult": "build", "build_options": "build", "build_session": "build",
    "EngineError": "errors", "OutputError": "errors", "PlanError": "errors", "RoutineError": "errors",
    "VoiceguideError": "errors",
    "Detail": "plan", "Plan": "plan", "PlanOptions": "plan", "Utterance": "engines.base", "build_plan": "plan",
    "utterances": "plan",
    "Exercise": "routine", "Routine": "routine", "Sides": "routine", "load_routine": "routine",
    "parse_routine": "routine",
    "Option": "options", "OptionKind": "options", "Settings": "options", "add_option": "options",
    "VoiceSettings": "speech",
    "Phrasebook": "phrasebook", "Plural": "phrasebook", "parse_language": "language", "phrasebook_for": "language",
}

__all__ = list(_HOMES)


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module 'voiceguide' has no attribute {name!r}")
