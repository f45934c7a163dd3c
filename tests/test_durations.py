"""Durations as people write them, and as the voice says them."""
import pytest

from voiceguide.durations import format_clock, parse_duration_ms, spoken_length


@pytest.mark.parametrize("value, ms", [
    (30, 30_000), ("30", 30_000), ("0:30", 30_000), ("30s", 30_000), ("1m", 60_000),
    ("1m30s", 90_000), ("1:30", 90_000), (90, 90_000), ("1:00:00", 3_600_000), ("2.5s", 2_500),
    ("45 sec", 45_000), ("1 min", 60_000),
    # as people write them
    ("1 minute 30", 90_000), ("1 min 30", 90_000), ("90 seconds", 90_000), ("45 secs", 45_000),
    ("8 minutes", 480_000), ("1 minute", 60_000), ("1m30", 90_000), ("1 minute and 30 seconds", 90_000),
    ("1 min, 30 s", 90_000), ("2 hours", 7_200_000), ("1 hour 30", 5_400_000), ("1h 2m 30s", 3_750_000),
    ("1 Minute 30", 90_000),
])
def test_accepted_forms(value, ms):
    assert parse_duration_ms(value) == ms


@pytest.mark.parametrize("value", ["fast", "", "1:75", "0:00", -3, 0, True, None, "::", "1 min 75", "30 s 5",
                                   "500ms", "1 minute and", "and 30", "1 2", "m30"])
def test_rejected_forms_say_what_is_expected(value):
    with pytest.raises(ValueError) as info:
        parse_duration_ms(value)
    assert "duration" in str(info.value) or "below 60" in str(info.value)


@pytest.mark.parametrize("ms, said", [
    (60_000, "One minute"), (30_000, "Thirty seconds"), (45_000, "Forty-five seconds"),
    (90_000, "One minute, thirty seconds"), (360_000, "Six minutes"), (3_600_000, "One hour"),
])
def test_spoken_length(ms, said):
    assert spoken_length(ms) == said


def test_clock():
    assert format_clock(330_000) == "5:30"
    assert format_clock(3_725_000) == "1:02:05"


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 0.0001, "0.5s"])
def test_no_infinite_or_sub_second_holds(value):
    with pytest.raises(ValueError):
        parse_duration_ms(value)


def test_slug_keeps_accented_letters_readable():
    from voiceguide.names import slug

    assert slug("Étirement du matin") == "etirement-du-matin"
    assert slug("../../etc/evil") == "etc-evil"
    assert slug("🧘") == "session"
    assert slug("CON") == "con-session" and slug("..") == "session"
    assert len(slug("stretch " * 40)) <= 80


@pytest.mark.parametrize("value", ["9" * 400, int("9" * 400), "1.0e+9", 1.0e9, "999:59:59", "24:00:01", 86_401])
def test_no_duration_over_a_day_and_no_overflow(value):
    with pytest.raises(ValueError, match=r"at most 24 hours \(24:00:00\)"):
        parse_duration_ms(value)


def test_a_day_is_the_longest_duration():
    assert parse_duration_ms("24:00:00") == parse_duration_ms(86_400) == 86_400_000


def test_a_date_is_called_a_date():
    import datetime

    for value in ("2024-01-01", datetime.date(2024, 1, 1)):
        with pytest.raises(ValueError, match=r"got a date \(2024-01-01\); write a length instead"):
            parse_duration_ms(value)


def test_values_in_messages_are_shown_as_written():
    from voiceguide.durations import as_written

    assert as_written("fast") == '"fast"' and as_written("-5") == "-5" and as_written(20) == "20"
    assert as_written(None) == "nothing" and as_written(True) == "true"
    assert as_written("9" * 400) == "9" * 40 + "... (400 digits)"
    assert as_written("a\x1b[31mb") == '"a\\x1b[31mb"'  # no terminal escape reaches the terminal
    assert as_written("a\ud800") == '"a\\ud800"'


def test_duration_grammar_is_the_schemas():
    from voiceguide.durations import DURATION_PATTERN
    from voiceguide.schema import schema

    routine = schema()
    assert routine["properties"]["duration"]["anyOf"][1]["pattern"] == DURATION_PATTERN
    assert routine["properties"]["options"]["properties"]["duration"]["anyOf"][1]["pattern"] == DURATION_PATTERN
