"""A music bed under the session: decoded chunk by chunk, looped on a musical boundary, ducked from the plan.

The builder knows, to the millisecond, when every line is spoken, so the bed's gain follows the plan
(`dips`), not a compressor listening to the voice: it is down before a line starts and comes back
after it, the same way every time. The bed is rendered like the rest of the mix, any span on demand:
the part of the music file the session uses is decoded once, at the session's rate, into an unnamed
temporary file (16-bit, 5.3 MB a minute of music), and read back a span at a time, so memory does not
grow with the length of the session or of the music.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .atomic import deferred
from .audio import ms_to_samples, samples_to_ms
from .errors import VoiceguideError
from .loudness import KWeighting, integrated_loudness, sums
from .options import OPTIONS, default
from .plan import Event, Kind, Plan, Role
from .resources import music_dir
from .sound_file import FORMATS, open_sound
from .user_paths import user_path

log = logging.getLogger(__name__)

DUCK_ATTACK_MS = 150
"""The bed starts going down this long before a line, and is down when the line starts."""
DUCK_RELEASE_MS = 500
"""And comes back up over this long after the line ends."""
DUCK_HOLD_MS = 1000
"""Sounds closer together than this are one dip: the bed does not bob up between sentences."""
CHIME_DIP_DB = 4.0
"""How far the bed dips under a chime, which plays over it."""
NAME_DIP_EXTRA_DB = 8.0
"""How much further the bed goes down under an exercise's name (and the countdown and chime joined to it):
a name is often a word the listener has never heard, with nothing around it to guess it from."""
_DEEPEST_DB = OPTIONS["duck_db"].range[1] if OPTIONS["duck_db"].range else 40.0
"""A name goes no deeper than the deepest --duck-db."""
FADE_IN_MS = 4000
FADE_OUT_MS = 5000
MIN_MUSIC_S = 6.0
"""The shortest music that can loop under a session: a loop of at least half of it, 2 s of crossfade
and 1 s of it heard before the loop's start."""
_CROSSFADE_S = (2.0, 3.0)  # shortest and longest crossfade at a loop
_CONTEXT_S = 4.0  # how much before a loop point must match too (less for short music)
_SILENT = 10 ** (-60 / 20)  # a sample below -60 dBFS is silence (the file's own lead-in and tail)
_SCALE = 16384.0  # stored 16-bit: 6 dB of headroom over full scale, for decoders' overshoot
_READ_FRAMES = 1 << 16
_HOP_S = 0.1
_FFT = 4096  # 10.8 Hz apart: the pitch classes of notes from about 100 Hz up
_DECIMATE = 4
_CHROMA_HZ = (80.0, 5000.0)
_MAX_CHANNELS = 32


@dataclass(frozen=True)
class MusicSettings:
    """The bed a session asks for."""

    choice: str = default("music")
    """A shipped bed's name (calm), a sound file, or none."""
    volume_lu: float = default("music_volume")
    """The bed's loudness between lines, relative to the voice's (LU)."""
    duck_db: float = default("duck_db")
    """How far the bed goes down while a line is spoken."""


def shipped_music() -> list[str]:
    """The names of the music beds that ship with voiceguide ("calm")."""
    return [p.stem for p in _shipped_paths()]


@dataclass(frozen=True)
class MusicFile:
    """A music file that opens and sounds: what a build knows of it before decoding it."""

    path: Path
    name: str
    """As the user named it: a shipped bed's name, or the file's name."""
    shipped: bool
    sha256: str
    rate: int
    frames: int
    channels: int

    @property
    def seconds(self) -> float:
        return self.frames / self.rate


def open_music(choice: str) -> MusicFile | None:
    """The music file a choice names, checked: it exists, libsndfile reads it (no ffmpeg), it is long
    enough to loop and not silent. None for none. Raises VoiceguideError naming the file and the fault."""
    if not choice.strip() or choice.strip().lower() == "none":
        return None
    shipped = {path.stem: path for path in _shipped_paths()}
    path = shipped[choice] if choice in shipped else user_path(choice, "music")
    name = choice if choice in shipped else path.name
    if not path.exists():
        raise VoiceguideError(f'music "{choice}": not a shipped bed ({", ".join(shipped) or "none"}) and no such '
                              f"file; give one of those, a {FORMATS} file, or none")
    if not path.is_file():
        raise VoiceguideError(f"{path}: is not a file; give a {FORMATS} music file, or none")
    import soundfile

    digest = hashlib.sha256()
    try:
        with open(path, "rb") as raw:
            for block in iter(lambda: raw.read(1 << 20), b""):
                digest.update(block)
        with open_sound(path, "music") as sound:
            rate, frames, channels = sound.samplerate, sound.frames, sound.channels
            if not 0 < channels <= _MAX_CHANNELS or rate <= 0:
                raise VoiceguideError(f"{path}: music with {channels} channels at {rate} Hz; use a mono or "
                                      f"stereo {FORMATS} file")
            if frames < MIN_MUSIC_S * rate:
                raise VoiceguideError(f"{path}: the music lasts {frames / rate:.1f} s; a bed needs at least "
                                      f"{MIN_MUSIC_S:g} s to loop under a session")
            if not _sounds(sound):
                raise VoiceguideError(f"{path}: the music is silent (no sample above -60 dBFS); give a file "
                                      "with sound in it, or none")
    except OSError as exc:
        raise VoiceguideError(f"{path}: cannot read the music file ({exc.strerror or exc}); check that it "
                              "is there and readable") from None
    except (RuntimeError, soundfile.LibsndfileError) as exc:  # opened, but damaged further in
        raise VoiceguideError(f"{path}: the music cannot be decoded to its end ({exc}); give a {FORMATS} "
                              "file that plays through") from None
    return MusicFile(path, name, choice in shipped, digest.hexdigest(), rate, frames, channels)


def _shipped_paths() -> list[Path]:
    folder = music_dir()
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def _sounds(sound: Any) -> bool:
    """Whether any sample is above the silence threshold (read until the first one: a file with sound
    in it costs a block, a silent one is read to its end)."""
    for block in sound.blocks(blocksize=_READ_FRAMES, dtype="float32", always_2d=True):
        if np.abs(block).max(initial=0.0) > _SILENT:
            return True
    return False


@dataclass(frozen=True)
class Dip:
    """A stretch where the bed is down: `depth_db` from `start_ms` to `end_ms`, with its ramps around."""

    start_ms: int
    end_ms: int
    depth_db: float


def dips(plan: Plan, duck_db: float) -> tuple[Dip, ...]:
    """Where the bed goes down, from the plan alone: by `duck_db` under every line, and by a few dB under
    every chime, further under an exercise's name. Sounds less than a second apart share one dip, as deep as
    its deepest: the bed does not bob up between sentences, nor between a countdown, the chime after it and
    the name after that (which a listener, and a speech recogniser, hears as one announcement)."""
    def depth_of(event: Event) -> float:
        if event.kind is not Kind.SPEECH:
            return CHIME_DIP_DB
        return min(_DEEPEST_DB, duck_db + NAME_DIP_EXTRA_DB) if event.role is Role.NAME else duck_db

    sounds = sorted((e.start_ms, e.end_ms, depth_of(e)) for e in plan.events if e.kind in (Kind.SPEECH, Kind.CHIME))
    found: list[Dip] = []
    for start, end, depth in sounds:
        if found and start - found[-1].end_ms < DUCK_HOLD_MS:
            last = found[-1]
            found[-1] = Dip(last.start_ms, max(last.end_ms, end), max(last.depth_db, depth))
        else:
            found.append(Dip(start, end, depth))
    return tuple(found)


@dataclass(frozen=True)
class Loop:
    """Where music shorter than the session goes round: from `end` (a sample of the decoded track) it
    crossfades over `crossfade` samples into `start`, and plays on from there."""

    start: int
    end: int
    crossfade: int
    correlation: float
    """How alike the two sides of the crossfade are (0 unrelated, 1 the same): the crossfade's gains
    keep the power steady for it."""

    @property
    def period(self) -> int:
        return self.end - self.start


class _Samples:
    """16-bit samples in an unnamed temporary file (positioned reads, shared by forked workers), or in
    memory where no such file can be made."""

    def __init__(self, folder: Path | None) -> None:
        self._file: BinaryIO | None = None
        self._memory: list[bytes] | None = None
        self._joined: np.ndarray | None = None
        self.length = 0
        try:
            if hasattr(os, "pread"):
                self._file = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 - closed by close()
        except OSError:
            self._file = None
        if self._file is None:
            self._memory = []

    def append(self, pcm: np.ndarray) -> None:
        data = np.asarray(pcm, dtype="<i2").tobytes()
        if self._file is not None:
            try:
                self._file.write(data)
                self.length += len(pcm)
                return
            except OSError:  # a full disk: go on in memory
                self._file.flush()
                self._file.seek(0)
                self._memory = [self._file.read(self.length * 2)]
                self._file.close()
                self._file = None
        assert self._memory is not None
        self._memory.append(data)
        self.length += len(pcm)

    def finish(self) -> None:
        if self._file is not None:
            self._file.flush()
        elif self._memory is not None:
            self._joined = np.frombuffer(b"".join(self._memory), dtype="<i2")
            self._memory = None

    def read(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        """float32 samples [start, stop) (into `out` when given), zeros outside what is stored."""
        lo, hi = max(0, start), min(self.length, stop)
        if out is None:
            out = np.empty(max(0, stop - start), dtype=np.float32)
        if lo >= hi:
            out[:] = 0
            return out
        out[:lo - start] = 0
        out[hi - start:] = 0
        if self._joined is not None:
            pcm = self._joined[lo:hi]
        else:
            assert self._file is not None
            pcm = np.frombuffer(os.pread(self._file.fileno(), (hi - lo) * 2, lo * 2), dtype="<i2")
        np.multiply(pcm, np.float32(1 / _SCALE), out=out[lo - start:lo - start + len(pcm)])
        return out

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._joined = None


class Track:
    """The part of a music file a session uses, decoded once: mono, at the session's rate.

    Decoded block by block (libsndfile; soxr's streaming resampler when the rates differ) into
    `_Samples`, only as far as the session needs: the first sound and a session's length after it,
    or the whole file when it is shorter and must loop. Its loudness is measured once, each 100 ms
    of it (`energies`), which is what the mix's loudness needs of it (`Bed.hop_energies`).
    """

    def __init__(self, source: MusicFile, needed: int, rate: int, scratch: Path | None = None) -> None:
        self.source = source
        self.rate = rate
        self._samples = _Samples(scratch)
        try:
            self.lead, self.stop = self._decode(needed)
            self.loudness_lufs, features = self._measure(needed)
            self.loop = self._loop(features) if self.stop - self.lead < needed else None
        except BaseException:
            self.close()
            raise

    def _decode(self, needed: int) -> tuple[int, int]:
        """Decode up to `needed` samples past the first sound; (first sound, end of the last sound, or of
        what was decoded when the music goes on past it)."""
        import soundfile

        with deferred():  # a Ctrl-C while soxr's native module loads crashes Python
            import soxr

        stream = None if self.source.rate == self.rate else \
            soxr.ResampleStream(self.source.rate, self.rate, 1, dtype="float32", quality="HQ")
        first = last = -1
        try:
            with soundfile.SoundFile(str(self.source.path)) as sound:
                blocks = sound.blocks(blocksize=_READ_FRAMES, dtype="float32", always_2d=True)
                for block in blocks:
                    mono = block.mean(axis=1, dtype=np.float32)
                    x = mono if stream is None else stream.resample_chunk(mono, last=False)
                    first, last = self._keep(x, first, last)
                    if first >= 0 and self._samples.length >= first + needed:
                        last = self._samples.length - 1  # enough: whatever is quiet at the end is music too
                        break
                else:
                    if stream is not None:
                        first, last = self._keep(stream.resample_chunk(np.zeros(0, np.float32), last=True),
                                                 first, last)
        except (RuntimeError, soundfile.LibsndfileError) as exc:
            raise VoiceguideError(f"{self.source.path}: cannot decode the music file ({exc}); use "
                                  f"{FORMATS}") from None
        self._samples.finish()
        if first < 0:
            raise VoiceguideError(f"{self.source.path}: the music is silent (no sample above -60 dBFS)")
        return first, last + 1

    def _keep(self, x: np.ndarray, first: int, last: int) -> tuple[int, int]:
        loud = np.flatnonzero(np.abs(x) > _SILENT)
        if len(loud):
            first = self._samples.length + int(loud[0]) if first < 0 else first
            last = self._samples.length + int(loud[-1])
        self._samples.append(np.clip(np.round(x * _SCALE), -32768, 32767))
        return first, last

    def _measure(self, needed: int) -> tuple[float, tuple[np.ndarray, np.ndarray] | None]:
        """The loudness of what the session plays (BS.1770), and where it must loop, each 100 ms's
        harmony and level for finding the loop (`_features`)."""
        k = KWeighting(self.rate)
        step = 5 * self.rate  # a chunk's temporaries stay a few MB
        energies, chroma, level = [], [], []
        loops = self.stop - self.lead < needed
        stop = min(self.stop, self.lead + needed)
        for at in range(self.lead, stop, step):
            end = min(stop, at + step)
            energies.append(sums(k.power(self.read(at - k.memory, end), k.memory), k.hop))
            if loops:
                c, v = _features(self.read(at - _FFT // 2, end + _FFT // 2), end - at, self.rate)
                chroma.append(c)
                level.append(v)
        self.energies = np.concatenate(energies).astype(np.float32)
        """The K-weighted energy of each 100 ms of the music from its first sound on (as far as used)."""
        loudness = integrated_loudness(self.energies.astype(np.float64), self.rate)
        if not np.isfinite(loudness):
            raise VoiceguideError(f"{self.source.path}: the music is too quiet to measure (below -70 LUFS)")
        return loudness, (np.concatenate(chroma), np.concatenate(level)) if loops else None

    def _loop(self, features: tuple[np.ndarray, np.ndarray] | None) -> Loop:
        usable = self.stop - self.lead
        if usable < MIN_MUSIC_S * self.rate or features is None:
            raise VoiceguideError(f"{self.source.path}: the music has {usable / self.rate:.1f} s of sound; a bed "
                                  f"needs at least {MIN_MUSIC_S:g} s to loop under a session")
        loop = find_loop(features[0], features[1], self.rate, self.read, self.lead, self.stop)
        log.info("music %s loops from %.2f s back to %.2f s (%.1f s crossfade, correlation %.2f)",
                 self.source.name, loop.end / self.rate, loop.start / self.rate, loop.crossfade / self.rate,
                 loop.correlation)
        return loop

    def read(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        return self._samples.read(start, stop, out)

    def close(self) -> None:
        self._samples.close()


def _features(x: np.ndarray, length: int, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """For each 100 ms of x[_FFT // 2: _FFT // 2 + length]: its chroma (the energy of each of the 12
    pitch classes, unit length: which notes sound, in any octave) and its level in dB. Worked out at a
    quarter of the rate (up to 5 kHz is all the chroma looks at): a quarter of the FFT for the same
    10.8 Hz between bins."""
    with deferred():  # a Ctrl-C while soxr's native module loads crashes Python
        import soxr

    hop = int(rate * _HOP_S)
    n = length // hop
    if n == 0:
        return np.zeros((0, 12)), np.zeros(0)
    low, size = rate / _DECIMATE, _FFT // _DECIMATE
    y = soxr.resample(x.astype(np.float32), rate, low, quality="HQ")
    starts = np.round((_FFT // 2 + (np.arange(n) + 0.5) * hop) / _DECIMATE).astype(int) - size // 2
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(y, (0, size)), size)[starts]
    power = np.abs(np.fft.rfft(frames * np.hanning(size).astype(np.float32), axis=1)) ** 2
    freqs = np.fft.rfftfreq(size, 1 / low)
    band = (freqs >= _CHROMA_HZ[0]) & (freqs <= _CHROMA_HZ[1])
    pitch = np.round(12 * np.log2(freqs[band] / 440.0)).astype(int) % 12
    classes = np.zeros((int(band.sum()), 12))
    classes[np.arange(len(pitch)), pitch] = 1.0
    chroma = np.sqrt(power[:, band] @ classes)
    chroma /= np.maximum(np.linalg.norm(chroma, axis=1, keepdims=True), 1e-9)
    level = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-10)
    return chroma, level


def find_loop(chroma: np.ndarray, level_db: np.ndarray, rate: int, read: Callable[[int, int], np.ndarray],
              lead: int, stop: int) -> Loop:
    """Where music of samples [lead, stop) should loop, from each 100 ms's `chroma` and `level_db`.

    "Musical" here means: the loop goes back by the lag at which the music best repeats itself, and at
    the point where it does so best. For every lag of at least half the music, and every place the
    crossfade could start, the two stretches the crossfade blends and the 4 s before them are
    compared 100 ms by 100 ms: the same notes sounding (chroma, whatever the octave and the
    instrument) and the same level (a 6 dB difference counts as much as unrelated notes). The best
    lag of metred music is a whole number of bars, so the beat and the chords go on through the join;
    ambient music, which a beat tracker or key finder would stumble on, has its own best lag too.
    Then, within 100 ms, the sample offset at which the two blended stretches are most alike as
    waveforms, so sustained notes neither beat nor cancel in the crossfade; how alike they still are
    sets the crossfade's gains (`crossfade_gains`). No beat tracker, key finder or model: decisions
    that are the same every time, for any music.
    """
    hop = int(rate * _HOP_S)
    usable = (stop - lead) / rate
    fade = round(min(_CROSSFADE_S[1], max(_CROSSFADE_S[0], usable / 6)) / _HOP_S)
    context = round(min(_CONTEXT_S, usable / 8) / _HOP_S)
    n = len(level_db)
    best: tuple[float, int, int] = (-np.inf, 0, 0)
    window = context + fade
    for lag in range(-(-n // 2), n - fade - context + 1):
        # position i compares with i - lag; the crossfade starts at b, its window is [b - context, b + fade)
        same = np.einsum("ij,ij->i", chroma[lag:], chroma[:-lag]) - np.abs(level_db[lag:] - level_db[:-lag]) / 6.0
        sums_ = np.concatenate([[0.0], np.cumsum(same)])
        # b - lag - context >= 0 and b + fade <= n: window starts s = b - context - lag over the `same` array
        starts = np.arange(0, n - lag - window + 1)
        if not len(starts):
            continue
        scores = (sums_[starts + window] - sums_[starts]) / window
        i = int(np.argmax(scores))
        if scores[i] > best[0] + 1e-9:
            best = (float(scores[i]), lag, i + context + lag)
    _, lag, b = best
    crossfade = fade * hop
    end, start = lead + b * hop, lead + (b - lag) * hop
    # refine: the offset of `end` (within 100 ms) at which the blended stretches (their first second) are
    # most alike
    ahead = read(start, start + min(crossfade, rate))
    wide = read(end - hop, min(stop, end + hop + len(ahead)))
    shift = int(np.argmax(_correlations(wide, ahead)))
    end = min(end - hop + shift, stop - crossfade)
    x, y = read(start, start + crossfade).astype(np.float64), read(end, end + crossfade).astype(np.float64)
    correlation = float(np.clip(float(x @ y) / max(float(np.sqrt((x @ x) * (y @ y))), 1e-30), 0.0, 1.0))
    return Loop(start, end, crossfade, correlation)


def _correlations(wide: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """The normalised correlation of `ref` with each stretch of `wide` as long as it, by FFT."""
    m = len(ref)
    n = len(wide) - m + 1
    if n <= 0 or not np.any(ref):
        return np.zeros(max(1, n))
    size = 1 << (len(wide) + m - 1).bit_length()
    dots = np.fft.irfft(np.fft.rfft(wide.astype(np.float64), size) * np.conj(np.fft.rfft(ref.astype(np.float64), size)),
                        size)[:n]
    energy = np.concatenate([[0.0], np.cumsum(wide.astype(np.float64) ** 2)])
    norms = np.sqrt((energy[m:m + n] - energy[:n]) * float(np.sum(ref.astype(np.float64) ** 2)))
    return np.asarray(np.where(norms > 0, dots / np.maximum(norms, 1e-30), 0.0))


def crossfade_gains(length: int, correlation: float) -> tuple[np.ndarray, np.ndarray]:
    """(in, out) gains of an equal-power crossfade: a quarter sine and cosine, scaled so that the power of
    the sum stays the same throughout for two sides this alike (`correlation`): the usual equal-power
    curves for unrelated sound, and gains that add up to one for the same sound (where the usual
    curves would swell by 3 dB in the middle)."""
    t = (np.arange(length) + 0.5) / length
    fade_in, fade_out = np.sin(np.pi / 2 * t), np.cos(np.pi / 2 * t)
    norm = 1.0 / np.sqrt(1.0 + 2.0 * correlation * fade_in * fade_out)
    return (fade_in * norm).astype(np.float32), (fade_out * norm).astype(np.float32)


class Bed:
    """The music under a session at unity gain, ducked and faded, any span on demand.

    Samples are a function of their position alone (the same whatever span asks for them), so measuring
    and rendering agree to the sample, in any process. `open` decodes the music (before workers are
    forked, so they share it); `close` drops it.
    """

    def __init__(self, source: MusicFile, settings: MusicSettings, plan: Plan, rate: int) -> None:
        self.source = source
        self.settings = settings
        self.rate = rate
        self.length = ms_to_samples(plan.duration_ms, rate)
        self.dips = dips(plan, settings.duck_db)
        self._dips = [(ms_to_samples(d.start_ms, rate), ms_to_samples(d.end_ms, rate),
                       np.float32(10 ** (-d.depth_db / 20)), d.depth_db) for d in self.dips]
        self._starts = [d[0] for d in self._dips]
        self._reach = np.maximum.accumulate([d[1] for d in self._dips]).tolist() if self._dips else []
        self._attack, self._release = ms_to_samples(DUCK_ATTACK_MS, rate), ms_to_samples(DUCK_RELEASE_MS, rate)
        self._fade_in, self._fade_out = ms_to_samples(FADE_IN_MS, rate), ms_to_samples(FADE_OUT_MS, rate)
        self._ramps = {depth: _ramps(depth, self._attack, self._release) for depth in {d[3] for d in self._dips}}
        self.track: Track | None = None
        self._gains: tuple[np.ndarray, np.ndarray] | None = None

    def open(self, scratch: Path | None = None) -> None:
        if self.track is None:
            self.track = Track(self.source, self.length, self.rate, scratch)
            if self.track.loop is not None:
                self._gains = crossfade_gains(self.track.loop.crossfade, self.track.loop.correlation)

    def close(self) -> None:
        if self.track is not None:
            self.track.close()

    def gain_db(self, voice_lufs: float) -> float:
        """The bed's gain that puts it `volume_lu` under a voice of that loudness (between lines)."""
        assert self.track is not None, "open the bed first"
        return voice_lufs + self.settings.volume_lu - self.track.loudness_lufs

    def span(self, start: int, end: int) -> np.ndarray:
        """Samples [start, end) of the bed at unity gain (zeros outside the session)."""
        lo, hi = max(0, start), min(self.length, end)
        if lo >= hi:
            return np.zeros(max(0, end - start), dtype=np.float32)
        assert self.track is not None, "open the bed first"
        x = self._music(lo, hi)
        x *= self.gain_curve(lo, hi)
        if lo > start or hi < end:
            x = np.concatenate([np.zeros(lo - start, np.float32), x, np.zeros(max(0, end - hi), np.float32)])
        return x

    def _music(self, start: int, end: int) -> np.ndarray:
        """The track as the session plays it: from its first sound on, round its loop when it has one."""
        track = self.track
        assert track is not None, "open the bed first"
        read = track.read
        loop = track.loop
        if loop is None:
            return read(track.lead + start, track.lead + end, None)
        assert self._gains is not None
        out = np.empty(end - start, dtype=np.float32)
        first = loop.end - track.lead  # where the first crossfade begins, in session samples
        at = start
        while at < end:
            if at < first:
                stop = min(end, first)
                read(track.lead + at, track.lead + stop, out[at - start:stop - start])
            else:
                u = (at - first) % loop.period
                stop = min(end, at + loop.period - u)
                part = read(loop.start + u, loop.start + u + stop - at, out[at - start:stop - start])
                if u < loop.crossfade:
                    m = min(len(part), loop.crossfade - u)
                    leaving = read(loop.end + u, loop.end + u + m, None)
                    part[:m] *= self._gains[0][u:u + m]
                    leaving *= self._gains[1][u:u + m]
                    part[:m] += leaving
            at = stop
        return out

    def hop_energies(self, hops: int) -> np.ndarray:
        """Each 100 ms's K-weighted energy of the bed at unity gain, worked out from the music's own (each
        100 ms of it, measured once when it was decoded) where the session plays it, and the bed's gain
        there (its square, averaged over the 100 ms): what the mix's loudness needs of the bed, without
        rendering it. Within a crossfade the two sides are added as alike as the loop measured them."""
        track = self.track
        assert track is not None, "open the bed first"
        hop = self.rate // 10
        gains = np.empty(hops, dtype=np.float64)
        for h in range(0, hops, 100):  # the gain, 10 s at a time
            n = min(100, hops - h)
            curve = self.gain_curve(h * hop, min(self.length, (h + n) * hop))
            curve = np.pad(curve, (0, n * hop - len(curve)))
            gains[h:h + n] = np.square(curve, dtype=np.float64).reshape(n, hop).mean(axis=1)
        centre = np.arange(hops) * hop + hop / 2
        own = track.energies.astype(np.float64)

        def at(position: np.ndarray) -> np.ndarray:  # the music's energy around a sample of the track
            return np.interp((position - track.lead) / hop - 0.5, np.arange(len(own)), own, left=0.0, right=0.0)

        loop = track.loop
        if loop is None:
            return gains * at(centre + track.lead)
        first = loop.end - track.lead
        u = np.where(centre < first, -1.0, (centre - first) % loop.period)
        energy = np.where(u < 0, at(centre + track.lead), at(loop.start + u))
        fading = (u >= 0) & (u < loop.crossfade)
        if fading.any():
            t = (u[fading] + 0.5) / loop.crossfade
            g_in, g_out = np.sin(np.pi / 2 * t), np.cos(np.pi / 2 * t)
            norm = 1.0 / (1.0 + 2.0 * loop.correlation * g_in * g_out)
            coming, leaving = at(loop.start + u[fading]), at(loop.end + u[fading])
            energy[fading] = norm * (g_in ** 2 * coming + g_out ** 2 * leaving
                                     + 2 * loop.correlation * g_in * g_out * np.sqrt(coming * leaving))
        return gains * energy

    def gain_curve(self, start: int, end: int) -> np.ndarray:
        """The bed's gain over [start, end): the fades at the session's ends and the dips, deepest wins."""
        curve = np.ones(end - start, dtype=np.float32)
        first = bisect_right(self._reach, start - self._release)  # dips that end (with release) after start
        last = bisect_left(self._starts, end + self._attack)
        for lo, hi, floor, depth in self._dips[first:last]:
            _dip(curve, start, lo, hi, floor, self._ramps[depth])
        if start < self._fade_in:
            n = min(end, self._fade_in) - start
            t = (np.arange(start, start + n) + 0.5) / self._fade_in
            curve[:n] *= (0.5 - 0.5 * np.cos(np.pi * t)).astype(np.float32)
        if end > self.length - self._fade_out:
            lo = max(start, self.length - self._fade_out)
            t = (np.arange(lo, end) - (self.length - self._fade_out) + 0.5) / self._fade_out
            curve[lo - start:] *= (0.5 + 0.5 * np.cos(np.pi * t)).astype(np.float32)
        return curve

    def summary(self, gain_db: float) -> dict[str, Any]:
        """What the plan's JSON records of the bed: the file, its level and loop, and the gain curve (every
        dip; the ramps and fades are the constants named)."""
        track = self.track
        loop = track.loop if track is not None else None
        return {
            "file": str(self.source.path.absolute()),
            "name": self.source.name,
            "sha256": self.source.sha256,
            "loudness_lufs": round(track.loudness_lufs, 2) if track is not None else None,
            "gain_db": round(gain_db, 2),
            "volume_lu": self.settings.volume_lu,
            "duck_db": self.settings.duck_db,
            "loop": None if loop is None else {
                "from_ms": samples_to_ms(loop.end, self.rate), "to_ms": samples_to_ms(loop.start, self.rate),
                "crossfade_ms": samples_to_ms(loop.crossfade, self.rate), "correlation": round(loop.correlation, 3)},
            "fade_in_ms": FADE_IN_MS,
            "fade_out_ms": FADE_OUT_MS,
            "attack_ms": DUCK_ATTACK_MS,
            "release_ms": DUCK_RELEASE_MS,
            "dips": [[d.start_ms, d.end_ms, d.depth_db] for d in self.dips],
        }


def _ramps(depth_db: float, attack: int, release: int) -> tuple[np.ndarray, np.ndarray]:
    """The gains going down `depth_db` over `attack` samples and back up over `release` samples: raised
    cosines in dB (computed once per depth: every dip of a depth has the same)."""
    down = (np.arange(attack) + 0.5) / attack
    up = (np.arange(release) + 0.5) / release
    return ((10 ** (-depth_db * (0.5 - 0.5 * np.cos(np.pi * down)) / 20)).astype(np.float32),
            (10 ** (-depth_db * (0.5 + 0.5 * np.cos(np.pi * up)) / 20)).astype(np.float32))


def _dip(curve: np.ndarray, start: int, lo: int, hi: int, floor: np.float32,
         ramps: tuple[np.ndarray, np.ndarray]) -> None:
    """Lower `curve` (the gains of samples from `start`) to one dip's: down over the `ramps[0]` samples
    before `lo`, held at `floor` to `hi`, back up over the `ramps[1]` samples after."""
    down, up = ramps
    end = start + len(curve)
    a, b = max(start, lo - len(down)), min(end, lo)
    if a < b:
        _lower(curve, a - start, down[a - (lo - len(down)):b - (lo - len(down))])
    a, b = max(start, lo), min(end, hi)
    if a < b:
        np.minimum(curve[a - start:b - start], floor, out=curve[a - start:b - start])
    a, b = max(start, hi), min(end, hi + len(up))
    if a < b:
        _lower(curve, a - start, up[a - hi:b - hi])


def _lower(curve: np.ndarray, at: int, gains: np.ndarray) -> None:
    np.minimum(curve[at:at + len(gains)], gains, out=curve[at:at + len(gains)])
