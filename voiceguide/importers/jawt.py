"""Read a Just Another Workout Timer export (the Android app, github.com/blockbasti/just_another_workout_timer).

The format, from the app's sources: lib/utils/workout.dart (a Workout has a `title` and `sets`, and
`version` and `position` the app keeps for itself; a Set has `repetitions`, `exercises`, an optional
`name` and an `id`; an Exercise has a `name`, a `duration` in whole seconds and an `id`; a backup is
`{"workouts": [...]}`) and lib/utils/storage_helper.dart (exporting a workout or all of them writes a
backup; sharing one writes the workout itself). A set's exercises are done in order, `repetitions`
times over, so here they are written out that many times. Each workout is one routine.

The app writes a file's text as UTF-16 code units cut to bytes (`jsonEncode(...).codeUnits`), so an
accented letter arrives as one Latin-1 byte, not UTF-8: such a file is read as Latin-1, and said so.
"""
from __future__ import annotations

import json
from typing import Any

import yaml

from ..routine import MAX_EXERCISES
from ..routine_file import compose_yaml
from .document import Document, Format, Note, Problems
from .tree import Tree, line

"""Exercises a workout may unroll to (repetitions x a set's exercises, over its sets)."""
MAX_SECONDS = 24 * 3600


def looks_like_jawt(data: object) -> bool:
    """A JSON value that is a Just Another Workout Timer backup or workout."""
    return isinstance(data, dict) and (isinstance(data.get("workouts"), list)
                                       or ("sets" in data and "title" in data))


def parse_jawt(text: str, source: str) -> list[Document]:
    problems = Problems(source)
    try:
        json.loads(text)
    except RecursionError:
        pass  # lists or objects nested thousands deep: reading it as YAML below refuses it at its place
    except ValueError as exc:
        where = (exc.lineno, exc.colno) if isinstance(exc, json.JSONDecodeError) else (1, 1)
        said = getattr(exc, "msg", str(exc))
        if "int_max_str_digits" in said:  # Python's own advice is for programmers
            said = "a number with thousands of digits"
        problems.add(where[0], f"not valid JSON at column {where[1]}: {said}; an export of Just "
                               "Another Workout Timer is JSON as the app wrote it")
        problems.raise_any()
    tree = Tree(problems)
    root = compose_yaml(text, source)  # JSON is YAML: the same tree, with the line of every value
    fields = tree.mapping(root, "", 'a Just Another Workout Timer export ({"workouts": [...]})') or {}
    if "workouts" in fields:
        workouts = tree.items(fields["workouts"], "workouts", "workouts") or []
        labels = [f"workouts[{n}]" for n in range(len(workouts))]
    elif root is not None:
        workouts, labels = [root], ["workout"]
    else:
        workouts, labels = [], []
    docs = [doc for node, label in zip(workouts, labels) if (doc := _workout(tree, node, label))]
    if root is None or not workouts:
        problems.add(1, 'the export holds no workout; expected {"workouts": [{"title": ..., "sets": [...]}]}')
    problems.raise_any()
    return docs


def _workout(tree: Tree, node: yaml.Node, where: str) -> Document | None:
    fields = tree.mapping(node, where, "a workout (a mapping with title and sets)")
    if fields is None:
        return None
    for key in ("title", "sets"):
        if key not in fields:
            tree.problem(node, where, f'missing "{key}" (a workout has a title and sets)')
    title = tree.text(fields.get("title"), f"{where}.title")
    sets = tree.items(fields.get("sets"), f"{where}.sets", "sets") if "sets" in fields else None
    if title is None or sets is None:
        return None
    data: dict[str, Any] = {"title": title}
    doc = Document(data, Format.JAWT, {(): line(node), ("title",): line(fields["title"])})
    exercises: list[dict[str, Any]] = []
    for k, set_node in enumerate(sets):
        _set(tree, set_node, f"{where}.sets[{k}]", title, exercises, doc)
    if not exercises and not tree.problems.found:
        tree.problem(node, where, f'"{title}" has no exercises; add some in the app and export it again')
        return None
    data["exercises"] = exercises
    return doc


def _set(tree: Tree, node: yaml.Node, where: str, title: str, exercises: list[dict[str, Any]],
         doc: Document) -> None:
    fields = tree.mapping(node, where, "a set (a mapping with repetitions and exercises)")
    if fields is None:
        return
    for key in ("repetitions", "exercises"):
        if key not in fields:
            tree.problem(node, where, f'missing "{key}" (a set has repetitions and exercises)')
    repetitions = tree.whole(fields.get("repetitions"), f"{where}.repetitions", "repetitions", 1, MAX_EXERCISES)
    items = tree.items(fields.get("exercises"), f"{where}.exercises", "exercises") if "exercises" in fields else None
    done = []
    for k, item in enumerate(items or []):
        exercise = _exercise(tree, item, f"{where}.exercises[{k}]")
        if exercise:
            done.append((line(item), exercise))
    if repetitions is None or not done or len(done) != len(items or []):
        return
    if len(exercises) + repetitions * len(done) > MAX_EXERCISES:
        tree.problem(fields["repetitions"], f"{where}.repetitions",
                     f"{repetitions} x {len(done)} exercises would make the workout longer than "
                     f"{MAX_EXERCISES} exercises; lower the repetitions")
        return
    for _ in range(repetitions):
        for at, exercise in done:
            path = ("exercises", len(exercises))
            doc.lines[path] = at
            exercises.append(dict(exercise))
    if repetitions > 1:
        name = fields.get("name")  # the app writes "name": null for a set it did not name
        named = name.value.strip() if isinstance(name, yaml.ScalarNode) and name.tag.endswith(":str") else None
        what = f'set "{named}"' if named else f"set {where.rsplit('[', 1)[1].rstrip(']')} of \"{title}\""
        doc.notes.append(Note(line(fields["repetitions"]), f"{what}: its {len(done)} exercise"
                                                           f"{'s' * (len(done) != 1)} written out {repetitions} times "
                                                           "(repetitions)"))


def _exercise(tree: Tree, node: yaml.Node, where: str) -> dict[str, Any] | None:
    fields = tree.mapping(node, where, "an exercise (a mapping with name and duration)")
    if fields is None:
        return None
    for key in ("name", "duration"):
        if key not in fields:
            tree.problem(node, where, f'missing "{key}" (an exercise has a name and a duration in seconds)')
    name = tree.text(fields.get("name"), f"{where}.name")
    seconds = tree.whole(fields.get("duration"), f"{where}.duration", "a duration in whole seconds", 1, MAX_SECONDS)
    if name is None or seconds is None:
        return None
    return {"name": name, "duration": seconds}
