"""The chimes of a session: a shipped set by name, any sound file, or none."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .audio import SAMPLE_RATE, db_to_gain, resample
from .errors import VoiceguideError
from .resources import chimes_dir
from .sound_file import FORMATS, open_sound
from .user_paths import user_path

MAX_CHIME_S = 4.0
"""A longer sound file is cut here (with a fade), so a chime never covers the next words."""
SOFT_GAIN_DB = -6.0
"""A sound file used as the chime plays this much softer at a side switch."""
_FADE_S = 0.25
_MAX_CHANNELS = 32


def shipped_chimes() -> list[str]:
    return sorted(p.stem for p in chimes_dir().glob("*.wav") if not p.stem.endswith("-soft"))


def chime_names(choice: str) -> tuple[str, str]:
    """The names the plan gives the chime between sections and the softer one at a side switch: a
    shipped chime's file names ("bowl", "bowl-soft"), or a sound file's name ("gong.wav", "gong.wav (soft)");
    empty for none."""
    if choice.lower() == "none":
        return "", ""
    if choice in shipped_chimes():
        return choice, f"{choice}-soft"
    name = user_path(choice, "chime").name
    return name, f"{name} (soft)"


def load_chimes(choice: str) -> dict[str, np.ndarray]:
    """The chime between sections and the one at a side switch, by the names `chime_names` gives them (in
    that order), as float32 at the session rate; {} for none."""
    if choice.lower() == "none":
        return {}
    between, switch = chime_names(choice)
    folder = chimes_dir()
    if choice in shipped_chimes():
        return {between: _read(folder / f"{between}.wav"), switch: _read(folder / f"{switch}.wav")}
    path = user_path(choice, "chime")
    if not path.is_file():
        raise VoiceguideError(f'chime "{choice}": not a shipped chime ({", ".join(shipped_chimes())}) and no '
                              "such file; give one of those, a WAV/MP3/OGG/FLAC file, or none")
    bell = _read(path)
    return {between: bell, switch: (bell * np.float32(db_to_gain(SOFT_GAIN_DB))).astype(np.float32)}


def _read(path: Path) -> np.ndarray:
    """Decode with libsndfile (WAV, MP3, OGG, FLAC; no ffmpeg), mix to mono, resample, trim, fade out.

    Only the first MAX_CHIME_S seconds are read: a long file given as a chime costs no more than a short one.
    """
    with open_sound(path, "a sound file") as sound:
        if not 0 < sound.channels <= _MAX_CHANNELS or sound.samplerate <= 0:
            raise VoiceguideError(f"{path}: a sound file with {sound.channels} channels at "
                                  f"{sound.samplerate} Hz; use a mono or stereo {FORMATS} file")
        rate = sound.samplerate
        data = sound.read(frames=int(MAX_CHIME_S * rate) + 1, dtype="float32", always_2d=True)
    x = resample(data.mean(axis=1), rate)
    if not x.size or not np.any(x):
        raise VoiceguideError(f"{path}: the sound file is silent")
    limit = int(MAX_CHIME_S * SAMPLE_RATE)
    if len(x) > limit:
        x = x[:limit].copy()
        fade = int(_FADE_S * SAMPLE_RATE)
        x[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return x.astype(np.float32)
