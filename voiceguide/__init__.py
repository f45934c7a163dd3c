"""voiceguide: turn an exercise routine into a voice-guided MP3 session.

The pipeline runs one way: routine -> plan -> voice -> mix -> export.
"""
from __future__ import annotations

from .build import BuildOptions, BuildResult, build_session
from .errors import EngineError, OutputError, PlanError, RoutineError, VoiceguideError
from .plan import Detail, Plan, PlanOptions, Utterance, build_plan, utterances
from .routine import Exercise, Routine, Sides, load_routine, parse_routine
from .speech import VoiceSettings

__all__ = [
    "BuildOptions",
    "BuildResult",
    "Detail",
    "EngineError",
    "Exercise",
    "OutputError",
    "Plan",
    "PlanError",
    "PlanOptions",
    "Routine",
    "RoutineError",
    "Sides",
    "Utterance",
    "VoiceSettings",
    "VoiceguideError",
    "build_plan",
    "build_session",
    "load_routine",
    "parse_routine",
    "utterances",
]
