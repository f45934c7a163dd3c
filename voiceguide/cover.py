"""A session's cover art: a square PNG with its title, length and exercises, the same bytes on every machine
(drawn with the font the package ships, so no font need be installed)."""
from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING

from .durations import format_clock
from .errors import OutputError

if TYPE_CHECKING:
    from PIL.ImageDraw import ImageDraw
    from PIL.ImageFont import FreeTypeFont

_FONT = Path(__file__).resolve().parent / "fonts" / "DejaVuSans-Latin.ttf"
"""DejaVu Sans cut down to Latin letters (scripts/make_font.py): Pillow's own font has no accented ones."""

SIZE_PX = 1400
"""Apple Podcasts' minimum (and what AntennaPod and Pocket Casts show well): 1400 x 1400."""
MIME = "image/png"

_BACKGROUND = (24, 61, 71)
_BAND = (31, 78, 90)
_TEXT = (246, 241, 231)
_SOFT = (170, 201, 196)
_ACCENT = (236, 179, 101)
_MARGIN = 110


@dataclass(frozen=True)
class CoverText:
    """What a cover shows."""

    title: str
    length_ms: int
    exercises: tuple[tuple[str, int], ...]
    """Each exercise's name and the length of its chapter."""
    variant: str = ""
    """What sets this session apart from the routine's default build ("10:00, no intro"), or nothing."""
    count: str = ""
    """How many exercises, in the session's language ("sieben Übungen"); empty: "7 exercises"."""


def cover_png(text: CoverText) -> bytes:
    """The cover as PNG bytes. The font is the package's own, laid out without a shaping library, so the
    bytes depend only on the text and the Pillow version."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (SIZE_PX, SIZE_PX), _BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, SIZE_PX, 430), fill=_BAND)
    draw.text((_MARGIN, 70), "voiceguide", font=_font(44), fill=_SOFT)
    y = _title(draw, _drawable(text.title), 150)
    if text.variant:
        draw.text((_MARGIN, y + 6), _fit(_drawable(text.variant), _font(46), SIZE_PX - 2 * _MARGIN), font=_font(46),
                  fill=_ACCENT)
    count = text.count or f"{len(text.exercises)} exercise{'s' * (len(text.exercises) != 1)}"
    summary = _fit(_drawable(f"{format_clock(text.length_ms)}  ·  {count}"), _font(84), SIZE_PX - 2 * _MARGIN)
    draw.text((_MARGIN, 470), summary, font=_font(84), fill=_ACCENT)
    _exercise_list(draw, text.exercises, 620)
    # a few flat colours and their anti-aliased edges: 32 indexed colours look the same at a third of the bytes
    indexed = image.quantize(colors=32, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    out = BytesIO()
    indexed.save(out, format="PNG", optimize=False, compress_level=6)
    return out.getvalue()


def _title(draw: ImageDraw, title: str, top: int) -> int:
    """The title in the largest size at which it fits in three lines; returns where it ends."""
    width = SIZE_PX - 2 * _MARGIN
    for size in (120, 104, 90, 78, 66):
        font = _font(size)
        lines = _wrap(title, font, width)
        if len(lines) <= 3 and (top + len(lines) * size * 1.12) <= 400:
            break
    lines = lines[:3]
    for n, line in enumerate(lines):
        draw.text((_MARGIN, top + round(n * size * 1.12)), _fit(line, font, width), font=font, fill=_TEXT)
    return top + round(len(lines) * size * 1.12)


def _exercise_list(draw: ImageDraw, exercises: Sequence[tuple[str, int]], top: int) -> None:
    """One line per exercise with its length on the right; what does not fit becomes "+ N more"."""
    bottom = SIZE_PX - 90
    size = 52 if len(exercises) <= 11 else 44
    font = _font(size)
    step = round(size * 1.45)
    room = (bottom - top) // step
    shown = exercises if len(exercises) <= room else exercises[: room - 1]
    right = SIZE_PX - _MARGIN
    for n, (name, ms) in enumerate(shown):
        y = top + n * step
        clock = format_clock(ms)
        clock_width = font.getlength(clock)
        draw.text((right - clock_width, y), clock, font=font, fill=_SOFT)
        number = f"{n + 1}"
        draw.text((_MARGIN, y), number, font=font, fill=_ACCENT)
        left = _MARGIN + font.getlength("00") + 28
        draw.text((left, y), _fit(_drawable(name), font, right - clock_width - 40 - left), font=font, fill=_TEXT)
    if len(shown) < len(exercises):
        draw.text((_MARGIN, top + len(shown) * step), f"+ {len(exercises) - len(shown)} more", font=font, fill=_SOFT)


def _wrap(text: str, font: FreeTypeFont, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines or [""]


def _fit(text: str, font: FreeTypeFont, width: float) -> str:
    """The text, cut with an ellipsis ("...") where it is wider than `width`."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "...") > width:
        text = text[:-1]
    return text.rstrip() + "..."


@cache
def _font(size: int) -> FreeTypeFont:
    from PIL import ImageFont, features

    if not features.check("freetype2"):
        raise OutputError("this Pillow has no FreeType support, so the cover cannot be drawn; "
                          "pip install --force-reinstall pillow (its wheels include FreeType)")
    return ImageFont.truetype(str(_FONT), size, layout_engine=ImageFont.Layout.BASIC)


def _drawable(text: str) -> str:
    """The text with each letter the font lacks replaced by its unaccented letter ("Ș" -> "S"), or by "?"
    (the shipped font has the Latin letters of Western and Central European languages; a box for every
    missing letter is worse)."""
    out = []
    for ch in " ".join(text.split()):
        if _has_glyph(ch):
            out.append(ch)
            continue
        base = unicodedata.normalize("NFKD", ch)
        kept = "".join(c for c in base if not unicodedata.combining(c) and _has_glyph(c))
        out.append(kept or ("-" if unicodedata.category(ch) == "Pd" else "?"))
    return "".join(out)


@cache
def _has_glyph(ch: str) -> bool:
    font = _font(40)
    return ch == " " or bytes(font.getmask(ch)) != _missing_mask()


@cache
def _missing_mask() -> bytes:
    return bytes(_font(40).getmask("\uffff"))
