"""Opening a sound file a user names (a chime, a music bed) with libsndfile: WAV, MP3, OGG and FLAC, no
ffmpeg. One message for a file it cannot decode, and the MP3 decoder's own notes kept off the terminal."""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import VoiceguideError

FORMATS = "WAV, MP3, OGG or FLAC"

log = logging.getLogger(__name__)


@contextmanager
def open_sound(path: Path, what: str) -> Iterator[Any]:
    """The file opened for reading (a soundfile.SoundFile). libsndfile tells a format by its contents, so a
    text file named .mp3 is refused here, with a message that says so rather than libsndfile's ("does not
    exist or is not a regular file"), which is wrong for a file that is there."""
    import soundfile

    try:
        with _decoder_notes_hidden():
            sound = soundfile.SoundFile(str(path))
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        log.info("libsndfile cannot open %s: %s", path, exc)
        raise VoiceguideError(f"{path}: not {what} voiceguide can decode (the format is told from the file's "
                              f"contents, not its name); give a {FORMATS} file") from None
    with sound:
        yield sound


@contextmanager
def _decoder_notes_hidden() -> Iterator[None]:
    """mpg123, inside libsndfile, writes notes on damaged frames ("Illegal Audio-MPEG-Header ...") straight
    to file descriptor 2, above the message that says what is wrong; while a file is opened they go nowhere."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to keep
        yield
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 2)
        finally:
            os.close(null)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
