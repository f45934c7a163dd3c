"""Make the cover's font: DejaVu Sans cut down to the letters the shipped languages write (Latin-1 and
Latin Extended-A, the typographic quotes and dashes), so every cover is drawn with its accents and the
package stays small. Run once by a maintainer, with fontTools (not a dependency of voiceguide):

    pip install fonttools
    python scripts/make_font.py /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf

DejaVu Sans is Bitstream Vera with additions, free to copy and change (voiceguide/fonts/LICENSE-DejaVu.txt).
"""
from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset  # type: ignore[import-not-found]

OUT = Path(__file__).resolve().parent.parent / "voiceguide" / "fonts" / "DejaVuSans-Latin.ttf"
RANGES = [
    (0x0020, 0x007E),  # Basic Latin
    (0x00A0, 0x00FF),  # Latin-1 Supplement: German, Spanish, French, Italian, Portuguese, Dutch, Nordic
    (0x0100, 0x017F),  # Latin Extended-A: Czech, Polish, Hungarian, Turkish, ...
    (0x2010, 0x2027),  # dashes, quotes, bullets, the ellipsis
    (0x20AC, 0x20AC),  # the euro sign
    (0xFFFD, 0xFFFD),  # the replacement character, drawn for any letter the font still lacks
]


def main(source: str) -> None:
    options = subset.Options()
    options.layout_features = []  # the cover is laid out without a shaping engine
    options.hinting = False
    options.name_IDs = ["*"]  # keep the copyright and licence names
    options.notdef_outline = True
    font = subset.load_font(source, options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[c for low, high in RANGES for c in range(low, high + 1)])
    subsetter.subset(font)
    font.flavor = None
    subset.save_font(font, str(OUT), options)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
