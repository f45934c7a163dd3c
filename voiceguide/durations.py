"""Parse the ways people write a duration, and say one aloud."""
from __future__ import annotations

import math
import re

from num2words import num2words

_UNITS = re.compile(r"^(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m(?:in)?)?\s*(?:(\d+(?:\.\d+)?)\s*s(?:ec)?)?$")

DURATION_HINT = 'a duration like 45, "0:45", "45s", "1m" or "1m30s"'


def parse_duration_ms(value: object) -> int:
    """Milliseconds from 30, "30", "0:30", "30s", "1m", "1m30s", "1:30" or "1:00:00".

    An int is seconds, which is also what YAML 1.1 makes of an unquoted 1:30 (90).
    Raises ValueError with a human message when the value is not a duration.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected {DURATION_HINT}, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise ValueError(f"expected {DURATION_HINT}, got {value!r}")
    elif isinstance(value, str):
        seconds = _parse_text(value.strip().lower())
    else:
        raise ValueError(f"expected {DURATION_HINT}, got {value!r}")
    if seconds < 1:
        raise ValueError(f"expected a duration of at least one second, got {value!r}")
    return int(round(seconds * 1000))


def _parse_text(text: str) -> float:
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    clock = re.fullmatch(r"(\d+):(\d{2})(?::(\d{2}))?", text)
    if clock:
        a, b, c = clock.groups()
        if c is None:
            return int(a) * 60 + _below_60(b, text)
        return int(a) * 3600 + _below_60(b, text) * 60 + _below_60(c, text)
    units = _UNITS.fullmatch(text)
    if text and units and any(units.groups()):
        h, m, s = (float(g) if g else 0.0 for g in units.groups())
        return h * 3600 + m * 60 + s
    raise ValueError(f'expected {DURATION_HINT}, got "{text}"')


def _below_60(digits: str, text: str) -> int:
    value = int(digits)
    if value >= 60:
        raise ValueError(f'expected minutes and seconds below 60 in "{text}"')
    return value


def format_clock(ms: int) -> str:
    """"1:30" for 90 000 ms; hours when needed ("1:00:00")."""
    total = int(round(ms / 1000))
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def spoken_length(ms: int) -> str:
    """How a person says a length: "One minute", "Forty-five seconds", "One minute, thirty seconds"."""
    total = int(round(ms / 1000))
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [
        _count(n, unit)
        for n, unit in ((hours, "hour"), (minutes, "minute"), (seconds, "second"))
        if n
    ]
    text = ", ".join(parts) if parts else "zero seconds"
    return text[0].upper() + text[1:]


def _count(n: int, unit: str) -> str:
    return f"{num2words(n)} {unit}{'' if n == 1 else 's'}"


def spoken_count(n: int, unit: str) -> str:
    """"seven exercises", "one exercise"."""
    return _count(n, unit)
