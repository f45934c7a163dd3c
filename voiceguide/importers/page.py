"""Read a routine page: the text of a routine as a website or app shows it, in the seed's layout.

    About This Lower Back Relief Routine      <- "About This ... Routine" gives the title
    (paragraphs)                              <- about; then, each under its heading:
    What This Routine Targets / What's Included / Who Should Try This / Tips for Best Results

    Wide Leg Bend                             <- an exercise: its name on a line,
    Duration: 0:30                            <- then its length,
    Fold forward with legs wide ...           <- a one-line summary,
    Difficulty: Beginner
    Instructions                              <- and lists of "- " items under
    - Stand with feet wide ...                   Instructions, Tips and Adjustments
    ...
    Back Relief Through Hip Freedom           <- after the last exercise: the closing title
    (paragraphs)                              <- and its words

Headings are matched in any capitalisation, with or without a colon; curly quotes, citation markers
("improve function.1"), blank lines anywhere and CRLF line ends are all fine; the prose sections are
optional. What cannot be read is reported at its line with what was expected there.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from ..durations import format_clock, parse_duration_ms
from ..routine import MAX_EXERCISES
from ..routine_file import briefly
from .document import LINE_BREAK, Document, Format, Note, Problems, plain

_PROSE_HEADINGS = {
    "targets": ("what this routine targets", "what it targets", "what this targets", "targets",
                "what this session targets", "target areas"),
    "included": ("what's included", "what is included", "included", "what's in this routine",
                 "what's in it"),
    "who": ("who should try this", "who should try this routine", "who should do this", "who is this for",
            "who it's for", "who this routine is for", "who it is for"),
    "advice": ("tips for best results", "tips for the best results", "for best results", "tips for success",
               "advice", "tips", "general tips"),
}
_LIST_HEADINGS = {
    "instructions": ("instructions", "how to do it", "how to", "steps", "directions"),
    "tips": ("tips", "cues", "form tips", "pointers"),
    "adjustments": ("adjustments", "modifications", "variations", "adjustments and modifications"),
}
_ABOUT = re.compile(r"about(?:\s+(?:this|the))?(?:\s+(?P<name>.*?))??(?:\s+(?:routine|session|sequence|practice|"
                    r"workout|flow|class))?", re.IGNORECASE)
_DURATION = re.compile(r"duration\s*(?:[:\-\u2013\u2014=]\s*|\s+(?=\d))(?P<value>.*)", re.IGNORECASE)
_DIFFICULTY = re.compile(r"(?:difficulty|level)\s*[:\-\u2013\u2014=]\s*(?P<value>.*)", re.IGNORECASE)
_BULLET = re.compile(r"(?:[-*+\u2013\u2014]\s+|[\u2022\u00b7\u25aa\u25e6\u25cf\u2023\u2043]\s*|\d{1,2}[.)]\s+)"
                     r"(?P<text>.*)")
_CITATION = re.compile(r"(?:(?<=[^\W\d_])|(?<=[)\]\"']))(?P<mark>[.!?,;:])(?P<cite>\d{1,3}|\[\d{1,3}\])(?=\s|$)"
                       r"|(?:(?<=[^\W\d_])|(?<=[.!?,;:)\"']))(?P<bracket>\[\d{1,3}\])"
                       r"|(?P<super>[\u00b9\u00b2\u00b3\u2070\u2074-\u2079]+)")
"""A reference number printed after a sentence or word ("function.1", "function[1]", "function\u00b9"):
a page's footnote, not a word to say."""
_SIDES = re.compile(r"\b(?:switch(?:ing)?|chang(?:e|ing)|swap(?:ping)?)\s+sides?\b|\b(?:the\s+)?other\s+side\b"
                    r"|\beach\s+side\b|\bboth\s+sides\b|\bper\s+side\b|\bopposite\s+side\b",
                    re.IGNORECASE)
_SMALL = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
          "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60}
_STATED = re.compile(r"\b(?P<n>\d{1,3}|[a-z]+(?:-[a-z]+)?)[- ](?:minute|min)(?:s)?\b(?:[- ]long)?\s+"
                     r"(?:routine|session|sequence|flow|practice|workout|class|stretch)", re.IGNORECASE)
MIN_SPARE_MS = 20_000
"""A length a page states is taken as the routine's stated total only if it leaves the intro and
outro at least this much beside the holds; else the page's words were a round figure."""


@dataclass
class _Line:
    number: int
    raw: str
    text: str
    """Stripped, with typography made plain."""

    @property
    def indented(self) -> bool:
        return self.raw[:1] in (" ", "\t")


@dataclass
class _Exercise:
    name: _Line
    duration: _Line
    value: str
    summary: list[str] = field(default_factory=list)
    difficulty: str = ""
    lists: dict[str, list[tuple[int, str]]] = field(default_factory=dict)


def parse_page(text: str, source: str, stem: str = "") -> Document:
    """A routine document from a page's text; `stem` (the file's name) titles a page that has no title."""
    problems = Problems(source)
    notes: list[Note] = []
    lines = [_Line(n, raw, plain(raw).strip()) for n, raw in enumerate(LINE_BREAK.split(text), 1)]
    lines = [_clean(line, notes) for line in lines]
    filled = [line for line in lines if line.text]
    exercise_starts = _exercise_starts(filled)
    if not exercise_starts:
        starts = [line.number for line in filled if _DURATION.fullmatch(line.text)]
        where = starts[0] if starts else (filled[0].number if filled else 1)
        problems.add(where, 'a routine page needs at least one exercise: its name on a line, then "Duration: '
                            'M:SS" on the next (as in "Wide Leg Bend" then "Duration: 0:30"), then its "- " lists '
                            "under Instructions, Tips and Adjustments")
        problems.raise_any()
    if len(exercise_starts) > MAX_EXERCISES:  # before the work of reading each one
        problems.add(filled[exercise_starts[0] - 1].number, f"{len(exercise_starts)} exercises; a routine may have at "
                                                            f"most {MAX_EXERCISES}: split the page into several")
        problems.raise_any()
    first = exercise_starts[0] - 1
    data: dict[str, Any] = {}
    doc = Document(data, Format.PAGE, notes=notes)
    _preamble(filled[:first], doc, problems, stem)
    exercises: list[_Exercise] = []
    for k, start in enumerate(exercise_starts):
        end = exercise_starts[k + 1] - 1 if k + 1 < len(exercise_starts) else len(filled)
        block = filled[start + 1:end]
        duration = filled[start]
        found = _DURATION.fullmatch(duration.text)
        assert found is not None  # a start is a Duration line
        exercise = _Exercise(filled[start - 1], duration, found.group("value").strip().rstrip("."))
        if not exercise.value:
            problems.add(duration.number, f'{exercise.name.text}: "{duration.text}" gives no length; write it as in '
                                          '"Duration: 0:30" or "Duration: 1 minute 30"')
        rest = _exercise(exercise, block, problems, last=k + 1 == len(exercise_starts))
        exercises.append(exercise)
        if rest:
            _closing(rest, doc)
    problems.raise_any()
    data["exercises"] = [_exercise_data(e, n, doc) for n, e in enumerate(exercises)]
    _stated_total(doc)
    return doc


def _exercise_starts(lines: list[_Line]) -> list[int]:
    """The index of each exercise's "Duration:" line: one under a line of text (its name). One under a
    heading before any exercise gives the routine's own length instead; one under anything else is
    reported where it is."""
    starts: list[int] = []
    for i, line in enumerate(lines):
        if i == 0 or not _DURATION.fullmatch(line.text) or _kind(lines[i - 1].text) != "text":
            continue
        if not starts and _prose_heading(lines[i - 1].text, first=i == 1):
            continue
        starts.append(i)
    return starts


def _clean(line: _Line, notes: list[Note]) -> _Line:
    """The line without citation markers (each one noted: the user may want to know)."""
    def drop(found: re.Match[str]) -> str:
        cite = found.group("cite") or found.group("bracket") or found.group("super")
        before = " ".join(line.text[:found.start()].split()[-3:]) + (found.group("mark") or "")
        notes.append(Note(line.number, f'left out "{cite}" after "{before}": a citation marker, not a word to say'))
        return found.group("mark") or ""

    return _Line(line.number, line.raw, _CITATION.sub(drop, line.text))


def _heading_key(text: str) -> str:
    return " ".join(text.lower().rstrip(":").split())


def _kind(text: str) -> str:
    """What a line is: "duration", "difficulty", "bullet", a list heading's field, or "text"."""
    if _DURATION.fullmatch(text):
        return "duration"
    if _DIFFICULTY.fullmatch(text):
        return "difficulty"
    if _BULLET.fullmatch(text):
        return "bullet"
    key = _heading_key(text)
    for name, headings in _LIST_HEADINGS.items():
        if key in headings:
            return name
    return "text"


def _prose_heading(text: str, first: bool) -> tuple[str, str] | None:
    """("about", the title it names, or "") or (a prose field, "") for a heading of the preamble."""
    if len(text) > 80 or text.rstrip().endswith((".", "!", "?", ",")):
        return None
    key = _heading_key(text)
    for name, headings in _PROSE_HEADINGS.items():
        if key in headings:
            return name, ""
    about = _ABOUT.fullmatch(text.rstrip(":").strip())
    if about and (first or re.search(r"\b(?:routine|session|sequence|practice|workout|flow|class)$", key)
                  or key in ("about", "about this")):
        return "about", (about.group("name") or "").strip()
    return None


def _preamble(lines: list[_Line], doc: Document, problems: Problems, stem: str) -> None:
    """The title and the prose before the first exercise."""
    sections: dict[str, list[_Line]] = {}
    current: str | None = None
    title: tuple[str, int, str] | None = None  # (title, line, from what)
    for n, line in enumerate(lines):
        heading = _prose_heading(line.text, first=n == 0)
        stated = _DURATION.fullmatch(line.text)
        if stated and "duration" not in doc.data:  # the routine's own length, under a heading
            doc.data["duration"] = stated.group("value").strip().rstrip(".")
            doc.lines[("duration",)] = line.number
        elif heading:
            current, named = heading
            sections.setdefault(current, [])
            if named and title is None:
                title = (_title_case(named), line.number, f'the heading "{line.text}"')
            doc.lines.setdefault((current,), line.number)
        elif current is None and title is None and n == 0 and len(line.text) <= 80 \
                and not line.text.endswith((".", "!", "?")):
            title = (line.text, line.number, "the first line")
        else:
            section = current or "about"
            sections.setdefault(section, []).append(line)
            doc.lines.setdefault((section,), line.number)
    if title is None:
        name = _title_case(re.sub(r"[-_]+", " ", stem).strip()) or "Routine"
        doc.data["title"] = name
        doc.lines[("title",)] = 1
        doc.notes.append(Note(1, f'title "{name}", from the file\'s name: the page has no "About This ... '
                                 'Routine" heading; change it here', ("title",)))
    else:
        doc.data["title"], doc.lines[("title",)] = title[0], title[1]
        if title[2] != "the first line" or title[0] != lines[0].text:
            doc.notes.append(Note(title[1], f'title "{title[0]}", from {title[2]}', ("title",)))
    for name in ("about", "targets", "included", "who", "advice"):
        text = _paragraphs(sections.get(name, []))
        if text:
            doc.data[name] = text


def _paragraphs(lines: list[_Line]) -> str:
    """Prose lines as paragraphs: blank-line apart when the page has blank lines between them (a line
    then only wraps its paragraph), else each line its own."""
    real = lines
    if not real:
        return ""
    gaps = [b.number - a.number > 1 for a, b in itertools.pairwise(real)]
    if not any(gaps):
        return "\n".join(line.text for line in real)
    out = [real[0].text]
    for gap, line in zip(gaps, real[1:]):
        out.append(("\n" if gap else " ") + line.text)
    return "".join(out)


def _title_case(text: str) -> str:
    """A title as written, unless it is all capitals or all small letters: then Each Word Capitalised."""
    if text.isupper() or text.islower():
        return " ".join(w[:1].upper() + w[1:].lower() for w in text.split())
    return text


def _exercise(exercise: _Exercise, block: list[_Line], problems: Problems, last: bool) -> list[_Line]:
    """Fill an exercise from the lines after its Duration line; returns the lines that follow the last
    exercise (the closing), else []."""
    section: str | None = None
    for n, line in enumerate(block):
        kind = _kind(line.text)
        if kind == "difficulty":
            found = _DIFFICULTY.fullmatch(line.text)
            assert found is not None
            exercise.difficulty = found.group("value").strip().lower()
        elif kind in _LIST_HEADINGS:
            section = kind
            exercise.lists.setdefault(section, [])
        elif kind == "bullet":
            item = _BULLET.fullmatch(line.text)
            assert item is not None
            if section is None:
                section = "instructions"
                exercise.lists.setdefault(section, [])
            if item.group("text").strip():
                exercise.lists[section].append((line.number, item.group("text").strip()))
        elif kind == "duration":
            problems.add(line.number, f'"{briefly(line.text)}" has no exercise name on the line before it (the line '
                                      f'above is "{briefly(block[n - 1].text if n else exercise.duration.text)}"); '
                                      'put the exercise\'s name on its own line above its "Duration:"')
        elif section is None and not exercise.difficulty:
            exercise.summary.append(line.text)
        elif section is not None and line.indented and exercise.lists[section]:
            number, said = exercise.lists[section][-1]
            exercise.lists[section][-1] = (number, f"{said} {line.text}")
        elif last:
            _check_closing(block[n:], problems)
            return block[n:]
        else:
            problems.add(line.number, f'{exercise.name.text}: expected a "- " list item, a heading (Instructions, '
                                      'Tips, Adjustments) or the next exercise\'s name with "Duration: M:SS" on the '
                                      f'line after it; got "{briefly(line.text)}"')
    return []


def _check_closing(lines: list[_Line], problems: Problems) -> None:
    """The words after the last exercise are prose; an Instructions heading or "- " items among them are
    an exercise whose "Duration:" line is missing, which would otherwise be spoken as the closing words."""
    for line in lines:
        kind = _kind(line.text)
        if kind in _LIST_HEADINGS or kind == "bullet":
            said = f'the heading "{line.text}"' if kind != "bullet" else f'the list item "{briefly(line.text)}"'
            problems.add(lines[0].number, f'"{briefly(lines[0].text)}" comes after the last exercise, with {said} '
                                          f'(line {line.number}) as an exercise has, but no "Duration: M:SS" line; if '
                                          "it is an exercise, put its Duration on the line after its name (the "
                                          "closing words after the last exercise have no lists)")
            return


def _closing(lines: list[_Line], doc: Document) -> None:
    """The words after the last exercise: a title line (short, no full stop) over paragraphs, or only
    paragraphs."""
    head = lines[0]
    closing: dict[str, str] = {}
    if len(lines) > 1 and len(head.text) <= 100 and not head.text.endswith((".", "!", "?", ":", ",")):
        closing["title"] = head.text
        doc.lines[("closing", "title")] = head.number
        lines = lines[1:]
    text = _paragraphs(lines)
    if text:
        closing["text"] = text
        doc.lines[("closing", "text")] = lines[0].number
    doc.data["closing"] = closing
    doc.lines[("closing",)] = head.number


def _exercise_data(exercise: _Exercise, index: int, doc: Document) -> dict[str, Any]:
    path = ("exercises", index)
    doc.lines[path] = exercise.name.number
    doc.lines[path + ("name",)] = exercise.name.number
    doc.lines[path + ("duration",)] = exercise.duration.number
    data: dict[str, Any] = {"name": exercise.name.text, "duration": exercise.value}
    said = _SIDES.search(exercise.name.text)
    where = exercise.name.number
    for number, item in exercise.lists.get("instructions", []):
        said = said or _SIDES.search(item)
        where = number if said and where == exercise.name.number else where
    if said:
        data["sides"] = "both"
        doc.lines[path + ("sides",)] = where
        doc.notes.append(Note(where, f'{exercise.name.text}: sides: both, as it says "{said.group(0)}" ("Switch '
                                     'sides." at the midpoint); remove it if the exercise is done once',
                              path + ("sides",)))
    if exercise.summary:
        data["summary"] = " ".join(exercise.summary)
        doc.lines[path + ("summary",)] = exercise.duration.number + 1
    if exercise.difficulty:
        data["difficulty"] = exercise.difficulty
    for name in ("instructions", "tips", "adjustments"):
        items = exercise.lists.get(name, [])
        if items:
            data[name] = [said for _, said in items]
            for n, (number, _) in enumerate(items):
                doc.lines[path + (name, n)] = number
            doc.lines[path + (name,)] = items[0][0]
    return data


def _number(word: str) -> int | None:
    """12 from "12" or "twelve", 45 from "forty-five"; None for other words."""
    if word.isdigit():
        return int(word)
    if word in _SMALL:
        return _SMALL.index(word)
    tens, _, unit = word.partition("-")
    if tens in _TENS and (not unit or unit in _SMALL[1:10]):
        return _TENS[tens] + (_SMALL.index(unit) if unit else 0)
    return None


def _stated_total(doc: Document) -> None:
    """`duration` from the prose when it states the routine's length ("This six-minute routine") and that
    leaves the intro and outro room beside the holds; noted either way."""
    if "duration" in doc.data:
        return
    for name in ("about", "targets", "included", "who", "advice"):
        found = _STATED.search(doc.data.get(name, ""))
        if not found:
            continue
        minutes = _number(found.group("n").lower())
        if not minutes:
            continue
        holds_ms = 0
        for exercise in doc.data["exercises"]:
            try:
                holds_ms += parse_duration_ms(exercise["duration"])
            except ValueError:
                return  # the reader says what is wrong with it
        line = doc.line_of((name,))
        if minutes * 60_000 - holds_ms >= MIN_SPARE_MS:
            doc.data["duration"] = format_clock(minutes * 60_000)
            doc.lines[("duration",)] = line
            doc.notes.append(Note(line, f'duration: "{format_clock(minutes * 60_000)}", the length the routine '
                                        f'states ("{found.group(0)}"); remove it to let the intro and outro take '
                                        "what they need", ("duration",)))
        else:
            doc.notes.append(Note(line, f'"{found.group(0)}" is not used as the routine\'s length: the holds alone '
                                        f"last {format_clock(holds_ms)}"))
        return
