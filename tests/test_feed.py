"""A library is a private podcast: the feed, read back by a feed reader, lists every session with
the right files; chapters JSON and cover art are made with the session and land with it."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from conftest import SEED, fake_measure
from libraries import build, quick_library

from voiceguide import export
from voiceguide.cover import SIZE_PX, CoverText, cover_png
from voiceguide.errors import OutputError
from voiceguide.feed import ITUNES, PODCAST, feed_xml, library_title, write_feed
from voiceguide.library import scan
from voiceguide.plan import build_plan
from voiceguide.routine import load_routine


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("feed")
    folder = quick_library(root / "library", root / "cache")
    (folder / "song.mp3").write_bytes(_untagged_mp3())  # someone else's MP3: not a session
    (folder / "link.mp3").symlink_to(folder / "quick-stretch.mp3")  # a link: not a session either
    write_feed(folder)
    return folder


def _untagged_mp3() -> bytes:
    import numpy as np

    from voiceguide.mp3 import encode_mp3

    out = io.BytesIO()
    encode_mp3([np.zeros(44100, dtype=np.int16)], 44100, out, 96)
    return out.getvalue()


def _file(folder: Path, url: str) -> Path:
    """The library file a feed URL (relative to the feed) names."""
    return folder / unquote(urlsplit(url).path)


def test_the_feed_read_back_lists_every_session_with_its_files(library):
    import feedparser

    parsed = feedparser.parse((library / "feed.xml").read_bytes())
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.feed.title == library_title(library)
    entries = {e.title: e for e in parsed.entries}
    assert sorted(entries) == ["Quick Stretch", "Quick Stretch — pace 1.5"]
    for entry in parsed.entries:
        [enclosure] = entry.enclosures
        mp3 = _file(library, enclosure.href)
        assert mp3.is_file() and not mp3.is_symlink()
        assert int(enclosure.length) == mp3.stat().st_size
        assert enclosure.type == "audio/mpeg"
        assert urlsplit(enclosure.href).query  # the build's version: a rebuilt file is a new URL
    assert entries["Quick Stretch"].description.startswith("A short routine for the tests.")


def test_each_item_has_duration_chapters_cover_and_a_guid_that_is_stable(library):
    root = ET.fromstring((library / "feed.xml").read_bytes())
    items = {i.findtext("title"): i for i in root.iter("item")}
    full = items["Quick Stretch"]
    plan = json.loads((library / "quick-stretch.json").read_text())
    assert full.findtext(f"{{{ITUNES}}}duration") == str(round(plan["duration_ms"] / 1000))
    chapters_tag = full.find(f"{{{PODCAST}}}chapters")
    assert chapters_tag.get("type") == "application/json+chapters"
    chapters = json.loads(_file(library, chapters_tag.get("url")).read_text())
    assert chapters["version"] == "1.2.0"
    assert [(c["title"], c["startTime"]) for c in chapters["chapters"]] == \
        [(c["title"], c["start_ms"] / 1000) for c in plan["chapters"]]
    cover = _file(library, full.find(f"{{{ITUNES}}}image").get("href"))
    assert cover.name == "quick-stretch.cover.png"
    assert root.find(f"channel/{{{ITUNES}}}image").get("href") == "quick-stretch.cover.png"
    # the MP3 alone (--only-mp3): listed, without the sidecars it does not have
    slow = items["Quick Stretch — pace 1.5"]
    assert slow.find(f"{{{PODCAST}}}chapters") is None and slow.find(f"{{{ITUNES}}}image") is None
    guids = [i.findtext("guid") for i in root.iter("item")]
    assert len(set(guids)) == 2
    before = (library / "feed.xml").read_bytes()
    write_feed(library)
    assert (library / "feed.xml").read_bytes() == before  # the same library, the same feed


def test_the_cover_is_a_square_png_embedded_in_the_mp3(library):
    from mutagen.id3 import ID3
    from PIL import Image

    cover = (library / "quick-stretch.cover.png").read_bytes()
    image = Image.open(io.BytesIO(cover))
    assert image.format == "PNG" and image.size == (SIZE_PX, SIZE_PX) and SIZE_PX >= 1400
    [apic] = ID3(library / "quick-stretch.mp3").getall("APIC")
    assert apic.data == cover and apic.mime == "image/png" and apic.type == 3
    # --only-mp3 leaves the cover file out, not the cover
    [slow] = ID3(library / "quick-slow.mp3").getall("APIC")
    assert Image.open(io.BytesIO(slow.data)).size == (SIZE_PX, SIZE_PX)
    assert not (library / "quick-slow.cover.png").exists() and not (library / "quick-slow.chapters.json").exists()


def test_the_cover_bytes_depend_only_on_the_text():
    text = CoverText("Évening Unwind — a very long title that needs more than one line on the cover", 3_723_000,
                     tuple((f"Stretch {n}", 45_000) for n in range(30)), "10:00, no intro")
    first = cover_png(text)
    code = ("import sys; from voiceguide.cover import CoverText, cover_png; "
            f"sys.stdout.buffer.write(cover_png(CoverText(*{(text.title, text.length_ms, text.exercises, text.variant)!r})))")
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, timeout=60).stdout
    assert again == first
    assert cover_png(CoverText("Evening Unwind", 3_723_000, text.exercises)) != first


def test_the_cover_draws_the_letters_of_the_shipped_languages():
    from voiceguide.cover import _drawable

    words = "Rücken Übungen Drehung – „sanft“ cuádriceps Flexión façon Łódź…"
    assert _drawable(words) == words
    assert _drawable("Ж Ș") == "? S"  # not in the font: its letter without the accent, else "?"
    accented = cover_png(CoverText("Linderung für den unteren Rücken", 520_000, (("Hürdensitz", 60_000),),
                                   count="eine Übung"))
    plain = cover_png(CoverText("Linderung fur den unteren Rucken", 520_000, (("Hurdensitz", 60_000),),
                                count="eine Ubung"))
    assert accented != plain


def test_served_urls_are_absolute_under_the_base(library):
    base = "http://192.0.2.7:8765/abcdefghijklmnopqrstuv/"
    root = ET.fromstring(feed_xml(scan(library), "t", base))
    urls = [e.get("url") for e in root.iter("enclosure")] + [e.get("url") for e in root.iter(f"{{{PODCAST}}}chapters")]
    assert urls and all(u.startswith(base) for u in urls)
    relative = ET.fromstring((library / "feed.xml").read_bytes())
    assert sorted(urljoin(base, e.get("url")) for e in relative.iter("enclosure")) == \
        sorted(e.get("url") for e in root.iter("enclosure"))


def test_only_this_folders_sessions_are_listed(library):
    names = [s.mp3.name for s in scan(library)]
    assert sorted(names) == ["quick-slow.mp3", "quick-stretch.mp3"]  # not song.mp3, not the link


def test_a_sidecar_older_than_its_mp3_is_not_the_sessions(tmp_path, library):
    folder = tmp_path / "lib"
    folder.mkdir()
    for name in ("quick-stretch.mp3", "quick-stretch.chapters.json", "quick-stretch.cover.png"):
        (folder / name).write_bytes((library / name).read_bytes())
    os.utime(folder / "quick-stretch.cover.png", ns=(1, 1))  # as an --only-mp3 rebuild leaves the old one
    [session] = scan(folder)
    assert session.chapters is not None and session.cover is None


def test_new_sidecars_land_with_the_session_or_not_at_all(tmp_path):
    plan = build_plan(load_routine(SEED), fake_measure)
    out = tmp_path / "s.mp3"
    export.write_session(out, lambda f: f.write(b"\xff\xfb" + bytes(1000)), plan, "about", cover=b"png")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(before) == ["s.chapters.json", "s.cover.png", "s.json", "s.mp3", "s.vtt"]
    (tmp_path / "s.cover.png").unlink()
    (tmp_path / "s.cover.png").mkdir()  # the cover cannot be replaced: nothing is
    with pytest.raises(OutputError, match="is a folder"):
        export.write_session(out, lambda f: f.write(b"\xff\xfb" + bytes(2000)), plan, "new", cover=b"png2")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == \
        {k: v for k, v in before.items() if k != "s.cover.png"}


def test_a_session_name_ending_in_chapters_is_refused(tmp_path):
    with pytest.raises(OutputError, match=r'may not end in "\.chapters"'):
        export.check_writable(tmp_path / "x.chapters.mp3")


def test_a_feed_that_cannot_be_written_is_a_warning_not_a_failed_build(tmp_path, library):
    folder = tmp_path / "lib"
    (folder / "feed.xml").mkdir(parents=True)
    cache = library.parent / "cache"
    result = build(library.parent / "quick.yaml", folder / "quick-stretch.mp3", cache)
    assert "warning:" in result.stderr and "feed.xml: not updated" in result.stderr
    assert (folder / "quick-stretch.mp3").is_file() and (folder / "quick-stretch.cover.png").is_file()


def test_the_feed_says_the_language_its_sessions_speak(tmp_path):
    """The MP3's ID3 language (TLAN, ISO 639-2) read back: the feed's <language> is the newest session's tag."""
    from voiceguide.plan import Plan

    mp3 = tmp_path / "s.mp3"
    mp3.write_bytes(_untagged_mp3())
    plan = Plan(title="Dehnen", duration_ms=1000, events=(), chapters=(), dropped=(), language="de")
    with open(mp3, "r+b") as out:
        export.tag_mp3(out, plan, "")
    [session] = scan(tmp_path)
    assert session.language == "de"
    channel = ET.fromstring(feed_xml([session], "t")).find("channel")
    assert channel is not None and channel.findtext("language") == "de"
