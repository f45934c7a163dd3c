"""A session's language: BCP 47 tags read and checked (with a did-you-mean), and the phrase tables that ship
with voiceguide (voiceguide/languages/<tag>.yaml) read into phrase books."""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from .errors import VoiceguideError
from .phrasebook import COUNTS, ENGLISH, PHRASES, PLACEHOLDER, Phrasebook, Plural, neutral

DEFAULT_LANGUAGE = "en"
LANGUAGE_HINT = "a language tag (BCP 47) such as en, de, es or pt-BR"

_TAG = re.compile(
    r"(?P<language>[a-z]{2,3})"
    r"(?:-(?P<script>[a-z]{4}))?"
    r"(?:-(?P<region>[a-z]{2}|\d{3}))?"
    r"(?P<variants>(?:-(?:[a-z\d]{5,8}|\d[a-z\d]{3}))*)"
    r"(?P<private>-x(?:-[a-z\d]{1,8})+)?",
    re.IGNORECASE,
)
"""A language tag as BCP 47 writes one: language[-Script][-REGION][-variant...][-x-private]."""
TAG_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|[0-9]{3}))?(-([A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*" \
              r"(-[xX](-[A-Za-z0-9]{1,8})+)?$"
"""The same, for the JSON Schema."""

_BIBLIOGRAPHIC = {"alb": "sq", "arm": "hy", "baq": "eu", "bur": "my", "chi": "zh", "cze": "cs", "dut": "nl",
                  "fre": "fr", "geo": "ka", "ger": "de", "gre": "el", "ice": "is", "mac": "mk", "mao": "mi",
                  "may": "ms", "per": "fa", "rum": "ro", "slo": "sk", "tib": "bo", "wel": "cy"}
"""ISO 639-2/B codes people also write ("ger"), and the tag they mean."""


@dataclass(frozen=True)
class _Code:
    tag: str
    three: str
    """ISO 639-2/T: what ID3 tags name a language by."""
    name: str


@cache
def _codes() -> dict[str, _Code]:
    text = resources.files("voiceguide").joinpath("languages/codes.tsv").read_text(encoding="utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    return {tag: _Code(tag, three, name) for tag, three, name in rows}


def parse_language(value: object) -> str:
    """A language tag in its usual case ("pt-BR") from what a user wrote; raises ValueError with a
    did-you-mean for a tag that is malformed ("de_DE", "German") or names no known language ("ge")."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected {LANGUAGE_HINT}, got {_shown(value)}")
    written = value.strip()
    found = _TAG.fullmatch(written)
    if found is None:
        meant = _meant(written)
        hint = f'; did you mean "{meant}"?' if meant else "; see `voiceguide languages`"
        raise ValueError(f'"{written}" is not {LANGUAGE_HINT}{hint}')
    primary = found["language"].lower()
    codes = _codes()
    if primary not in codes:
        meant = _meant(written)
        other = written[len(primary):]
        hint = f'did you mean "{meant}{other if meant and "-" not in meant else ""}"?' if meant else \
            "see `voiceguide languages`"
        raise ValueError(f'"{written}" is not a language voiceguide knows ("{primary}" is no language code); {hint}')
    if (found["region"] or "").upper() == "UK":
        raise ValueError(f'"{written}": UK is no region code (the United Kingdom is GB); did you mean "{primary}-GB"?')
    parts = [primary]
    if found["script"]:
        parts.append(found["script"].title())
    if found["region"]:
        parts.append(found["region"].upper())
    tag = "-".join(parts) + (found["variants"] or "").lower() + (found["private"] or "").lower()
    return tag


def _meant(written: str) -> str | None:
    """The tag a malformed or unknown one most likely means: "de_DE" -> "de-DE", "German" -> "de",
    "ger" -> "de", "deu" -> "de", "ge" -> "de"."""
    plain = written.strip().replace("_", "-")
    if plain != written.strip() and _TAG.fullmatch(plain) and plain.split("-")[0].lower() in _codes():
        try:
            return parse_language(plain)
        except ValueError:
            pass
    lowered = written.strip().lower()
    head = lowered.replace("_", "-").split("-")[0]
    by_three = {c.three: c.tag for c in _codes().values() if len(c.tag) == 2}
    if head in _BIBLIOGRAPHIC:
        return _BIBLIOGRAPHIC[head]
    if head in by_three:
        return by_three[head]
    names = _names()
    if lowered in names:
        return names[lowered]
    close = difflib.get_close_matches(lowered, list(names), n=1, cutoff=0.75)
    if close:
        return names[close[0]]
    return _closest_code(head)


def _closest_code(head: str) -> str | None:
    """The code sharing most letters in place with `head` ("ge" -> "de"), a shipped language first."""
    shipped = set(shipped_tables())

    def score(code: str) -> tuple[int, bool]:
        return sum(a == b for a, b in zip(code, head)) - abs(len(code) - len(head)), code in shipped

    best = max(_codes(), key=score)
    return best if score(best)[0] > 0 else None


@cache
def _names() -> dict[str, str]:
    """Language names, in English and (for the shipped tables) in the language itself, to their tags."""
    names = {c.name.lower(): c.tag for c in reversed(list(_codes().values()))}
    for table in shipped_tables().values():
        names[table.native.lower()] = table.language
    return names


def primary(tag: str) -> str:
    """The language of a tag without region or script: "pt" for "pt-BR"."""
    return tag.replace("_", "-").split("-")[0].lower()


def language_name(tag: str) -> str:
    """"German" for "de", "Portuguese (BR)" for "pt-BR"."""
    code = _codes().get(primary(tag))
    name = code.name if code else tag
    rest = tag.split("-", 1)[1] if "-" in tag else ""
    return f"{name} ({rest})" if rest else name


def iso639_2(tag: str) -> str:
    """The three-letter code ID3 names a language by ("deu" for "de", "eng" for "en-GB"); "und" when unknown."""
    code = _codes().get(primary(tag))
    return code.three if code else "und"


def from_iso639_2(three: str) -> str | None:
    """The language tag for ID3's three-letter code ("deu" -> "de"), or None when it names none."""
    three = three.strip().lower()
    return next((c.tag for c in _codes().values() if c.three == three), _BIBLIOGRAPHIC.get(three))


def num2words_language(tag: str) -> str | None:
    """The num2words language that says this language's numbers ("pt_BR", "de"), or None when it has none."""
    from num2words import CONVERTER_CLASSES

    wanted = [tag.replace("-", "_"), "_".join(p for p in tag.split("-")[:2]), primary(tag)]
    wanted += {"nb": ["no"], "nn": ["no"]}.get(primary(tag), [])
    for name in wanted:
        for known in CONVERTER_CLASSES:
            if known.lower() == name.lower():
                return str(known)
    return None


@dataclass(frozen=True)
class Table:
    """A phrase table as shipped (voiceguide/languages/<tag>.yaml)."""

    language: str
    name: str
    native: str
    texts: tuple[tuple[str, str], ...]
    plurals: tuple[tuple[str, Plural], ...]
    calibration: tuple[str, ...]
    file: str


class TableError(VoiceguideError):
    """Raised when a shipped (or added) phrase table is not a table: a missing phrase, a placeholder lost."""


def read_table(text: str, file: str) -> Table:
    """A phrase table from its YAML text; every phrase of English's, with the same placeholders."""
    import yaml

    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml, when built in: faster
    if not isinstance(data, dict):
        raise TableError(f"{file}: a phrase table is a mapping of language, name, native, phrases, counts, "
                         "calibration; copy voiceguide/languages/en.yaml to start one")
    problems = []
    phrases = data.get("phrases") or {}
    counts = data.get("counts") or {}
    texts = []
    for key in PHRASES:
        value = phrases.get(key)
        if not isinstance(value, str):
            problems.append(f"phrases.{key} is missing (English: {ENGLISH.text(key)!r})")
            continue
        problems += [f"phrases.{key}: {p}" for p in phrase_problems(key, value)]
        texts.append((key, value))
    problems += [f"phrases.{key} is not a phrase voiceguide says" for key in phrases if key not in PHRASES]
    plurals = []
    for key in COUNTS:
        try:
            plurals.append((key, plural_of(counts.get(key))))
        except ValueError as exc:
            problems.append(f"counts.{key}: {exc}")
    problems += [f"counts.{key} is not a count voiceguide says" for key in counts if key not in COUNTS]
    calibration = data.get("calibration")
    if not isinstance(calibration, list) or not calibration or not all(isinstance(s, str) for s in calibration):
        problems.append("calibration: expected a list of sentences, spoken to measure the voice's words per minute")
        calibration = []
    if problems:
        raise TableError(f"{file}: " + "; ".join(problems))
    return Table(str(data.get("language") or ""), str(data.get("name") or ""), str(data.get("native") or ""),
                 tuple(texts), tuple(plurals), tuple(calibration), file)


def phrase_problems(key: str, value: str) -> list[str]:
    """What is wrong with a phrase's template: placeholders English's has not, or lacks."""
    want = set(PHRASES[key])
    got = set(PLACEHOLDER.findall(value))
    problems = [f"{{{name}}} is not a placeholder of this phrase" + (f" (it has {_listed(want)})" if want else "")
                for name in sorted(got - want)]
    problems += [f"it must say {{{name}}} (English: {ENGLISH.text(key)!r})" for name in sorted(want - got)]
    if not value.strip() and key not in ("separator", "last_separator"):
        problems.append("it is empty")
    return problems


def plural_of(value: object) -> Plural:
    """A count's forms from YAML ({one: ..., other: "{n} ...", endings: {...}}); ValueError says what is wrong."""
    if not isinstance(value, dict):
        raise ValueError('expected the forms one and other, e.g. {one: "one minute", other: "{n} minutes"}')  # noqa: TRY004 - a message, as for a bad value
    one, other, endings = value.get("one"), value.get("other"), value.get("endings") or {}
    unknown = sorted(set(map(str, value)) - {"one", "other", "endings"})
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: not a form (a count has one, other and optionally endings)")
    if not isinstance(one, str) or not one.strip():
        raise ValueError('expected `one`, how 1 is said: "one minute"')
    if not isinstance(other, str) or "{n}" not in other:
        raise ValueError('expected `other` with {n} where the number goes: "{n} minutes"')
    if not isinstance(endings, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in endings.items()):
        raise ValueError("expected `endings` as a mapping of a number's last word to its form here: {un: une}")
    stray = set(PLACEHOLDER.findall(one + other)) - {"n"}
    if stray:
        raise ValueError(f"{_listed(stray)}: the only placeholder of a count is {{n}}")
    return Plural(one, other, tuple(endings.items()))


def _listed(names: set[str]) -> str:
    return ", ".join(f"{{{n}}}" for n in sorted(names)) or "none"


@cache
def shipped_tables() -> dict[str, Table]:
    """The phrase tables that ship with voiceguide, by language tag."""
    folder = resources.files("voiceguide").joinpath("languages")
    tables = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            table = read_table(entry.read_text(encoding="utf-8"), f"voiceguide/languages/{entry.name}")
            tables[table.language or entry.name.removesuffix(".yaml")] = table
    return tables


def table_for(tag: str) -> Table | None:
    """The shipped table that speaks `tag`: its own ("pt-BR"), else its language's ("pt")."""
    tables = {t.lower(): table for t, table in shipped_tables().items()}
    return tables.get(tag.lower()) or tables.get(primary(tag))


def phrasebook_for(tag: str) -> Phrasebook:
    """The builder's words for a session in `tag`: the shipped table's; for a language with none, only the
    phrases with no words of their own ("{name}."), so that a routine's `phrases:` must give the rest."""
    table = table_for(tag)
    numbers = num2words_language(tag)
    if table is not None:
        return Phrasebook(tag, table.texts, table.plurals, numbers)
    shipped = ", ".join(shipped_tables())
    hint = (f"voiceguide has no phrase table for {language_name(tag)} (it ships {shipped}): give them under "
            "`phrases:` in the routine (voiceguide/languages/en.yaml has each one in English), or add a table: "
            f"copy voiceguide/languages/en.yaml to {primary(tag)}.yaml, translate it and build (README: "
            "\"Languages\")")
    return Phrasebook(tag, tuple((k, v) for k, v in ENGLISH.texts if neutral(v)), (), numbers, hint)


def calibration_text(tag: str) -> tuple[str, ...]:
    """Sentences in the language, spoken once to measure a voice's real words per minute (English's for a
    language with no table: each line is measured again as it is spoken anyway)."""
    table = table_for(tag) or table_for(DEFAULT_LANGUAGE)
    assert table is not None  # English ships
    return table.calibration


def speaks(voice_language: str, tag: str) -> bool:
    """True when a voice whose language is `voice_language` ("en-us", "en_US", "fr-fr") speaks `tag`'s language."""
    return _voice_primary(voice_language) == _voice_primary(tag)


def _voice_primary(language: str) -> str:
    head = language.replace("_", "-").split("-")[0].lower()
    return _SAME.get(head, head)


_SAME = {"nb": "no", "zh": "cmn", "iw": "he", "in": "id", "tl": "fil"}
"""Codes that engines and people use for the same language (eSpeak NG says nb and cmn)."""


def _shown(value: object) -> str:
    from .durations import as_written

    return as_written(value)
