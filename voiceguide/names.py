"""File names made from titles: safe on every system, the same for the same title."""
from __future__ import annotations

import re
import unicodedata

_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def slug(title: str) -> str:
    """A safe file stem from a title: lower-case words joined by hyphens."""
    plain = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    stem = re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")[:80].strip("-")
    if stem in _RESERVED:  # names Windows will not create, whatever the extension
        stem += "-session"
    return stem or "session"
