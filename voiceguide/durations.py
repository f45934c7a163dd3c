"""Parse the ways people write a duration, and say one aloud."""
from __future__ import annotations

import datetime
import re
from decimal import ROUND_HALF_EVEN, Decimal

from .phrasebook import ENGLISH, Phrasebook

_DECIMAL = r"\d+(?:\.\d+)?"
_HOURS = rf"{_DECIMAL}\s*(?:hours?|hrs?|h)"
_MINUTES = rf"{_DECIMAL}\s*(?:minutes?|mins?|m)"
_SECONDS = rf"{_DECIMAL}\s*(?:seconds?|secs?|s)"
_AND = r"(?:\s*,\s*(?:and\s+)?|\s+and\s+|\s*)"
_BARE = r"\d+"
"""A number without a unit after one with: the next smaller unit ("1 minute 30", "1h30")."""
DURATION_PATTERN = (
    r"^\s*(?=\d)(?:"
    rf"({_DECIMAL}(?:e[+-]?\d+)?)"  # seconds: 45, 2.5, 1e3
    r"|(\d+):(\d{2})(?::(\d{2}))?"  # a clock: 1:30, 1:00:00
    rf"|{_HOURS}(?:{_AND}(?:{_MINUTES}(?:{_AND}(?:{_SECONDS}|{_BARE}))?|{_SECONDS}|{_BARE}))?"  # 1h 2m 30s, 1h30
    rf"|{_MINUTES}(?:{_AND}(?:{_SECONDS}|{_BARE}))?"  # 1m30s, 1 min 30, 1 minute and 30 seconds
    rf"|{_SECONDS}"  # 45 s, 90 seconds, 45 secs
    r")\s*$"
)
"""Every way of writing a duration as text (lower case), for the parser and the JSON Schema alike."""
_DURATION = re.compile(DURATION_PATTERN)
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([hms]?)")
_UNIT_S = {"h": 3600, "m": 60, "s": 1}
_BELOW = {"h": "m", "m": "s"}
_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}(?:[t ].*)?")
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?(?:e[+-]?\d+)?", re.IGNORECASE)

DURATION_HINT = 'a duration like 45, "0:45", "45s", "1m30s" or "1 minute 30"'
MAX_SESSION_MS = 24 * 3600 * 1000
"""No session may last longer than a day: a typo such as 1.0e+9 would otherwise start a build that
never ends. Every duration a user gives (a hold, a stated total, --duration) is at most this."""


def parse_duration_ms(value: object) -> int:
    """Milliseconds from 30, "30", "0:30", "30s", "1m", "1m30s", "1:30", "1:00:00", "90 seconds" or
    "1 minute 30".

    A number is seconds, which is also what YAML 1.1 makes of an unquoted 1:30 (90). At least one
    second and at most a day. Raises ValueError with a human message when the value is not a duration.
    """
    seconds = _seconds(value)
    if seconds < 1:
        raise ValueError(f"expected a duration of at least one second, got {as_written(value)}")
    if seconds * 1000 > MAX_SESSION_MS:
        raise ValueError(f"expected a duration of at most 24 hours (24:00:00), got {as_written(value)}")
    return int((seconds * 1000).to_integral_value(ROUND_HALF_EVEN))


def _seconds(value: object) -> Decimal:
    if isinstance(value, str):
        text = value.strip().lower()
        if text.startswith("-") and _DURATION.match(text[1:]):
            return -_parse_text(text[1:], value)
        if _DATE.fullmatch(text):
            raise ValueError(f"expected {DURATION_HINT}, got a date ({value.strip()}); write a length instead")
        return _parse_text(text, value)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and Decimal(value).is_finite():
        return Decimal(value)
    shown = as_written(value)
    if isinstance(value, (datetime.date, datetime.time)):  # a YAML timestamp, for a library caller
        shown = f"{'a time' if isinstance(value, datetime.time) else 'a date'} ({value}); write a length instead"
    raise ValueError(f"expected {DURATION_HINT}, got {shown}")


def _parse_text(text: str, value: str) -> Decimal:
    found = _DURATION.match(text)
    if not found:
        raise ValueError(f"expected {DURATION_HINT}, got {as_written(value)}")
    seconds, a, b, c = found.groups()
    if seconds is not None:
        return Decimal(seconds)
    if a is not None:
        if c is None:
            return int(a) * 60 + _below_60(b, text)
        return Decimal(int(a) * 3600 + _below_60(b, text) * 60 + _below_60(c, text))
    total, unit = Decimal(0), ""
    for number, letter in _PART.findall(text):  # the pattern has checked the order of the parts
        if letter:
            unit = letter
        else:  # a bare number: the unit below the one before it
            unit = _BELOW[unit]
            _below_60(number, text)
        total += Decimal(number) * _UNIT_S[unit]
    return total


def _below_60(digits: str, text: str) -> Decimal:
    value = int(digits)
    if value >= 60:
        raise ValueError(f'expected minutes and seconds below 60 in "{text}"')
    return Decimal(value)


def as_written(value: object, limit: int = 40) -> str:
    """A value as a message shows it: a number bare, text in quotes, nothing as "nothing"; long values
    are cut and characters a terminal would act on are escaped."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    try:
        text = value if isinstance(value, str) else str(value)
    except ValueError:  # an int too long for str()
        return "a number too long to show"
    shown = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii", "replace")
                    for ch in text[:limit].encode("utf-8", "backslashreplace").decode("utf-8"))
    if len(text) > limit:
        unit = "digits" if text.isdigit() else "characters"
        shown += f"... ({len(text)} {unit})"
    return shown if not isinstance(value, str) or _NUMBER.fullmatch(text.strip()) else f'"{shown}"'


def format_clock(ms: int) -> str:
    """"1:30" for 90 000 ms; hours when needed ("1:00:00")."""
    total = round(ms / 1000)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def spoken_length(ms: int, phrases: Phrasebook = ENGLISH) -> str:
    """How a person says a length: "One minute", "Forty-five seconds", "One minute, thirty seconds" (or in the
    phrase book's language: "Eine Minute und dreißig Sekunden")."""
    text = phrases.length(ms)
    return text[0].upper() + text[1:]


def spoken_count(n: int, unit: str, phrases: Phrasebook = ENGLISH) -> str:
    """"seven exercises", "one exercise" (`unit` is a plural form's name: "exercises")."""
    return phrases.count(unit, n)
