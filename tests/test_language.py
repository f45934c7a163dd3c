"""Sessions in the listener's language: phrase tables, number words, tags, the voice, captions and tags."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DATA, ROOT, SEED, fake_measure

from voiceguide.build import build_options
from voiceguide.errors import EngineError, PlanError, RoutineError
from voiceguide.export import webvtt
from voiceguide.language import (
    calibration_text,
    iso639_2,
    parse_language,
    phrasebook_for,
    read_table,
    shipped_tables,
)
from voiceguide.options import Settings
from voiceguide.phrasebook import COUNTS, ENGLISH, PHRASES, PLACEHOLDER
from voiceguide.plan import Kind, Role, build_plan, utterances
from voiceguide.routine import load_routine, parse_routine, sentences

GERMAN = DATA / "lower-back-relief.de.yaml"
SPANISH = DATA / "lower-back-relief.es.yaml"
SHIPPED = ("de", "en", "es", "fr", "it", "nl", "pt")
BUILDER_ROLES = {Role.OVERVIEW, Role.BEGIN, Role.LENGTH, Role.SWITCH, Role.COUNTDOWN, Role.REP, Role.RELAX,
                 Role.NEXT, Role.COMPLETE}
"""The lines the builder says in its own words (the title and names only get a full stop)."""
SAME_WORD = {"de": {"minute"}}
"""Words English spells the same: "eine Minute"."""


def _run(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "voiceguide", *args], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, **(env or {})}, timeout=300, check=False)


# --- the tables ---------------------------------------------------------------------------------------------

def test_every_shipped_table_has_every_phrase_with_englishs_placeholders():
    tables = shipped_tables()
    assert sorted(tables) == list(SHIPPED)
    english = dict(ENGLISH.texts)
    for tag, table in tables.items():
        texts = dict(table.texts)
        assert set(texts) == set(PHRASES) == set(english), tag
        for key, template in texts.items():
            assert sorted(PLACEHOLDER.findall(template)) == sorted(PLACEHOLDER.findall(english[key])), (tag, key)
        plurals = dict(table.plurals)
        assert set(plurals) == set(COUNTS), tag
        for key, plural in plurals.items():
            assert "{n}" in plural.other and plural.one, (tag, key)
        assert len(table.calibration) >= 6, tag


def test_the_english_table_is_the_builders_own_english():
    table = shipped_tables()["en"]
    assert table.texts == ENGLISH.texts and table.plurals == ENGLISH.plurals


def test_a_table_that_loses_a_placeholder_or_a_phrase_is_refused():
    text = (ROOT / "voiceguide" / "languages" / "de.yaml").read_text(encoding="utf-8")
    with pytest.raises(Exception, match=r"phrases.next: it must say \{name\}"):
        read_table(text.replace('"Als Nächstes: {name}."', '"Als Nächstes."'), "de.yaml")
    with pytest.raises(Exception, match="phrases.switch is missing"):
        read_table(text.replace('  switch: "Seite wechseln."\n', ""), "de.yaml")
    with pytest.raises(Exception, match=r"\{nmae\} is not a placeholder"):
        read_table(text.replace("{name}.\"", "{nmae}.\"", 1), "de.yaml")


@pytest.mark.parametrize(("tag", "ms", "said"), [
    ("de", 60_000, "eine Minute"), ("de", 30_000, "dreißig Sekunden"),
    ("de", 90_000, "eine Minute und dreißig Sekunden"), ("de", 21_000, "einundzwanzig Sekunden"),
    ("fr", 30_000, "trente secondes"), ("fr", 41_000, "quarante et une secondes"),
    ("fr", 3_660_000, "une heure et une minute"),
    ("es", 60_000, "un minuto"), ("es", 21 * 60_000, "veintiún minutos"), ("es", 31_000, "treinta y un segundos"),
    ("it", 45_000, "quarantacinque secondi"), ("pt", 7_200_000, "duas horas"), ("pt", 22 * 3_600_000, "vinte e duas horas"),
    ("nl", 7_200_000, "twee uur"), ("nl", 60_000, "één minuut"), ("en", 90_000, "one minute, thirty seconds"),
])
def test_lengths_are_said_with_the_languages_grammar(tag, ms, said):
    assert phrasebook_for(tag).length(ms) == said


@pytest.mark.parametrize(("tag", "key", "n", "said"), [
    ("es", "reps", 31, "treinta y una repeticiones"), ("es", "exercises", 21, "veintiún ejercicios"),
    ("fr", "exercises", 21, "vingt et un exercices"), ("fr", "reps", 81, "quatre-vingt-une répétitions"),
    ("pt", "reps", 22, "vinte e duas repetições"), ("pt", "exercises", 22, "vinte e dois exercícios"),
    ("de", "exercises", 7, "sieben Übungen"), ("de", "reps", 1, "eine Wiederholung"),
])
def test_counts_agree_with_their_noun(tag, key, n, said):
    assert phrasebook_for(tag).count(key, n) == said


# --- tags ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("written", "tag"), [("de", "de"), ("DE", "de"), ("pt-br", "pt-BR"), ("es-419", "es-419"),
                                              ("sr-latn-rs", "sr-Latn-RS"), ("fi", "fi")])
def test_tags_are_read_in_their_usual_case(written, tag):
    assert parse_language(written) == tag


@pytest.mark.parametrize(("written", "meant"), [("de_DE", "de-DE"), ("pt_BR", "pt-BR"), ("German", "de"),
                                                ("deutsch", "de"), ("Español", "es"), ("ger", "de"), ("deu", "de"),
                                                ("ge", "de"), ("en-UK", "en-GB"), ("english", "en")])
def test_malformed_or_unknown_tags_get_a_did_you_mean(written, meant):
    with pytest.raises(ValueError, match=f'did you mean "{re.escape(meant)}"'):
        parse_language(written)


def test_a_bad_language_in_a_routine_is_named_at_its_line(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("title: T\nlanguage: de_DE\nexercises:\n  - name: A\n    duration: 30\n", encoding="utf-8")
    result = _run("check", str(path))
    assert result.returncode == 2
    assert f'{path}:2:11: language: "de_DE" is not a language tag' in result.stderr
    assert 'did you mean "de-DE"?' in result.stderr
    path.write_text("title: T\nlanguage: xq\nexercises:\n  - name: A\n    duration: 30\n", encoding="utf-8")
    result = _run("check", str(path))
    assert result.returncode == 2 and f"{path}:2:11: language:" in result.stderr and "did you mean" in result.stderr


def test_a_bad_language_flag_exits_2_with_a_did_you_mean():
    result = _run("plan", "lower-back-relief", "--language", "Deutsch")
    assert result.returncode == 2
    assert "Invalid value for '--language'" in result.stderr and 'did you mean "de"?' in result.stderr


def test_the_language_is_refused_twice(tmp_path):
    text = "title: T\nlanguage: de\noptions:\n  language: es\nexercises:\n  - name: A\n    duration: 30\n"
    with pytest.raises(RoutineError, match=r"r.yaml:4:13: options.language: the language is given twice"):
        parse_routine(text, "r.yaml")


# --- the plan speaks the routine's language -----------------------------------------------------------------

def _template_patterns(tag: str) -> list[re.Pattern[str]]:
    """Every builder phrase of the language's table as a pattern: its words exactly, placeholders anything."""
    out = []
    for _, template in phrasebook_for(tag).texts:
        parts = re.split(r"\{[a-z_]+\}", template)
        out.append(re.compile(".+".join(re.escape(p) for p in parts), re.IGNORECASE))
    return out


def _english_words() -> set[str]:
    """Every word the builder says in English: its phrases, counts and numbers up to a hundred."""
    from num2words import num2words

    words = set()
    for _, template in ENGLISH.texts:
        words |= set(re.findall(r"[a-z']+", PLACEHOLDER.sub(" ", template).lower()))
    for _, plural in ENGLISH.plurals:
        words |= set(re.findall(r"[a-z']+", (plural.one + " " + plural.other.replace("{n}", "")).lower()))
    for n in range(101):
        words |= set(re.findall(r"[a-z]+", num2words(n)))
    return words


@pytest.mark.parametrize(("path", "tag"), [(GERMAN, "de"), (SPANISH, "es")])
def test_the_translated_seed_is_planned_in_its_language_with_exact_holds(path, tag):
    routine = load_routine(path)
    english = load_routine(SEED)
    assert routine.language == tag
    assert [e.duration_ms for e in routine.exercises] == [e.duration_ms for e in english.exercises]
    options = build_options(Settings(), routine.language)
    plan = build_plan(routine, fake_measure, options.plan)
    assert plan.language == tag and plan.to_dict()["lang"] == tag
    for chapter, exercise in zip(plan.chapters[1:-1], routine.exercises, strict=True):
        assert chapter.end_ms - chapter.hold_start_ms == exercise.duration_ms  # the hold stays exact
    table = dict(phrasebook_for(tag).texts)
    assert [plan.chapters[0].title, plan.chapters[-1].title] == [table["intro_chapter"], table["outro_chapter"]]
    # every line is the routine's own text, or one of the language's phrases
    routine_texts = {routine.title + ".", *sentences(routine.targets), *sentences(routine.closing.text)}
    for e in routine.exercises:
        routine_texts |= {e.name + ".", e.summary, *e.instructions, *e.tips, *e.adjustments}
    patterns = _template_patterns(tag)
    english_words = _english_words()
    builder = [e for e in plan.speech if e.role in BUILDER_ROLES]
    assert {e.role for e in builder} >= {Role.OVERVIEW, Role.BEGIN, Role.LENGTH, Role.SWITCH, Role.COUNTDOWN,
                                         Role.NEXT, Role.COMPLETE}
    for event in plan.speech:
        if event.role in BUILDER_ROLES:
            assert any(p.fullmatch(event.text) for p in patterns), event.text
            said = set(re.findall(r"[^\W\d_]+", event.text.lower())) - {w.lower() for e in routine.exercises
                                                                          for w in re.findall(r"\w+", e.name)}
            assert not said & english_words - SAME_WORD.get(tag, set()), (event.text, said & english_words)
        else:
            assert event.text in routine_texts, event.text
    assert all(e.text != t for e in plan.speech for _, t in ENGLISH.texts if "{" not in t)


def test_a_routine_overrides_any_phrase_even_in_english(seed):
    text = SEED.read_text(encoding="utf-8") + 'phrases:\n  switch: "Change legs."\n  next: "Then: {name}."\n'
    routine = parse_routine(text, "seed.yaml")
    plan = build_plan(routine, fake_measure)
    said = [e.text for e in plan.speech]
    assert "Change legs." in said and "Switch sides." not in said
    assert "Then: Kneeling Psoas." in said


def test_a_phrase_with_a_wrong_placeholder_or_name_is_refused_at_its_line():
    text = ("title: T\nphrases:\n  next: \"Then {nmae}.\"\n  swich: Change.\n"
            "exercises:\n  - name: A\n    duration: 30\n")
    with pytest.raises(RoutineError) as caught:
        parse_routine(text, "r.yaml")
    message = str(caught.value)
    assert "r.yaml:3:9: phrases.next: {nmae} is not a placeholder of this phrase (it has {name})" in message
    assert "r.yaml:3:9: phrases.next: it must say {name}" in message
    assert 'r.yaml:4:3: phrases.swich: unknown field; did you mean "switch"?' in message


FINNISH = """title: Aamuvenyttely
language: fi
exercises:
  - name: Etutaivutus
    duration: 30
  - name: Lonkan avaus
    duration: "1:00"
    sides: both
"""
FINNISH_PHRASES = """phrases:
  begin: Aloitetaan.
  switch: Vaihda puolta.
  next: "Seuraavaksi: {name}."
  complete: Valmista.
  intro_chapter: Alku
  outro_chapter: Loppu
  minutes: {one: yksi minuutti, other: "{n} minuuttia"}
  seconds: {one: yksi sekunti, other: "{n} sekuntia"}
  exercises: {one: yksi liike, other: "{n} liikettä"}
"""


def test_a_language_without_a_table_needs_its_phrases_and_names_the_missing_ones():
    routine = parse_routine(FINNISH, "fi.yaml")
    options = build_options(Settings(), routine.language).plan
    with pytest.raises(PlanError) as caught:
        utterances(routine, options)
    message = str(caught.value)
    assert message.startswith("fi.yaml:2: language: the session is in fi, and 9 phrases it needs are in neither "
                              "its phrase table nor the routine's `phrases:`: begin, switch, next, complete, "
                              "intro_chapter, outro_chapter, minutes, seconds, exercises; ")
    assert "copy voiceguide/languages/en.yaml to fi.yaml, translate it and build" in message
    with pytest.raises(PlanError, match="begin, switch"):
        build_plan(routine, fake_measure, options)
    partial = parse_routine(FINNISH + "phrases:\n  begin: Aloitetaan.\n  switch: Vaihda puolta.\n", "fi.yaml")
    with pytest.raises(PlanError, match=r"7 phrases it needs .*`phrases:`: next, complete, intro_chapter"):
        utterances(partial, options)


def test_a_language_without_a_table_builds_when_its_phrases_say_everything():
    routine = parse_routine(FINNISH + FINNISH_PHRASES, "fi.yaml")
    plan = build_plan(routine, fake_measure, build_options(Settings(), routine.language).plan)
    said = [e.text for e in plan.speech]
    assert "Vaihda puolta." in said and "Seuraavaksi: Lonkan avaus." in said and "Kolme." in said
    assert "Yksi minuutti." in said and "Kolmekymmentä sekuntia." in said
    assert [c.title for c in plan.chapters] == ["Alku", "Etutaivutus", "Lonkan avaus", "Loppu"]


def test_a_language_without_a_table_exits_2_before_speaking(tmp_path):
    path = tmp_path / "fi.yaml"
    path.write_text(FINNISH, encoding="utf-8")
    result = _run("build", str(path), "-o", str(tmp_path / "fi.mp3"), env={"VOICEGUIDE_CACHE_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert "begin, switch, next, complete, intro_chapter, outro_chapter, minutes, seconds, exercises" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "fi.mp3").exists()


def test_the_english_lexicon_does_not_touch_a_german_routine():
    text = "title: Pilates\nlanguage: de\nexercises:\n  - name: Pilates Rolle\n    duration: 30\n"
    routine = parse_routine(text, "r.yaml")
    german = [u.text for u in utterances(routine, build_options(Settings(), "de").plan)]
    english = [u.text for u in utterances(routine, build_options(Settings(language="en"), "de").plan)]
    assert "Pilates Rolle." in german and not any("pilahteez" in t for t in german)
    assert "pilahteez Rolle." in english


def test_sentences_split_in_other_alphabets():
    assert sentences("Steh auf. Über dem Kopf. ¿Listo? ¡Vamos! Él sigue. É bom… Sim.") == [
        "Steh auf.", "Über dem Kopf.", "¿Listo?", "¡Vamos!", "Él sigue.", "É bom…", "Sim."]


def test_calibration_speaks_the_language():
    assert calibration_text("de") == shipped_tables()["de"].calibration
    assert calibration_text("pt-BR") == shipped_tables()["pt"].calibration
    assert calibration_text("fi") == shipped_tables()["en"].calibration  # each line is measured as spoken too


# --- voices -------------------------------------------------------------------------------------------------

def test_the_voice_follows_the_language():
    from voiceguide.voice import get_engine, resolve_voice

    engine = get_engine("pyttsx3")
    assert resolve_voice(engine, None, "en") == engine.default_voice()
    assert resolve_voice(engine, None, "de") == "gmw/de"
    assert resolve_voice(engine, None, "es") == "roa/es"
    assert resolve_voice(engine, None, "fr") == "roa/fr"
    assert resolve_voice(engine, None, "pt-BR") == "roa/pt-br"
    assert resolve_voice(engine, None, "en-GB") == "gmw/en"
    with pytest.raises(EngineError, match=r'the voice "en-gb" speaks English \(en-gb\), but the session is in '
                                          r"German \(de\); leave out --voice for gmw/de"):
        resolve_voice(engine, "en-gb", "de")


def test_a_language_no_installed_voice_speaks_says_where_voices_come_from():
    pytest.importorskip("piper")
    from voiceguide.voice import get_engine, resolve_voice

    with pytest.raises(EngineError) as caught:
        resolve_voice(get_engine("piper"), None, "de")
    message = str(caught.value)
    assert message.startswith("no piper voice on this machine speaks German (de); --engine pyttsx3 speaks it with "
                              "gmw/de")
    assert "python -m piper.download_voices" in message


def test_voices_filters_by_language_and_languages_lists_the_tables():
    result = _run("voices", "--language", "de")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines and all(line.split()[-2] == "de" or " de " in line for line in lines)
    assert lines[0].startswith("* pyttsx3  gmw/de")
    everything = _run("voices").stdout.splitlines()
    assert len(everything) > 10 * len(lines) and "pyttsx3" in everything[0]
    listed = _run("languages")
    assert listed.returncode == 0
    assert [line.split()[0] for line in listed.stdout.splitlines()] == list(SHIPPED)
    assert "German (Deutsch)" in listed.stdout and "gmw/de" in listed.stdout
    assert "Example:" in _run("languages", "--help").stdout


# --- what is written ----------------------------------------------------------------------------------------

def test_captions_and_plan_say_the_language(seed):
    plan = build_plan(load_routine(GERMAN), fake_measure, build_options(Settings(), "de").plan)
    assert webvtt(plan).startswith("WEBVTT\nLanguage: de\n\n1\n")
    assert iso639_2("de") == "deu" and iso639_2("en-GB") == "eng" and iso639_2("pt-BR") == "por"


@pytest.mark.parametrize(("path", "tag", "voice", "three"), [(GERMAN, "de", "gmw/de", "deu"),
                                                             (SPANISH, "es", "roa/es", "spa")])
def test_the_translated_seed_builds_with_the_languages_voice(tmp_path, path, tag, voice, three):
    from mutagen.id3 import ID3

    mp3 = tmp_path / "out.mp3"
    result = _run("build", str(path), "-o", str(mp3), "-q", env={"VOICEGUIDE_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    data = json.loads(mp3.with_suffix(".json").read_text(encoding="utf-8"))
    assert data["lang"] == tag and data["made_with"]["voice"] == voice and data["made_with"]["language"] == tag
    routine = load_routine(path)
    chapters = data["chapters"][1:-1]
    assert [c["end_ms"] - c["start_ms"] - c["setup_ms"] for c in chapters] == [e.duration_ms for e in routine.exercises]
    assert mp3.with_suffix(".vtt").read_text(encoding="utf-8").startswith(f"WEBVTT\nLanguage: {tag}\n\n")
    tags = ID3(mp3)
    assert tags["TLAN"].text == [three]
    assert tags.getall("COMM")[0].lang == three
    patterns = _template_patterns(tag)
    for event in data["events"]:
        if event["kind"] == Kind.SPEECH.value and Role(event["role"]) in BUILDER_ROLES:
            assert any(p.fullmatch(event["text"]) for p in patterns), event["text"]
