"""The script builder: turn a routine into a timed Plan of speech and chimes. Pure: no audio, no files.

Speech lengths come from a `measure(utterance) -> ms` function the caller hands in, so the
scheduling rules are tested exactly with a fake one and the real build measures real clips.

One job a module, each importing only those before it: model (the data), cues (a cue, a section, the
speaker that makes cues), lines (what each section may say), fit (placing cues), timing (how long
everything lasts), layout (one session laid out), advice (what would fit), build (the entry points).
This module only gathers the public names, so callers import from `voiceguide.plan`.
"""
from __future__ import annotations

from ..engines.base import Utterance
from .build import Measure, build_plan, estimated_measure, utterances
from .cues import MAX_SPOKEN_CHARS, Anchor, Cue, Section, Skip
from .lines import covered_by_switch
from .model import (
    BEGIN_TEXT,
    COMPLETE_TEXT,
    LAST_REP_TEXT,
    RELAX_TEXT,
    SWITCH_TEXT,
    Chapter,
    Detail,
    DropCause,
    Dropped,
    Event,
    Kind,
    Plan,
    PlanOptions,
    Priority,
    Role,
    Setup,
    SetupWarning,
)
from .timing import exercise_lengths

__all__ = [
    "BEGIN_TEXT", "COMPLETE_TEXT", "LAST_REP_TEXT", "MAX_SPOKEN_CHARS", "RELAX_TEXT", "SWITCH_TEXT", "Anchor",
    "Chapter", "Cue", "Detail", "DropCause", "Dropped", "Event", "Kind", "Measure", "Plan", "PlanOptions",
    "Priority", "Role", "Section", "Setup", "SetupWarning", "Skip", "Utterance", "build_plan", "covered_by_switch",
    "estimated_measure", "exercise_lengths", "utterances",
]
