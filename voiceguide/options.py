"""The one table of session options: flags, a routine's `options:`, the JSON Schema and the defaults
all come from it, and one parser per kind reads a value from a flag and from a file alike."""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum
from types import MappingProxyType
from typing import Any

from .durations import as_written, parse_duration_ms


class OptionKind(str, Enum):
    """What a value is, which decides how it is parsed, shown in `--help` and described in the schema."""

    INT = "int"
    FLOAT = "float"
    TEXT = "text"
    CHOICE = "choice"
    FLAG = "flag"
    """On or off: `--intro/--no-intro` on the command line, true or false in a file."""
    DURATION = "duration"
    """Written as people write a length ("10:00", "90s"); the value is milliseconds."""
    LANGUAGE = "language"
    """A BCP 47 language tag ("de", "pt-BR"), checked against the known languages."""


@dataclass(frozen=True)
class Option:
    """One row of the table: everything about an option besides the code that acts on it."""

    name: str
    """The key under a routine's `options:` ("next_up"); the flag is the same with hyphens (--next-up)."""
    kind: OptionKind
    default: Any
    """The value when neither a flag nor the routine sets it; None when the choice is left to the engine."""
    help: str
    """What the option does, for `--help` and the schema (no default and no example: those are added)."""
    example: str
    """A command-line example, "--pace 1.5"."""
    noun: str = ""
    """What a value is, in messages: "expected {noun} from 80 to 300"."""
    range: tuple[float, float] | None = None
    """Lowest and highest value, both allowed (INT and FLOAT)."""
    choices: tuple[Any, ...] = ()
    """The allowed values (CHOICE), in the order they are listed."""
    metavar: str | None = None
    """How `--help` names the value (WPM, FACTOR); None for the kind's own."""
    file: bool = False
    """The value may name a file: under a routine's `options:`, a relative path is found beside the routine."""

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def parse(self, value: object) -> Any:
        """The option's value from text (a flag, or a value as written in a file) or a Python value;
        raises ValueError with the one message both a flag and a file show."""
        return _PARSERS[self.kind](self, value)

    def default_text(self) -> str | None:
        """The default as a user would write it, for `--help`; None when there is none."""
        if self.default is None:
            return None
        if self.kind is OptionKind.FLAG:
            return self.flag if self.default else f"--no-{self.flag[2:]}"
        return f"{self.default:g}" if isinstance(self.default, float) else str(self.default)


def _number(option: Option, value: object) -> int | float:
    low, high = option.range or (float("-inf"), float("inf"))  # add_option gives every number a range
    message = f"expected {option.noun} from {low:g} to {high:g}, got {as_written(value)}"
    number = _decimal(value)
    if number is None or not number.is_finite():
        raise ValueError(message)
    if option.kind is OptionKind.INT and number != number.to_integral_value():
        raise ValueError(message)
    if not Decimal(repr(low)) <= number <= Decimal(repr(high)):
        raise ValueError(message)
    return int(number) if option.kind is OptionKind.INT else float(number)


def _decimal(value: object) -> Decimal | None:
    """A number exactly as written, however long, without float's overflow; None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return None
    return None


def _choice(option: Option, value: object) -> Any:
    if not isinstance(value, bool) and isinstance(value, (str, int)):
        for choice in option.choices:
            if str(value).strip().lower() == str(choice).lower():
                return choice
    allowed = ", ".join(map(str, option.choices))
    raise ValueError(f"expected {option.noun}: one of {allowed}; got {as_written(value)}")


def _text(option: Option, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected {option.noun}, got {as_written(value)}")
    bad = unspeakable_character(value)
    if bad:
        raise ValueError(f"expected {option.noun}, got {as_written(value)}, which holds {bad}")
    return value.strip()


_ON = ("true", "yes", "on")
_OFF = ("false", "no", "off")


def _flag(option: Option, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _ON + _OFF:
        return value.strip().lower() in _ON
    raise ValueError(f"expected true or false, got {as_written(value)}")


def _duration(option: Option, value: object) -> int:
    return parse_duration_ms(value)


def _language(option: Option, value: object) -> str:
    from .language import parse_language

    return parse_language(value)


_PARSERS: dict[OptionKind, Callable[[Option, object], Any]] = {
    OptionKind.INT: _number, OptionKind.FLOAT: _number, OptionKind.TEXT: _text, OptionKind.CHOICE: _choice,
    OptionKind.FLAG: _flag, OptionKind.DURATION: _duration, OptionKind.LANGUAGE: _language,
}


def unspeakable_character(text: str) -> str | None:
    """The first character no text may hold (a control character, a NUL, half a surrogate pair),
    described for a message; None when there is none. Tabs and line breaks are spacing."""
    for ch in text:
        if (ch < " " and ch not in "\t\n\r") or "\x7f" <= ch <= "\x9f" or "\ud800" <= ch <= "\udfff":
            return f"the control character U+{ord(ch):04X}" if ch < "\ud800" else f"a lone surrogate U+{ord(ch):04X}"
    return None


MP3_BITRATES = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)

OPTIONS: dict[str, Option] = {}
"""The table, in the order `--help` lists it. Add a row with `add_option`."""


def add_option(option: Option) -> None:
    """Add a row: it is then a flag of `build` and `plan`, a key of `options:` and part of the schema
    (the code that acts on its value is the caller's). Refuses a name already taken or a bad default."""
    if option.name in OPTIONS:
        raise ValueError(f"an option named {option.name!r} is already in the table")
    if option.kind in (OptionKind.INT, OptionKind.FLOAT) and option.range is None:
        raise ValueError(f"option {option.name!r}: a number needs a range")
    if option.kind is OptionKind.CHOICE and not option.choices:
        raise ValueError(f"option {option.name!r}: a choice needs choices")
    if option.default is not None and option.kind is not OptionKind.DURATION:
        option.parse(option.default)
    OPTIONS[option.name] = option


for _row in (
    Option("engine", OptionKind.TEXT, "pyttsx3",
           "Speech engine: pyttsx3 (system voices, eSpeak NG on Linux) or piper (natural neural voice; "
           "pip install 'voiceguide[neural]').", "--engine piper", noun="an engine name", metavar="NAME"),
    Option("voice", OptionKind.TEXT, None,
           "A voice id or a unique part of its name, as `voiceguide voices` lists; for piper also a path to "
           "an .onnx voice (default: the engine's own voice).", "--voice en-gb", noun="a voice id or name",
           metavar="ID|NAME|PATH"),
    Option("language", OptionKind.LANGUAGE, None,
           "The session's language, a BCP 47 tag (de, es, pt-BR): the words voiceguide says itself, numbers "
           "and lengths, and the voice (when --voice is not given); `voiceguide languages` lists them (default: "
           "the routine's `language:`, else en).", "--language de", noun="a language tag", metavar="TAG"),
    Option("rate", OptionKind.INT, 150,
           "Speaking rate in words per minute, as measured on the speech (calm guidance is about 130-160).",
           "--rate 135", noun="words per minute", range=(80, 300), metavar="WPM"),
    Option("volume", OptionKind.FLOAT, 1.0,
           "Session loudness: 1 is the standard -16 LUFS, 0.5 is 6 dB quieter.", "--volume 0.7",
           noun="a volume", range=(0.05, 1.0), metavar="0.05-1"),
    Option("pace", OptionKind.FLOAT, 1.0,
           "Multiply every hold: 1.5 makes a 1:00 hold 1:30; longer holds hear more of the routine's tips.",
           "--pace 1.5", noun="a pace", range=(0.25, 4.0), metavar="FACTOR"),
    Option("duration", OptionKind.DURATION, None,
           "Make the session last exactly this long (at most 24 hours); holds scale in proportion (wins "
           "over --pace).", "--duration 10:00", noun="a duration", metavar="DURATION"),
    Option("detail", OptionKind.CHOICE, "standard",
           "How much is spoken: brief = names, switch sides and countdown; standard = plus instructions, tips "
           "and next-up that fit; full = plus summaries, adjustments and tips again in long holds.",
           "--detail full", noun="a detail level", choices=("brief", "standard", "full")),
    Option("countdown", OptionKind.INT, 3,
           "Count down the last N seconds of each exercise (0 for none).", "--countdown 5",
           noun="a countdown", range=(0, 10), metavar="N"),
    Option("intro", OptionKind.FLAG, True,
           "Start with the title and what the routine targets, or straight with the first exercise.",
           "--no-intro"),
    Option("next_up", OptionKind.FLAG, True,
           'Say "Next up: ..." before each exercise ends, or not.', "--no-next-up"),
    Option("sides", OptionKind.CHOICE, "split",
           "Two-sided exercises: split = the hold covers both sides, switching at the midpoint; each = the "
           "full hold on each side, with a short gap to switch.", "--sides each",
           noun="how to do two-sided holds", choices=("split", "each")),
    Option("setup", OptionKind.CHOICE, "gap",
           "An exercise whose instructions do not fit in its hold before the first fixed cue (switch sides, "
           "the countdown): gap = they are spoken in a set-up gap before the hold starts (a soft chime starts "
           "it; a stated total's spare time pays first); none = the hold only, and what does not fit is left out.",
           "--setup none", noun="where set-up instructions go", choices=("gap", "none")),
    Option("chime", OptionKind.TEXT, "bell",
           "The chime between exercises: a shipped one (bell, bowl), any WAV/MP3/OGG/FLAC file, or none.",
           "--chime bowl", noun="a chime name, a sound file or none", metavar="NAME|PATH|none", file=True),
    Option("music", OptionKind.TEXT, "none",
           "A music bed under the whole session, ducked while each line is spoken: a shipped one (calm), any "
           "WAV/MP3/OGG/FLAC file (looped when shorter than the session, cut when longer), or none.",
           "--music calm", noun="a music name, a sound file or none", metavar="NAME|PATH|none", file=True),
    Option("music_volume", OptionKind.FLOAT, -15.0,
           "The music's loudness between lines, in LU relative to the voice (-15 sits well under it; -25 is "
           "barely there). The voice stays as loud as without music.", "--music-volume -20",
           noun="a music volume in LU", range=(-40.0, -6.0), metavar="LU"),
    Option("duck_db", OptionKind.FLOAT, 12.0,
           "How far the music goes down while a line is spoken (from 150 ms before it until 500 ms after; "
           "lines less than a second apart share one dip).", "--duck-db 18",
           noun="a ducking depth in dB", range=(0.0, 40.0), metavar="DB"),
    Option("bitrate", OptionKind.CHOICE, 96,
           "MP3 bitrate in kbps, constant.", "--bitrate 128", noun="an MP3 bitrate in kbps",
           choices=MP3_BITRATES, metavar="KBPS"),
    Option("split", OptionKind.FLAG, False,
           "Also write one MP3 per chapter (01-intro.mp3, ...) and an .m3u playlist in a folder beside the "
           "session, for players that skip only from file to file.", "--split"),
    Option("only_mp3", OptionKind.FLAG, False,
           "Write the MP3 alone, without its .vtt captions, .json plan, .chapters.json and .cover.png (any already "
           "there are left as they are; the cover is inside the MP3); a feed.xml already in the folder is updated.",
           "--only-mp3"),
):
    add_option(_row)


def default(name: str) -> Any:
    """An option's default, for the modules that need one before any settings exist."""
    return OPTIONS[name].default


class Settings(Mapping[str, Any]):
    """The options a user chose, by name (only those set), immutable; layered with `over`: flags over
    the routine's `options:` over the defaults. A new option needs no new field here."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any] | None = None, /, **named: Any) -> None:
        merged = {**(values or {}), **named}
        unknown = sorted(set(merged) - set(OPTIONS))
        if unknown:
            raise TypeError(f"unknown option(s): {', '.join(unknown)}; known: {', '.join(OPTIONS)}")
        self._values = MappingProxyType({k: v for k, v in merged.items() if v is not None})

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __hash__(self) -> int:
        return hash(frozenset(self._values.items()))

    def __repr__(self) -> str:
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in self._values.items())})"

    def over(self, base: Mapping[str, Any]) -> Settings:
        """These settings where set, else `base`'s."""
        return Settings({**base, **self._values})


def defaults() -> Settings:
    """Every option's default, from the table as it is now."""
    return Settings({o.name: o.default for o in OPTIONS.values()})
