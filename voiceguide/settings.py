"""The knobs a user can turn, from a flag or a routine's `options:`; one parser per knob, shared by both."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Callable

from .durations import parse_duration_ms

DETAILS = ("brief", "standard", "full")
SIDES = ("split", "each")
MP3_BITRATES = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
RATE_RANGE = (80, 300)
VOLUME_RANGE = (0.05, 1.0)
PACE_RANGE = (0.25, 4.0)
COUNTDOWN_RANGE = (0, 10)


@dataclass(frozen=True)
class Settings:
    """Every user setting; None means "not set here" so routine options and flags can be layered."""

    engine: str | None = None
    """Speech engine: pyttsx3 (system voices / eSpeak NG) or piper (neural, an extra)."""
    voice: str | None = None
    """Voice id, a unique part of its name, or (piper) a path to an .onnx voice."""
    rate: int | None = None
    """Speaking rate in words per minute, as measured on the clips."""
    volume: float | None = None
    """Session loudness, 0.05-1.0 of the standard level (-16 LUFS); 0.5 is 6 dB quieter."""
    pace: float | None = None
    """Multiplies every hold: 1.5 makes a 1:00 hold 1:30. Intro and outro keep their length."""
    duration_ms: int | None = None
    """A target total; holds scale in proportion so the session lasts exactly this. Wins over pace."""
    detail: str | None = None
    """brief, standard or full."""
    countdown: int | None = None
    """Numbers counted down before each exercise ends; 0 for none."""
    intro: bool | None = None
    """False starts straight with the first exercise."""
    next_up: bool | None = None
    """False leaves out "Next up: ..."."""
    sides: str | None = None
    """split: the hold covers both sides; each: the full hold on each side, with a switch gap."""
    chime: str | None = None
    """A shipped chime's name, a WAV/MP3/OGG/FLAC file, or none."""
    bitrate: int | None = None
    """MP3 bitrate in kbps (constant)."""

    def over(self, base: "Settings") -> "Settings":
        """These settings where set, else `base`'s: flags over routine options over defaults."""
        return replace(base, **{f.name: getattr(self, f.name) for f in fields(self)
                                if getattr(self, f.name) is not None})


DEFAULTS = Settings(engine="pyttsx3", voice=None, rate=150, volume=1.0, pace=1.0, duration_ms=None,
                    detail="standard", countdown=3, intro=True, next_up=True, sides="split", chime="bell",
                    bitrate=96)


def _number(kind: type, low: float, high: float, what: str) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
            raise ValueError(f"expected {what} from {low:g} to {high:g}, got {value!r}")
        if not low <= value <= high:
            raise ValueError(f"expected {what} from {low:g} to {high:g}, got {value:g}")
        return kind(value)
    return parse


def _choice(allowed: tuple, what: str) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        if value not in allowed or isinstance(value, bool):
            raise ValueError(f"expected {what}: one of {', '.join(map(str, allowed))}; got {value!r}")
        return value
    return parse


def _text(what: str) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"expected {what}, got {value!r}")
        return value.strip()
    return parse


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


# YAML key -> (Settings field, parser). The CLI's flags use the same parsers through click types.
OPTION_KEYS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "engine": ("engine", _text("an engine name")),
    "voice": ("voice", _text("a voice id or name")),
    "rate": ("rate", _number(int, *RATE_RANGE, "words per minute")),
    "volume": ("volume", _number(float, *VOLUME_RANGE, "a volume")),
    "pace": ("pace", _number(float, *PACE_RANGE, "a pace")),
    "duration": ("duration_ms", parse_duration_ms),
    "detail": ("detail", _choice(DETAILS, "a detail level")),
    "countdown": ("countdown", _number(int, *COUNTDOWN_RANGE, "a countdown")),
    "intro": ("intro", _flag),
    "next_up": ("next_up", _flag),
    "sides": ("sides", _choice(SIDES, "how to do two-sided holds")),
    "chime": ("chime", _text("a chime name, a sound file or none")),
    "bitrate": ("bitrate", _choice(MP3_BITRATES, "an MP3 bitrate in kbps")),
}
