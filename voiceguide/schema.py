"""A JSON Schema of the routine format, so editors can validate and complete routine files."""
from __future__ import annotations

import json
from typing import Any

from .durations import DURATION_HINT, DURATION_PATTERN, MAX_SESSION_MS
from .language import TAG_PATTERN
from .options import OPTIONS, Option, OptionKind
from .phrasebook import COUNTS, ENGLISH, PHRASES
from .routine import (
    DEFAULT_RELAX_S,
    MAX_EXERCISES,
    MAX_LINE_CHARS,
    MAX_REP_SECONDS,
    MAX_REPS,
    MAX_TITLE_CHARS,
    REPS_SWITCH_MS,
)

_DURATION = {
    "description": f"{DURATION_HINT[2:].capitalize()}; at most 24 hours.",
    "anyOf": [
        {"type": "number", "minimum": 1, "maximum": MAX_SESSION_MS // 1000},
        {"type": "string", "pattern": DURATION_PATTERN},
    ],
}
_TEXT: dict[str, Any] = {"type": "string", "minLength": 1}
_SAID = {**_TEXT, "maxLength": MAX_LINE_CHARS}
_TITLE = {**_TEXT, "maxLength": MAX_TITLE_CHARS}
_LINES = {"type": "array", "items": _SAID}
_LANGUAGE = {"type": "string", "pattern": TAG_PATTERN}


def _phrases() -> dict[str, Any]:
    """The builder's phrases a routine may word its own way, each described by its English."""
    texts = {key: {"type": "string", "description": f"English: {ENGLISH.text(key)!r}"
                   + (f"; keep {', '.join('{' + p + '}' for p in PHRASES[key])}" if PHRASES[key] else "")}
             for key in PHRASES}
    count = {"type": "object", "additionalProperties": False, "required": ["one", "other"],
             "properties": {"one": _TEXT, "other": {"type": "string", "pattern": "\\{n\\}"},
                            "endings": {"type": "object", "additionalProperties": {"type": "string"}}}}
    counts = {key: {**count, "description": f"English: {ENGLISH.count(key, 1)!r}, {ENGLISH.count(key, 2)!r}"}
              for key in COUNTS}
    return {"type": "object", "additionalProperties": False, "properties": {**texts, **counts},
            "description": "The routine's own words for phrases voiceguide says itself (`voiceguide languages`); "
                           "a language with no shipped table needs every one its session says"}


def _option_schema(option: Option) -> dict[str, Any]:
    """One row of the option table as JSON Schema: its type and bounds, its help as the description."""
    low, high = option.range or (None, None)
    typed: dict[str, Any] = {
        OptionKind.INT: {"type": "integer", "minimum": low, "maximum": high},
        OptionKind.FLOAT: {"type": "number", "minimum": low, "maximum": high},
        OptionKind.TEXT: _TEXT,
        OptionKind.CHOICE: {"enum": list(option.choices)},
        OptionKind.FLAG: {"type": "boolean"},
        OptionKind.DURATION: _DURATION,
        OptionKind.LANGUAGE: _LANGUAGE,
    }[option.kind]
    default = {} if option.default is None else {"default": option.default}
    return {**typed, "description": option.help, **default}


def _options() -> dict[str, Any]:
    properties = {option.name: _option_schema(option) for option in OPTIONS.values()}
    if "duration" in properties:
        target = properties["duration"]
        properties["duration"] = {**target, "description": f"{target['description']} A routine that states its "
                                                           "own length (the top-level duration) may not also set this."}
    return {
        "type": "object",
        "description": "Build options for this routine; command-line flags win.",
        "additionalProperties": False,
        "properties": properties,
    }


def _rep_seconds(description: str) -> dict[str, Any]:
    return {
        "description": f"{description}; at most {MAX_REP_SECONDS} seconds.",
        "anyOf": [
            {"type": "number", "minimum": 1, "maximum": MAX_REP_SECONDS},
            {"type": "string", "pattern": DURATION_PATTERN},
        ],
    }


_EXERCISE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "anyOf": [{"required": ["duration"]}, {"required": ["reps", "hold"]}],
    "dependentRequired": {"reps": ["hold"], "hold": ["reps"], "relax": ["reps"]},
    "properties": {
        "name": {**_TITLE, "description": "Spoken at the start, and the chapter's title"},
        "duration": {**_DURATION, "description": "The hold, chime to chime (with reps: optional, and must agree "
                                                 "with them)"},
        "reps": {"type": "integer", "minimum": 1, "maximum": MAX_REPS,
                 "description": "Done in repetitions, counted aloud: the length is reps x (hold + relax), on each "
                                f"side with sides: both (plus {REPS_SWITCH_MS // 1000} s to change sides)"},
        "hold": _rep_seconds("With reps: seconds each rep is held"),
        "relax": {**_rep_seconds("With reps: seconds to relax after each rep"), "default": DEFAULT_RELAX_S},
        "sides": {"enum": ["one", "both"], "description": "both: switch sides at the midpoint (with reps: all reps "
                                                          "on one side, then all on the other)"},
        "summary": {**_SAID, "description": "Spoken with --detail full"},
        "difficulty": _TEXT,
        "instructions": {**_LINES, "description": "How to get into position, spoken first, in order"},
        "tips": {**_LINES, "description": "Spread over the hold"},
        "adjustments": {**_LINES, "description": "Spoken with --detail full"},
    },
}


_PROSE = {**_TEXT, "description": "Spoken in the outro"}
_CLOSING = {
    "description": "The closing words, spoken in the outro sentence by sentence as time allows: a text, or a "
                   "title and a text",
    "anyOf": [
        _PROSE,
        {"type": "object", "additionalProperties": False, "properties": {"title": _TEXT, "text": _PROSE}},
    ],
}


def schema() -> dict[str, Any]:
    """The schema, with the option table as it is now."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "voiceguide routine",
        "type": "object",
        "additionalProperties": False,
        "required": ["title", "exercises"],
        "properties": {
            "title": {**_TITLE, "description": "Spoken first; the MP3's title"},
            "duration": {**_DURATION, "description": "The length the routine states it lasts (as its page says: "
                                                     "\"a six-minute routine\"); intro and outro share what the "
                                                     "holds leave. Not with options.duration, which scales the "
                                                     "holds to a length instead"},
            "about": {**_TEXT, "description": "The MP3's comment"},
            "targets": {**_TEXT, "description": "Its first sentence is spoken in the intro"},
            "included": _TEXT,
            "who": _TEXT,
            "advice": _TEXT,
            "closing": _CLOSING,
            "outro": {**_CLOSING, "description": "The same as closing (one of the two)"},
            "language": {**_LANGUAGE, "description": "The language it is written in (BCP 47: en, de, es, pt-BR); "
                                                     "voiceguide's own words, numbers and voice follow it"},
            "phrases": _phrases(),
            "pronounce": {"type": "object", "additionalProperties": _SAID,
                          "description": "word: respelling, for words the engine says wrongly"},
            "options": _options(),
            "exercises": {"type": "array", "minItems": 1, "maxItems": MAX_EXERCISES, "items": _EXERCISE},
        },
        "allOf": [
            {"not": {"required": ["closing", "outro"]}},
            {"not": {"required": ["duration", "options"], "properties": {"options": {"required": ["duration"]}}}},
        ],
    }


def schema_json() -> str:
    return json.dumps(schema(), indent=2) + "\n"
