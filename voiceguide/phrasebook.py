"""The builder's own words in one language: phrase templates with placeholders, plural forms, numbers in words.

Pure data and formatting. The tables are files read at the edge (`voiceguide.language`) and handed to the
plan in its options; English is also built in here, so the plan has words without reading anything.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

PHRASES: dict[str, tuple[str, ...]] = {
    "title": ("title",),  # the routine's title, opening the intro: "{title}."
    "overview": ("length", "count"),  # "Six minutes, seven exercises."
    "overview_count": ("count",),  # the overview when the total is not known before speaking: "Seven exercises."
    "begin": (),  # "Let's begin."
    "name": ("name",),  # an exercise's name as it starts: "{name}."
    "length": ("length",),  # "One minute."
    "length_each_side": ("length",),  # with --sides each: "Thirty seconds each side."
    "reps_length": ("reps", "length"),  # "Ten reps of five seconds."
    "reps_length_each_side": ("reps", "length"),  # "Ten reps of five seconds, each side."
    "switch": (),  # "Switch sides."
    "countdown": ("number",),  # "Three."
    "rep": ("number",),  # the count at the start of a rep: "One."
    "last_rep": (),  # "Last one."
    "relax": (),  # "Relax."
    "next": ("name",),  # "Next up: Hurdler."
    "complete": (),  # "Routine complete."
    "intro_chapter": (),  # the first chapter's title (not spoken)
    "outro_chapter": (),  # the last chapter's title (not spoken)
    "separator": (),  # between the parts of a length: "one hour, two minutes"
    "last_separator": (),  # before its last part: "two minutes, thirty seconds" ("zwei Minuten und dreißig")
}
"""Every phrase the builder can say, with the placeholders its template holds (English is the reference)."""

COUNTS = ("hours", "minutes", "seconds", "exercises", "reps")
"""Things said with a number, each a plural form: "one minute" / "{n} minutes"."""

_GENERATED = ("length", "count", "reps", "number")
"""Placeholders whose words the builder makes (lower case): a phrase opening with one is capitalised."""
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class Plural:
    """How a count of something is said: `one` for 1, `other` (with "{n}" for the number in words) otherwise."""

    one: str
    other: str
    endings: tuple[tuple[str, str], ...] = ()
    """How a number's last word changes before this noun (its gender): ("un", "une") makes "vingt et une
    minutes"; ("uno", "un") "treinta y un segundos". The longest matching ending applies."""


class MissingPhrase(LookupError):
    """A phrase the session needs is in neither the language's table nor the routine's `phrases:`."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        super().__init__(", ".join(keys))
        self.keys = keys


@dataclass(frozen=True)
class Phrasebook:
    """The words of one language. Hashable (it is part of the plan's options)."""

    language: str = "en"
    """BCP 47 tag of the session's language."""
    texts: tuple[tuple[str, str], ...] = ()
    """Phrase templates by name (PHRASES)."""
    plurals: tuple[tuple[str, Plural], ...] = ()
    """Plural forms by name (COUNTS)."""
    numbers: str | None = "en"
    """The num2words language that says numbers in words; None: digits, which the voice reads in its language."""
    missing_hint: str = ""
    """What to do when a phrase is missing (where tables come from), for the message."""
    _texts: Mapping[str, str] = field(init=False, repr=False, compare=False, hash=False)
    _plurals: Mapping[str, Plural] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_texts", dict(self.texts))
        object.__setattr__(self, "_plurals", dict(self.plurals))

    def has(self, key: str) -> bool:
        return key in self._texts or key in self._plurals

    def with_overrides(self, texts: Mapping[str, str], plurals: Mapping[str, Plural]) -> Phrasebook:
        """This book with a routine's own `phrases:` in place of its own."""
        if not texts and not plurals:
            return self
        return Phrasebook(self.language, tuple({**self._texts, **texts}.items()),
                          tuple({**self._plurals, **plurals}.items()), self.numbers, self.missing_hint)

    def text(self, key: str, **values: str) -> str:
        """The phrase with its placeholders filled; capitalised when it opens with words the builder made."""
        template = self._texts.get(key)
        if template is None:
            raise MissingPhrase((key,))
        said = PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)
        if template.startswith(tuple(f"{{{name}}}" for name in _GENERATED)):
            said = said[:1].upper() + said[1:]
        return said

    def number(self, n: int) -> str:
        """A number in words ("twenty-one"), or in digits where num2words does not know the language."""
        if self.numbers is None:
            return str(n)
        from num2words import num2words  # imported when first said, so `--help` does not pay for it

        return str(num2words(n, lang=self.numbers))

    def count(self, key: str, n: int) -> str:
        """"seven exercises", "one exercise", "eine Minute", "vingt et une secondes"."""
        plural = self._plurals.get(key)
        if plural is None:
            raise MissingPhrase((key,))
        if n == 1:
            return plural.one.replace("{n}", self.number(n))
        words = self.number(n)
        for ending, becomes in sorted(plural.endings, key=lambda pair: -len(pair[0])):
            if words.endswith(ending):
                words = words[: len(words) - len(ending)] + becomes
                break
        return plural.other.replace("{n}", words)

    def length(self, ms: int) -> str:
        """How a person says a length, in lower case: "one minute, thirty seconds" (whole seconds)."""
        total = round(ms / 1000)
        hours, rest = divmod(total, 3600)
        minutes, seconds = divmod(rest, 60)
        units = [(n, unit) for n, unit in ((hours, "hours"), (minutes, "minutes"), (seconds, "seconds")) if n]
        units = units or [(0, "seconds")]
        needed = [unit for _, unit in units if unit not in self._plurals]
        if len(units) > 1:
            needed += [key for key in ("separator", "last_separator") if key not in self._texts]
        if needed:
            raise MissingPhrase(tuple(needed))
        parts = [self.count(unit, n) for n, unit in units]
        if len(parts) == 1:
            return parts[0]
        return self._texts["separator"].join(parts[:-1]) + self._texts["last_separator"] + parts[-1]


def neutral(template: str) -> bool:
    """True for a template with no words of its own ("{title}.", ", "): the same in every language."""
    return not any(ch.isalpha() for ch in PLACEHOLDER.sub("", template))


ENGLISH = Phrasebook(
    "en",
    texts=(
        ("title", "{title}."),
        ("overview", "{length}, {count}."),
        ("overview_count", "{count}."),
        ("begin", "Let's begin."),
        ("name", "{name}."),
        ("length", "{length}."),
        ("length_each_side", "{length} each side."),
        ("reps_length", "{reps} of {length}."),
        ("reps_length_each_side", "{reps} of {length}, each side."),
        ("switch", "Switch sides."),
        ("countdown", "{number}."),
        ("rep", "{number}."),
        ("last_rep", "Last one."),
        ("relax", "Relax."),
        ("next", "Next up: {name}."),
        ("complete", "Routine complete."),
        ("intro_chapter", "Intro"),
        ("outro_chapter", "Outro"),
        ("separator", ", "),
        ("last_separator", ", "),
    ),
    plurals=(
        ("hours", Plural("one hour", "{n} hours")),
        ("minutes", Plural("one minute", "{n} minutes")),
        ("seconds", Plural("one second", "{n} seconds")),
        ("exercises", Plural("one exercise", "{n} exercises")),
        ("reps", Plural("one rep", "{n} reps")),
    ),
)
"""The builder's words when no language is asked for; `voiceguide/phrases/en.yaml` says the same (a test
checks), and is the table to copy for another language."""
