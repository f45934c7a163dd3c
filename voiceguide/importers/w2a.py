"""Read a w2a workout (github.com/mrclmr/w2a, "workout to audio").

The format, from w2a's own sources: internal/config/workout.go (the top-level keys), exercise.go
(`name`, `duration` as a Go duration such as "30s" or "2m", `texts`, `half_time`, `pause_duration`),
i18n.go (the words for "and", minute(s) and second(s)), example.yaml.tmpl (`w2a --example`) and
cmd/w2a/root.go, which says what w2a does with them: the `texts` are spoken one after another right
after the exercise's name (so here they are its instructions), `half_time: true` announces a change
of side at the midpoint (`sides: both`), `before_workout_announce` is spoken before the workout and
`after_workout_announce` after it, each a Go template that may use {{ .WorkoutExercisesCount }},
{{ .WorkoutDuration }} and {{ .WorkoutDurationWithoutPauses }}.

Kept: the exercises, `before_workout_announce` as the routine's about text (voiceguide's intro says
the count and length itself) and `after_workout_announce` as its closing words. Not kept, and said so:
the pause between exercises (voiceguide has none: the next exercise starts on the chime), the voice
settings and the fixed phrases (voiceguide has its own). w2a has no title: the file's name gives one.
"""
from __future__ import annotations

import re
from typing import Any

import yaml

from ..durations import parse_duration_ms
from ..routine_file import compose_yaml
from .document import Document, Format, Note, Problems
from .tree import Tree, line

W2A_KEYS = ("log_level", "tts", "audio_format", "i18n", "before_workout_announce", "after_workout_announce",
            "pause", "half_time", "exercise_beginning", "exercises")
"""The top-level keys of a w2a workout (internal/config/workout.go)."""
_UNUSED = {
    "tts": "voiceguide's voice is chosen with --engine and --voice",
    "audio_format": "voiceguide makes an MP3",
    "pause": "voiceguide starts the next exercise on the chime",
    "half_time": "voiceguide says \"Switch sides.\"",
    "exercise_beginning": "voiceguide says the name and length",
}
_TEMPLATE = re.compile(r"\{\{-?\s*(?P<field>[^}]*?)\s*-?\}\}")
_FILLED = ("WorkoutExercisesCount", "WorkoutDuration", "WorkoutDurationWithoutPauses")


def parse_w2a(text: str, source: str, stem: str) -> Document:
    problems = Problems(source)
    tree = Tree(problems)
    root = compose_yaml(text, source)
    if root is None:
        problems.add(1, "the file is empty; a w2a workout needs exercises")
        problems.raise_any()
    fields = tree.mapping(root, "", "a w2a workout (a mapping with exercises)") or {}
    if root is not None and isinstance(root, yaml.MappingNode) and "exercises" not in fields:
        problems.add(1, 'a w2a workout needs "exercises": a list of {name, duration}')
    title = " ".join(re.sub(r"[-_]+", " ", stem).split()).title() or "Workout"
    data: dict[str, Any] = {"title": title}
    doc = Document(data, Format.W2A, {("title",): 1})
    doc.notes.append(Note(1, f'title "{title}", from the file\'s name: a w2a workout has none; change it here',
                          ("title",)))
    exercises = []
    for n, item in enumerate(tree.items(fields.get("exercises"), "exercises", "exercises") or []):
        exercise = _exercise(tree, item, n, doc)
        if exercise:
            exercises.append(exercise)
    words = _words(tree, fields.get("i18n"))
    holds_s = _holds_s(exercises)
    for key, field in (("before_workout_announce", "about"), ("after_workout_announce", "closing")):
        said = tree.text(fields.get(key), key) if key in fields else None
        if said is None:
            continue
        filled = _fill(tree, fields[key], key, said, len(exercises), holds_s, words)
        if filled and filled != said and "{{" in said:
            doc.notes.append(Note(line(fields[key]), f"{key}: its template filled in for {len(exercises)} exercises "
                                                     f"of {_length(holds_s, words)} (voiceguide has no pauses)"))
        if filled:
            data[field] = filled if field == "about" else {"text": filled}
            doc.lines[(field,)] = line(fields[key])
    problems.raise_any()
    data["exercises"] = exercises
    unused = [f"{key} ({_UNUSED[key]})" for key in _UNUSED if key in fields]
    if unused:
        doc.notes.append(Note(1, "not used: " + ", ".join(unused)))
    return doc


def _exercise(tree: Tree, item: yaml.Node, n: int, doc: Document) -> dict[str, Any] | None:
    where = f"exercises[{n}]"
    fields = tree.mapping(item, where, "an exercise (a mapping with name and duration)")
    if fields is None:
        return None
    path = ("exercises", n)
    doc.lines[path] = line(item)
    exercise: dict[str, Any] = {}
    for key in ("name", "duration"):
        if key not in fields:
            tree.problem(item, where, f'missing "{key}" (w2a needs a name and a duration like "30s")')
    name = tree.text(fields.get("name"), f"{where}.name")
    duration = tree.text(fields.get("duration"), f"{where}.duration")
    if name is None or duration is None:
        return None
    exercise["name"], exercise["duration"] = name, duration
    doc.lines[path + ("name",)] = line(fields["name"])
    doc.lines[path + ("duration",)] = line(fields["duration"])
    if tree.flag(fields.get("half_time"), f"{where}.half_time"):
        exercise["sides"] = "both"
        doc.lines[path + ("sides",)] = line(fields["half_time"])
        doc.notes.append(Note(line(fields["half_time"]), f"{name}: sides: both, from half_time: true",
                              path + ("sides",)))
    texts = tree.items(fields.get("texts"), f"{where}.texts", "texts") if "texts" in fields else None
    if texts:
        said = [tree.text(t, f"{where}.texts[{k}]") for k, t in enumerate(texts)]
        exercise["instructions"] = [s for s in said if s]
        for k, t in enumerate(texts):
            doc.lines[path + ("instructions", k)] = line(t)
    if "pause_duration" in fields:
        doc.notes.append(Note(line(fields["pause_duration"]), f"{name}: pause_duration is not used (voiceguide "
                                                              "starts the next exercise on the chime)"))
    return exercise


def _words(tree: Tree, node: yaml.Node | None) -> dict[str, str]:
    """w2a's words for a length ("2 minutes and 30 seconds"), from the file's i18n or in English."""
    words = {"and": "and", "minute": "minute", "minutes": "minutes", "second": "second", "seconds": "seconds"}
    fields = tree.mapping(node, "i18n", "a mapping of and, minute and second") or {}
    if isinstance(fields.get("and"), yaml.ScalarNode):
        words["and"] = str(fields["and"].value)
    for unit in ("minute", "second"):
        forms = tree.mapping(fields.get(unit), f"i18n.{unit}", "a mapping of singular and plural") or {}
        for form, key in (("singular", unit), ("plural", unit + "s")):
            if isinstance(forms.get(form), yaml.ScalarNode):
                words[key] = str(forms[form].value)
    return words


def _holds_s(exercises: list[dict[str, Any]]) -> int:
    """The exercises' length in whole seconds: what w2a calls the workout's duration without pauses
    (cmd/w2a/root.go), and here, where there are no pauses, its duration too."""
    holds = 0
    for exercise in exercises:
        try:
            holds += parse_duration_ms(exercise["duration"]) // 1000
        except ValueError:
            pass  # the routine reader says what is wrong with it
    return holds


def _length(seconds: int, words: dict[str, str]) -> str:
    """A length as w2a says it (I18n.DurToText): "2 minutes and 30 seconds"."""
    minutes, rest = divmod(seconds, 60)

    def said(n: int, unit: str) -> str:
        return f"{n} {words[unit] if n == 1 else words[unit + 's']}"

    if not minutes:
        return said(rest, "second")
    if not rest:
        return said(minutes, "minute")
    return f"{said(minutes, 'minute')} {words['and']} {said(rest, 'second')}"


def _fill(tree: Tree, node: yaml.Node, key: str, text: str, count: int, holds_s: int,
          words: dict[str, str]) -> str | None:
    """The announcement with its template fields filled in, as w2a says them."""
    length = _length(holds_s, words)
    values = {"WorkoutExercisesCount": str(count), "WorkoutDuration": length, "WorkoutDurationWithoutPauses": length}
    for found in _TEMPLATE.finditer(text):
        if found.group("field").lstrip(".") not in _FILLED:
            tree.problem(node, key, f'the template "{found.group(0)}" is not one voiceguide can fill (it fills '
                                    f"{', '.join('{{ .' + f + ' }}' for f in _FILLED)}); write the words out instead")
            return None
    if "{{" in _TEMPLATE.sub("", text):
        tree.problem(node, key, 'holds "{{" without its "}}"; close the template or write the words out instead')
        return None
    return " ".join(_TEMPLATE.sub(lambda m: values[m.group("field").lstrip(".")], text).split())
