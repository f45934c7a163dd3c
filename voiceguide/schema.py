"""A JSON Schema of the routine format, so editors can validate and complete routine files."""
from __future__ import annotations

import json

from .settings import COUNTDOWN_RANGE, DETAILS, MP3_BITRATES, PACE_RANGE, RATE_RANGE, SIDES, VOLUME_RANGE

_DURATION = {
    "description": 'Seconds (45), "0:45", "45s", "1m", "1m30s" or "1:30".',
    "anyOf": [
        {"type": "number", "minimum": 1},
        {"type": "string", "pattern": r"^\s*(\d+(\.\d+)?\s*(s|sec)?|\d+:\d{2}(:\d{2})?|"
                                      r"(\d+(\.\d+)?\s*h)?\s*(\d+(\.\d+)?\s*m(in)?)?\s*(\d+(\.\d+)?\s*s(ec)?)?)\s*$"},
    ],
}
_TEXT = {"type": "string", "minLength": 1}
_LINES = {"type": "array", "items": _TEXT}

_OPTIONS = {
    "type": "object",
    "description": "Build options for this routine; command-line flags win.",
    "additionalProperties": False,
    "properties": {
        "engine": {"type": "string", "description": "pyttsx3 or piper"},
        "voice": {"type": "string", "description": "Voice id, a unique part of its name, or a Piper .onnx path"},
        "rate": {"type": "integer", "minimum": RATE_RANGE[0], "maximum": RATE_RANGE[1],
                 "description": "Words per minute"},
        "volume": {"type": "number", "minimum": VOLUME_RANGE[0], "maximum": VOLUME_RANGE[1]},
        "pace": {"type": "number", "minimum": PACE_RANGE[0], "maximum": PACE_RANGE[1],
                 "description": "Multiplies every hold"},
        "duration": {**_DURATION, "description": "Target total; holds scale to fit"},
        "detail": {"enum": list(DETAILS)},
        "countdown": {"type": "integer", "minimum": COUNTDOWN_RANGE[0], "maximum": COUNTDOWN_RANGE[1]},
        "intro": {"type": "boolean"},
        "next_up": {"type": "boolean"},
        "sides": {"enum": list(SIDES)},
        "chime": {"type": "string", "description": "bell, bowl, a sound file, or none"},
        "bitrate": {"enum": list(MP3_BITRATES)},
    },
}

_EXERCISE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "duration"],
    "properties": {
        "name": {**_TEXT, "description": "Spoken at the start, and the chapter's title"},
        "duration": {**_DURATION, "description": "The hold, chime to chime"},
        "sides": {"enum": ["one", "both"], "description": "both: switch sides at the midpoint"},
        "summary": {**_TEXT, "description": "Spoken with --detail full"},
        "difficulty": _TEXT,
        "instructions": {**_LINES, "description": "How to get into position, spoken first, in order"},
        "tips": {**_LINES, "description": "Spread over the hold"},
        "adjustments": {**_LINES, "description": "Spoken with --detail full"},
    },
}

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "voiceguide routine",
    "type": "object",
    "additionalProperties": False,
    "required": ["title", "exercises"],
    "properties": {
        "title": {**_TEXT, "description": "Spoken first; the MP3's title"},
        "duration": {**_DURATION, "description": "Stated total; intro and outro share what the holds leave"},
        "about": {**_TEXT, "description": "The MP3's comment"},
        "targets": {**_TEXT, "description": "Its first sentence is spoken in the intro"},
        "included": _TEXT,
        "who": _TEXT,
        "advice": _TEXT,
        "closing": {"type": "object", "additionalProperties": False,
                    "properties": {"title": _TEXT, "text": {**_TEXT, "description": "Spoken in the outro"}}},
        "pronounce": {"type": "object", "additionalProperties": _TEXT,
                      "description": "word: respelling, for words the engine says wrongly"},
        "options": _OPTIONS,
        "exercises": {"type": "array", "minItems": 1, "items": _EXERCISE},
    },
}


def schema_json() -> str:
    return json.dumps(SCHEMA, indent=2) + "\n"
