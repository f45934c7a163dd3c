"""Tell from a file's text which kind of routine it is, without reading it in full."""
from __future__ import annotations

import json
import re

from .document import Format
from .jawt import looks_like_jawt
from .w2a import W2A_KEYS

_W2A_ONLY = tuple(k for k in W2A_KEYS if k != "exercises")
_W2A_TOP = re.compile(rf"^(?:{'|'.join(_W2A_ONLY)})\s*:", re.MULTILINE)
_W2A_EXERCISE = re.compile(r"^\s+(?:-\s+)?(?:texts|half_time|pause_duration)\s*:", re.MULTILINE)
_ROUTINE_TOP = re.compile(r"^(?:title|exercises)\s*:", re.MULTILINE)
_TITLE = re.compile(r"^title\s*:", re.MULTILINE)
_PAGE_DURATION = re.compile(r"^[ \t]*duration\s*(?:[:\-\u2013\u2014=]|\s+\d)", re.MULTILINE | re.IGNORECASE)
_PAGE_HEADING = re.compile(r"^[ \t]*(?:instructions|tips|adjustments|about\s.*routine)[ \t]*:?[ \t]*\r?$",
                           re.MULTILINE | re.IGNORECASE)


def detect(text: str) -> Format | None:
    """The format of a routine file's text, or None when it is none that voiceguide knows."""
    start = text.lstrip("\ufeff \t\r\n")
    if start.startswith("{"):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):  # nested too deep for json: the importer says where
            data = None
        if looks_like_jawt(data) or (data is None and re.search(r'"(?:workouts|sets)"\s*:', text)):
            return Format.JAWT
    if not _TITLE.search(text) and (_W2A_TOP.search(text) or _W2A_EXERCISE.search(text)):
        return Format.W2A  # a voiceguide routine always has a title, and w2a's never
    if _ROUTINE_TOP.search(text):
        return Format.ROUTINE
    if _PAGE_DURATION.search(text) or len(_PAGE_HEADING.findall(text)) >= 2:
        return Format.PAGE
    return None
