"""A library as a private podcast: an RSS 2.0 feed with the iTunes and Podcasting 2.0 tags, one item per
session, and the list of sessions the phone page reads."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import quote

from .export import CHAPTERS_MIME, COVER_MIME
from .library import Session, scan

FEED_NAME = "feed.xml"
SESSIONS_NAME = "sessions.json"
ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST = "https://podcastindex.org/namespace/1.0"
"""The Podcasting 2.0 namespace (podcast:chapters, podcast:locked)."""

ET.register_namespace("itunes", ITUNES)
ET.register_namespace("podcast", PODCAST)


def library_title(folder: Path) -> str:
    """The podcast's name: the library folder's, unless that is the default `output`."""
    name = folder.resolve().name
    return "voiceguide sessions" if name in ("", "output") else f"{name} (voiceguide sessions)"


def file_url(base_url: str, path: Path, version: str = "") -> str:
    """A session file's URL under `base_url` (relative when that is ""); `version` (part of the
    file's hash) makes a rebuilt file a new URL, so no app or cache keeps the old one."""
    return f"{base_url}{quote(path.name)}" + (f"?v={version}" if version else "")


def feed_xml(sessions: Sequence[Session], title: str, base_url: str = "") -> bytes:
    """The feed. URLs are absolute under `base_url` (what `serve` hands out: podcast apps need them)
    or, with "", relative to the feed (the copy kept in the library)."""
    rss = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(rss, "channel")
    _text(channel, "title", title)
    _text(channel, "link", base_url or "./")
    _text(channel, "description", "Voice-guided exercise sessions made with voiceguide: a private feed, "
                                  "served from your own computer.")
    _text(channel, "generator", "voiceguide")
    spoken = next((s.language for s in sessions if s.language), "")  # the newest session's
    if spoken:
        _text(channel, "language", spoken)
    if sessions:
        _text(channel, "lastBuildDate", _date(max(s.modified_ns for s in sessions)))
    _text(channel, f"{{{ITUNES}}}author", "voiceguide")
    _text(channel, f"{{{ITUNES}}}explicit", "false")
    _text(channel, f"{{{ITUNES}}}block", "Yes")  # a private feed: directories are asked not to list it
    _text(channel, f"{{{PODCAST}}}locked", "yes")  # and hosting platforms not to import it
    covered = [s for s in sessions if s.cover is not None]
    if covered and covered[0].cover is not None:
        ET.SubElement(channel, f"{{{ITUNES}}}image", {"href": file_url(base_url, covered[0].cover)})
    for session in sessions:
        _item(channel, session, base_url)
    ET.indent(rss)
    return ET.tostring(rss, encoding="utf-8", xml_declaration=True) + b"\n"


def _item(channel: ET.Element, session: Session, base_url: str) -> None:
    item = ET.SubElement(channel, "item")
    _text(item, "title", session.title)
    _text(item, "description", session.description or session.title)
    _text(item, "guid", f"voiceguide:{session.stem}:{session.sha256[:16]}").set("isPermaLink", "false")
    _text(item, "pubDate", _date(session.modified_ns))
    ET.SubElement(item, "enclosure", {"url": file_url(base_url, session.mp3, session.sha256[:12]),
                                      "length": str(session.size), "type": "audio/mpeg"})
    _text(item, f"{{{ITUNES}}}duration", str(round(session.duration_ms / 1000)))
    _text(item, f"{{{ITUNES}}}episodeType", "full")
    if session.cover is not None:
        ET.SubElement(item, f"{{{ITUNES}}}image", {"href": file_url(base_url, session.cover)})
    if session.chapters is not None:
        ET.SubElement(item, f"{{{PODCAST}}}chapters", {"url": file_url(base_url, session.chapters),
                                                       "type": CHAPTERS_MIME})


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = text
    return element


def _date(modified_ns: int) -> str:
    return format_datetime(datetime.fromtimestamp(modified_ns // 1_000_000_000, UTC), usegmt=True)


def sessions_json(sessions: Sequence[Session], title: str) -> bytes:
    """The sessions for the phone page, by URLs relative to it."""
    listed = [{
        "id": s.stem,
        "title": s.title,
        "description": s.description,
        "duration_ms": s.duration_ms,
        "audio": file_url("", s.mp3, s.sha256[:12]),
        "size": s.size,
        "cover": file_url("", s.cover) if s.cover else None,
        "cover_type": COVER_MIME,
        "plan": file_url("", s.plan) if s.plan else None,
        "chapters": file_url("", s.chapters) if s.chapters else None,
    } for s in sessions]
    return json.dumps({"title": title, "feed": FEED_NAME, "sessions": listed}, ensure_ascii=False).encode()


def write_feed(folder: Path) -> Path:
    """Write `feed.xml` in the library `folder` listing every session in it, atomically (a reader sees
    the previous feed or this one); readable as any saved file is."""
    from .atomic import write_atomic

    target = folder / FEED_NAME
    write_atomic(target, feed_xml(scan(folder), library_title(folder)))
    return target
