"""Lay clips and chimes on the timeline at exact sample positions, level the session, stream it out.

The session is rendered a chunk at a time, never whole, so memory does not grow with its length:
one pass measures the loudness of every 100 ms and the peak and loudness of every ~1 ms block;
from those the gain and a look-ahead limiter are worked out (true peaks measured where they
matter), and a last pass applies them and hands 16-bit chunks to the encoder. Rendering is cheap
(a sum of the few clips that overlap each chunk), so passing twice costs less than keeping an hour
of audio in memory.

A music bed (`music.Bed`) is levelled with the voice, not as part of it (dialogue-anchored levelling,
as broadcast loudness practice does it): the loudness the gain is found for is the voice's and the
chimes', as without music, so the voice is as loud as it is without music; the bed is set at its level
under the voice as levelled (`Measurement.place_bed`), and the limiter sees the peaks of the whole mix.
"""
from __future__ import annotations

import logging
import os
import tempfile
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import numpy as np

from . import forked
from .atomic import deferred
from .audio import db_to_gain, gain_to_db, ms_to_samples, to_pcm16
from .engines.base import Utterance
from .errors import WorkerError
from .loudness import KWeighting, integrated_loudness, sums
from .mp3 import overlapped_spans, segment_spans
from .plan import Plan

if TYPE_CHECKING:
    from .music import Bed

TARGET_LUFS = -16.0
CEILING_DBTP = -1.0
_MP3_MARGIN_DB = 0.7  # encoding adds overshoot; limit below the ceiling so the MP3 stays under it
_OVERSAMPLE = 4
CHUNK_S = 10
_PAD = 64  # samples of context either side of a chunk for the oversampling filter
_GROUP_CHUNKS = 3  # chunks' worth of samples in one measuring task (30 s)
_MEASURE_TIMEOUT_S = 600.0
_MAX_GAIN_DB = 40.0  # past this a target is out of reach (the peak codes cover ~50 dB)
_SCAN_BLOCKS = 1 << 18  # blocks looked at at once in this process (~4 minutes): temporaries stay a few MB
_TRUE_PEAK_MARGIN_DB = 4.0
_TRUE_PEAK_HEADROOM_DB = 2.0
_BRIDGE_BLOCKS = 245  # ~250 ms
_BLOCK = 45  # limiter resolution: ~1 ms at 44.1 kHz; 10 s and 100 ms hold whole blocks
_MIN_BLOCKS = 21  # the limiter's gain: the least needed within ~10 ms either side,
_MEAN_BLOCKS = 10  # then averaged over ~10 ms
_CONTEXT = 32  # blocks either side that a block's limiter gain depends on (10 + 5, with room to spare)
CHIME_GAIN_DB = -4.0
_MIX_TOLERANCE_LU = 0.4  # how far a music bed may move the session's loudness from its voice's
_BED_TRUE_PEAK_DB = 3.0  # room for a bed's peaks between samples, where its true peaks are not measured

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Levels:
    """What levelling did, for the build report."""

    loudness_lufs: float
    """The whole session's, music and all."""
    true_peak_dbtp: float
    gain_db: float
    voice_lufs: float | None = None
    """With a music bed: the loudness of the voice and chimes alone (what the gain was found for)."""
    music_gain_db: float | None = None
    """With a music bed: the bed's gain in the session, from the music file's own level."""


class Timeline:
    """The session as a function of time: any span of samples, rendered on demand from the plan: the
    voice and chimes (`span`), and the music bed under them, if any (`bed_span`, at unity gain)."""

    def __init__(self, plan: Plan, clip: Callable[[Utterance], np.ndarray], chimes: Mapping[str, np.ndarray],
                 rate: int, chime_gain_db: float = CHIME_GAIN_DB, bed: Bed | None = None) -> None:
        self.rate = rate
        self.bed = bed
        self.length = ms_to_samples(plan.duration_ms, rate)
        self._clip = clip
        self._chimes = {k: (v * np.float32(db_to_gain(chime_gain_db))).astype(np.float32) for k, v in chimes.items()}
        self._events = sorted(plan.events, key=lambda e: e.start_ms)
        self._starts = [ms_to_samples(e.start_ms, rate) for e in self._events]
        # generous upper bound of any event's reach, so a span finds its events by start time
        self._longest = max((ms_to_samples(e.duration_ms, rate) for e in self._events), default=0) + rate

    def prepare(self, scratch: Path | None = None) -> None:
        """Decode the music bed, if any (before workers are forked, so that they share it)."""
        if self.bed is not None:
            self.bed.open(scratch)

    def close(self) -> None:
        if self.bed is not None:
            self.bed.close()

    def bed_span(self, start: int, end: int) -> np.ndarray:
        """Samples [start, end) of the music bed at unity gain, ducked and faded (zeros without one)."""
        return self.bed.span(start, end) if self.bed is not None else np.zeros(end - start, dtype=np.float32)

    def span(self, start: int, end: int) -> np.ndarray:
        """Samples [start, end) of the voice and chimes (zeros outside the session)."""
        out = np.zeros(end - start, dtype=np.float32)
        for i in range(bisect_left(self._starts, start - self._longest), len(self._events)):
            event, at = self._events[i], self._starts[i]
            if at >= end:
                break
            x = self._clip(event.utterance) if event.utterance is not None else self._chimes[event.sound]
            lo, hi = max(start, at), min(end, at + len(x), self.length)
            if lo < hi:
                out[lo - start: hi - start] += x[lo - at: hi - at]
        return out

    def chunks(self, pad: int = 0, first: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """(start, samples) chunk by chunk over [first, stop); with `pad`, each chunk carries that much
        context either side. Chunk edges are multiples of the chunk size whatever `first` is."""
        step = CHUNK_S * self.rate
        stop = self.length if stop is None else min(stop, self.length)
        start = first
        while start < stop:
            end = min(stop, (start // step + 1) * step)
            yield start, self.span(start - pad, end + pad)
            start = end

    def segments(self, parts: Sequence[int] = ()) -> list[tuple[int, int]]:
        """Spans to encode apart and join (see `mp3.segment_spans`): cuts fall where nothing sounds,
        and as late as they can at or before each of the samples `parts`. Under a music bed nothing is
        silent: overlapping spans, spliced (`mp3.overlapped_spans`; `parts` need no cut there)."""
        if self.bed is not None:
            return overlapped_spans(self.length, self.rate)
        busy = sorted((s, s + ms_to_samples(e.duration_ms, self.rate) + self.rate // 100)
                      for s, e in zip(self._starts, self._events))
        return segment_spans(busy, self.length, self.rate, parts=parts)


def true_peak_blocks(x: np.ndarray, block: int, pad: int = 0) -> np.ndarray:
    """True peak (BS.1770: 4x oversampled) of each `block` samples of x[pad:len(x)-pad]."""
    with deferred():  # a Ctrl-C while soxr's native module loads crashes Python (SIGSEGV, or abort)
        import soxr

    core = len(x) - 2 * pad
    n = -(-core // block)
    if not np.any(x):
        return np.zeros(n, dtype=np.float32)
    up = np.abs(soxr.resample(x, 1, _OVERSAMPLE, quality="HQ"))[pad * _OVERSAMPLE:(pad + core) * _OVERSAMPLE]
    up = np.pad(up, (0, n * block * _OVERSAMPLE - len(up)))
    return np.maximum(up.reshape(n, block * _OVERSAMPLE).max(axis=1),
                      np.pad(np.abs(x[pad:pad + core]), (0, n * block - core)).reshape(n, block).max(axis=1))


def limiter_gains(peaks: np.ndarray, ceiling: float) -> np.ndarray:
    """Per-block gain of a look-ahead limiter that keeps every block's true peak under `ceiling`.

    Each block's gain is the least needed within ~10 ms either side, averaged over ~10 ms: at or
    below what every block needs, and changing over ~10 ms rather than at once. Blocks are
    interpolated linearly to samples; both neighbours are below the need, so the result is too.
    """
    need = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12)).astype(np.float32)
    if need.min() >= 1.0:
        return need
    return np.minimum(moving_mean(moving_min(need, _MIN_BLOCKS), _MEAN_BLOCKS), need)


def moving_min(x: np.ndarray, size: int) -> np.ndarray:
    """The least of `size` values around each (as scipy.ndimage.minimum_filter1d, edges mirrored)."""
    before = size // 2
    padded = np.pad(x, (before, size - 1 - before), mode="symmetric")
    return np.lib.stride_tricks.sliding_window_view(padded, size).min(axis=1)


def moving_mean(x: np.ndarray, size: int) -> np.ndarray:
    """The mean of `size` values around each (as scipy.ndimage.uniform_filter1d, edges mirrored)."""
    before = size // 2
    padded = np.pad(x.astype(np.float64), (before, size - 1 - before), mode="symmetric")
    sums = np.cumsum(np.r_[0.0, padded])
    return ((sums[size:] - sums[:-size]) / size).astype(x.dtype)


def _gain_curve(gains: np.ndarray, first: int, block: int, start: int, length: int) -> np.ndarray | np.float32:
    """Block gains (gains[0] is block `first`) interpolated to the samples [start, start + length).

    Only the stretches around limited blocks are interpolated (elsewhere both neighbours are 1).
    """
    low = np.flatnonzero(gains < 1.0)
    if not len(low):
        return np.float32(1.0)
    curve = np.ones(length, dtype=np.float32)
    centers = (np.arange(len(gains)) + first) * block + block / 2
    breaks = np.flatnonzero(np.diff(low) > 1)
    for a, b in zip(np.r_[0, breaks + 1], np.r_[breaks, len(low) - 1]):
        # a limited first or last block holds its gain out to the edge, as np.interp does
        lo = start if low[a] == 0 else max(start, int(np.floor(centers[low[a] - 1])))
        hi = start + length if low[b] == len(gains) - 1 else min(start + length, int(np.ceil(centers[low[b] + 1])) + 1)
        if lo < hi:
            curve[lo - start:hi - start] = np.interp(np.arange(lo, hi), centers, gains)
    return curve


_PEAK_STEP_DB = 0.2
_PEAK_FLOOR_DB = -44.0  # 255 steps of 0.2 dB reach +7 dBFS, above any sum of clips and chimes


def peak_codes(x: np.ndarray) -> np.ndarray:
    """Peaks as one byte each, in 0.2 dB steps rounded up: a limiter fed these may limit a fraction
    of a dB early, never late, and a 3-hour session's peaks take 10 MB, not 40."""
    with np.errstate(divide="ignore"):
        db = 20 * np.log10(np.maximum(x, 1e-12))
    return np.clip(np.ceil((db - _PEAK_FLOOR_DB) / _PEAK_STEP_DB), 0, 255).astype(np.uint8)


def peak_values(codes: np.ndarray) -> np.ndarray:
    return (10 ** ((codes.astype(np.float32) * _PEAK_STEP_DB + _PEAK_FLOOR_DB) / 20)).astype(np.float32)


_ENERGY_STEP_DB = 0.5
_ENERGY_FLOOR_DB = -100.0  # code 1; 0 is silence; 255 is +27 dB, above any 45 samples' energy


def energy_codes(e: np.ndarray) -> np.ndarray:
    """Block energies as one byte each (0.5 dB steps): only their ratios within 100 ms are used."""
    with np.errstate(divide="ignore"):
        db = 10 * np.log10(np.maximum(e, 1e-30))
    codes = np.clip(np.round((db - _ENERGY_FLOOR_DB) / _ENERGY_STEP_DB) + 1, 0, 255)
    return np.where(db < _ENERGY_FLOOR_DB, 0, codes).astype(np.uint8)


def energy_values(codes: np.ndarray) -> np.ndarray:
    values = 10 ** (((codes.astype(np.float64) - 1) * _ENERGY_STEP_DB + _ENERGY_FLOOR_DB) / 10)
    return np.where(codes == 0, 0.0, values)


class BlockStore:
    """One byte per block for the whole session, kept in an unnamed temporary file rather than in
    memory (10 MB for 3 hours, which would be the part of a build's memory that grows with the
    session's length); read and written a slice at a time, also by forked workers (positioned
    reads and writes share no file offset). The file has no name, so nothing is left behind.
    Where no such file can be made (or on Windows), the bytes stay in memory."""

    def __init__(self, n: int, folder: Path | None = None) -> None:
        self._n = n
        self._max = 0
        self._memory: np.ndarray | None = None
        self._file: BinaryIO | None = None
        try:
            if hasattr(os, "pread"):  # positioned reads and writes: not on Windows
                self._file = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 - closed by close()
                self._file.truncate(n)  # sparse: reads as zeros until written
        except OSError:
            self.close()
            self._file = None
        if self._file is None:
            self._memory = np.zeros(n, dtype=np.uint8)

    def __len__(self) -> int:
        return self._n

    def _bounds(self, span: slice) -> tuple[int, int]:
        lo, hi, step = span.indices(self._n)
        if step != 1:
            raise ValueError("a BlockStore is read and written in plain slices")
        return lo, max(lo, hi)

    def __getitem__(self, span: slice) -> np.ndarray:
        lo, hi = self._bounds(span)
        if self._memory is not None:
            return self._memory[lo:hi].copy()
        data = os.pread(self._file.fileno(), max(0, hi - lo), lo)  # type: ignore[union-attr]
        return np.frombuffer(data, dtype=np.uint8).copy() if len(data) == hi - lo else \
            np.pad(np.frombuffer(data, dtype=np.uint8), (0, hi - lo - len(data)))

    def __setitem__(self, span: slice, codes: np.ndarray) -> None:
        lo, hi = self._bounds(span)
        codes = np.asarray(codes, dtype=np.uint8)[:hi - lo]
        self._max = max(self._max, int(codes.max(initial=0)))
        if self._memory is None:
            try:
                view, at = memoryview(codes.tobytes()), lo
                while view:
                    written = os.pwrite(self._file.fileno(), view, at)  # type: ignore[union-attr]
                    view, at = view[written:], at + written
                return
            except OSError:  # a full disk: go on in memory
                self._memory = self[:]
                self.close()
                self._file = None
        self._memory[lo:lo + len(codes)] = codes

    def max(self, initial: int = 0) -> int:
        return max(self._max, initial)

    def rescan_max(self) -> None:
        """Forget the largest code written and find the largest held (after codes were lowered)."""
        self._max = 0
        for at in range(0, self._n, _SCAN_BLOCKS):
            self._max = max(self._max, int(self[at:at + _SCAN_BLOCKS].max(initial=0)))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


@dataclass(frozen=True)
class Gain:
    """What the gain search settled on."""

    gain_db: float
    limited: bool
    """Whether the look-ahead limiter has work to do at this gain."""
    loudness_lufs: float
    """The session's loudness at this gain, with the limiter."""

    @property
    def factor(self) -> np.float32:
        return np.float32(db_to_gain(self.gain_db))


class Measurement:
    """What looking at a timeline found, for finding its gain and applying it.

    Memory stays flat with length: only the energy of each 100 ms is kept in memory, and a one-byte
    peak and a byte of weighted energy per ~1 ms block in temporary files (`BlockStore`); the
    limiter's gains are worked out chunk by chunk from the peaks around it.
    One look at the session (`measure`) does most of the work: the energy of every 100 ms and the
    sample peak of every block. True peaks (4x oversampled) are then measured only where a block,
    after a gain, comes near the ceiling (`ensure_true_peaks`), and the loudness with the limiter
    on is worked out from those two (`loudness_at`), so finding the gain costs no further pass.
    """

    def __init__(self, timeline: Timeline, ceiling_dbtp: float = CEILING_DBTP, workers: int = 1,
                 scratch: Path | None = None) -> None:
        self.timeline = timeline
        self.block = _BLOCK
        self.workers = workers
        assert (CHUNK_S * timeline.rate) % _BLOCK == 0, "limiter blocks must tile every chunk exactly"
        self._k = KWeighting(timeline.rate)
        self._lead = -(-self._k.memory // self.block) * self.block  # filter memory, whole blocks
        blocks = -(-timeline.length // self.block)
        self.peaks = BlockStore(blocks, scratch)
        """Each block's peak (of the voice and chimes; once the bed is placed, of the whole mix: an upper
        bound where not yet a true peak)."""
        self._scratch = scratch
        self._bound = False  # whether the peaks are bounds, to be replaced by true peaks
        self._energy = BlockStore(blocks, scratch)  # each block's K-weighted energy (energy_codes)
        self._bed_peaks = BlockStore(blocks, scratch) if timeline.bed is not None else None
        self.bed_factor = np.float32(0.0)
        """The bed's gain in the mix at unity gain (0 until it is placed under the levelled voice)."""
        self.bed_gain_db = float("-inf")
        # each 100 ms: the weighted energy of the bed (4 bytes: ample for loudness)
        self._bed_energy = np.zeros(0, dtype=np.float32)
        self._true_up_to_db = -np.inf  # the gain up to which the peaks that matter are true peaks
        self._peaks_version = 0  # counts changes to the peaks, which the limiter's factors follow
        self._factors: tuple[tuple[float, int], list[tuple[int, np.ndarray]]] | None = None
        self.ceiling = db_to_gain(ceiling_dbtp - _MP3_MARGIN_DB)
        self.plain = np.zeros(0)
        """Weighted energy of every 100 ms at unity gain (of the voice and chimes: not the bed)."""
        self.loudness_lufs = float("-inf")
        """The loudness at unity gain (minus infinity for silence)."""

    def close(self) -> None:
        """Drop the peak and energy files and the decoded bed (the levelled session can no longer be read)."""
        self.peaks.close()
        self._energy.close()
        if self._bed_peaks is not None:
            self._bed_peaks.close()
        self.timeline.close()

    def mix(self, start: int, end: int) -> np.ndarray:
        """Samples [start, end) of the whole mix at unity gain: voice and chimes, and the bed at its gain."""
        x = self.timeline.span(start, end)
        if self.bed_factor:
            x += self.bed_factor * self.timeline.bed_span(start, end)
        return x

    @property
    def silent(self) -> bool:
        return not np.isfinite(self.loudness_lufs)

    def loudness_at(self, gain_db: float) -> tuple[float, bool]:
        """The session's loudness at a gain, with the limiter where it is needed, and whether it is."""
        gain = np.float32(db_to_gain(gain_db))
        limited = self.loudest() * float(gain) > self.ceiling
        if not limited:
            return self.loudness_lufs + gain_db, False
        return integrated_loudness(self._limited_energies(gain), self.timeline.rate), True

    def _run(self, tasks: list[Callable[[], object]], keep: Callable[[int, object], None]) -> None:
        """Run measuring tasks in parallel children where the platform forks; the results do not
        depend on how they are run (every span is measured from rest, `_lead` samples early)."""
        if self.workers > 1 and len(tasks) > 1 and forked.available():
            forked.run_forked(tasks, self.workers, _MEASURE_TIMEOUT_S, keep,
                              lambda i: f"measuring the mix, part {i + 1}", WorkerError, fresh=False)
        else:
            for i, task in enumerate(tasks):
                keep(i, task())

    def _groups(self, spans: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
        """Spans grouped into tasks of about `_GROUP_CHUNKS` chunks' worth of samples."""
        groups: list[list[tuple[int, int]]] = [[]]
        size, limit = 0, _GROUP_CHUNKS * CHUNK_S * self.timeline.rate
        for span in spans:
            if size >= limit:
                groups.append([])
                size = 0
            groups[-1].append(span)
            size += span[1] - span[0]
        return [g for g in groups if g]

    def first_pass(self) -> None:
        """Measure the energy of every 100 ms at unity gain (`plain`, `loudness_lufs`); fill `peaks`
        with each block's sample peak and the block energies with its weighted energy."""
        step = CHUNK_S * self.timeline.rate
        spans = [(s, min(s + step, self.timeline.length)) for s in range(0, self.timeline.length, step)]
        groups = self._groups(spans)
        energies: list[np.ndarray] = [np.zeros(0)] * len(groups)

        def keep(i: int, result: object) -> None:
            energies[i], peaks, blocks, *bed = cast(tuple[np.ndarray, ...], result)
            at = groups[i][0][0] // self.block
            self.peaks[at:at + len(peaks)] = peaks
            self._energy[at:at + len(blocks)] = blocks
            if bed:
                bed_peaks, = bed
                assert self._bed_peaks is not None
                self._bed_peaks[at:at + len(bed_peaks)] = bed_peaks

        self._run([partial(self._measure_plain, g) for g in groups], keep)
        self.plain = np.concatenate(energies) if energies else np.zeros(0)
        self.loudness_lufs = integrated_loudness(self.plain, self.timeline.rate)
        if self.timeline.bed is not None:
            self._bed_energy = self.timeline.bed.hop_energies(len(self.plain)).astype(np.float32)

    def place_bed(self, voice: Gain) -> None:
        """Set the music bed under the voice as levelled (`voice`: the gain found for the voice and chimes
        alone, from their sample peaks): `volume_lu` under the voice's loudness, or lower where that
        would move the session's loudness too far from the voice's (`_within_gate`). Then make the
        stored peaks the mix's: each block's voice peak plus its bed's peak 3 dB up (room for the bed's
        own peaks between samples), at least the sample peak of the sum, so the true peaks that
        `find_gain` then measures where they matter are the mix's (as `ensure_true_peaks` says)."""
        bed = self.timeline.bed
        if bed is None or self._bed_peaks is None or self.silent:
            return
        asked = bed.gain_db(voice.loudness_lufs) - voice.gain_db
        self.bed_gain_db = self._within_gate(asked, voice)
        self.bed_factor = np.float32(db_to_gain(self.bed_gain_db))
        log.info("music bed: %.2f LUFS as decoded, %+.2f dB to sit %.1f LU under the voice",
                 bed.track.loudness_lufs if bed.track else float("nan"), asked + voice.gain_db, -bed.settings.volume_lu)
        if self.bed_gain_db < asked:
            log.info("music bed set %.1f dB lower than asked, so that the session measures within %.1f LU of its "
                     "voice (BS.1770 averages a bed that rises above its gate in with the voice)",
                     asked - self.bed_gain_db, _MIX_TOLERANCE_LU)
        allowance = self.bed_factor * np.float32(db_to_gain(_BED_TRUE_PEAK_DB))
        for at in range(0, len(self.peaks), _SCAN_BLOCKS):
            voice_peaks = peak_values(self.peaks[at:at + _SCAN_BLOCKS])
            music = peak_values(self._bed_peaks[at:at + _SCAN_BLOCKS])
            self.peaks[at:at + len(voice_peaks)] = peak_codes(voice_peaks + allowance * music)
        self._peaks_version += 1
        self._bound = True
        self._true_up_to_db = -np.inf  # none measured yet: the first search measures the loudest too

    def _within_gate(self, asked_db: float, voice: Gain) -> float:
        """The bed's gain: as asked, or as much lower (in 0.5 dB steps) as keeps the whole mix's loudness
        within `_MIX_TOLERANCE_LU` of the voice's. BS.1770's relative gate leaves out what is 10 LU under
        the session's mean: with speech sparse, the mean is low enough that a bed 15 LU under the voice
        is counted, and the average over long stretches of quiet bed reads several LU under the voice,
        which is as loud as ever. (At the voice's gain, with the limiter as it acts on the voice.)"""
        gain = voice.factor
        limited = self._limited(self.plain, gain)
        g2 = float(gain) ** 2
        for step in range(int(40 / 0.5) + 1):
            gain_db = asked_db - 0.5 * step
            b = db_to_gain(gain_db)
            energies = limited + g2 * b * b * self._bed_energy
            if abs(integrated_loudness(energies, self.timeline.rate) - voice.loudness_lufs) <= _MIX_TOLERANCE_LU:
                return gain_db
        return asked_db - 40.0

    def _measure_plain(self, spans: list[tuple[int, int]]) -> tuple[np.ndarray, ...]:
        """Of the voice and chimes: the weighted energy of each 100 ms, each block's peak and weighted
        energy; with a bed, also each block's bed peak."""
        energies, peaks, blocks, bed_peaks = [], [], [], []
        bed = self.timeline.bed
        for start, end in spans:
            x = self.timeline.span(start - self._lead, end)
            if bed is not None:
                bed_peaks.append(self._block_peaks(bed.span(start, end)))
            power = self._k.power(x, self._lead)
            energies.append(sums(power, self._k.hop))
            blocks.append(energy_codes(sums(power, self.block, partial=True)))
            peaks.append(self._block_peaks(x[self._lead:]))
        found: tuple[np.ndarray, ...] = (np.concatenate(energies), np.concatenate(peaks), np.concatenate(blocks))
        if bed is not None:
            found += (np.concatenate(bed_peaks),)
        return found

    def _block_peaks(self, x: np.ndarray) -> np.ndarray:
        """Each block's sample peak as a code (a short last block as it is)."""
        whole = len(x) // self.block * self.block
        peaks = np.abs(x[:whole]).reshape(-1, self.block).max(axis=1)
        if whole < len(x):
            peaks = np.append(peaks, np.abs(x[whole:]).max())
        return peak_codes(peaks)

    @property
    def bounds(self) -> bool:
        """Whether stored peaks may be bounds above the true peaks (under a music bed), which measuring
        lowers, rather than sample peaks under them, which measuring raises."""
        return self._bound

    def ensure_true_peaks(self, gain_db: float) -> bool:
        """Replace sample peaks by true peaks (4x oversampled) in the blocks that matter at gains up to
        `gain_db` + 2 dB: those whose neighbourhood (the block and the ones either side) has a sample
        peak within 4 dB of the ceiling (and, the first time, within 4 dB of the loudest block, so
        the session's true peak is measured too). A block's true peak is within ~1 dB of its
        neighbourhood's sample peak (seen: 1.2 dB at most on a whole session), so the others cannot
        reach the ceiling. A gain beyond that measures again at the new one. Whether it measured."""
        if gain_db <= self._true_up_to_db:
            return False
        first = self._true_up_to_db == -np.inf
        self._true_up_to_db = gain_db + _TRUE_PEAK_HEADROOM_DB
        threshold = self._threshold(self._true_up_to_db)
        if first:  # and the loudest blocks, whatever the gain: the true peak the build reports
            threshold = min(threshold, self.peaks.max() - round(_TRUE_PEAK_MARGIN_DB / _PEAK_STEP_DB) - 1)
        self._measure_true_peaks(self._block_runs(lambda p, lo: _neighbourhood(p) > threshold))
        return True

    def _threshold(self, up_to_db: float) -> int:
        """The peak code above which a block (or a neighbour) may come within reach of the ceiling at
        gains up to `up_to_db`."""
        return _code_below(self.ceiling / db_to_gain(up_to_db + _TRUE_PEAK_MARGIN_DB))

    def _measure_true_peaks(self, runs: list[tuple[int, int]]) -> None:
        spans = [(a * self.block, min(self.timeline.length, b * self.block)) for a, b in runs]
        groups = self._groups(spans)

        bound = self._bound  # the stored peaks are bounds: a true peak replaces them

        def keep(i: int, result: object) -> None:
            for (start, _), codes in zip(groups[i], cast(list[np.ndarray], result)):
                at = start // self.block
                self.peaks[at:at + len(codes)] = codes if bound else \
                    np.maximum(self.peaks[at:at + len(codes)], codes)

        self._run([partial(self._true_peak_codes, g) for g in groups], keep)
        self._peaks_version += 1
        if bound:
            self.peaks.rescan_max()

    def _true_peak_codes(self, spans: list[tuple[int, int]]) -> list[np.ndarray]:
        return [peak_codes(true_peak_blocks(self.mix(s - _PAD, e + _PAD), self.block, _PAD)) for s, e in spans]

    def _block_runs(self, select: Callable[[np.ndarray, int], np.ndarray]) -> list[tuple[int, int]]:
        """(first, stop) of each run of blocks whose peak codes `select` picks (given the codes from block
        `lo` on; runs less than 250 ms apart joined), scanned a slice at a time: a whole 3-hour mask would
        take 10 MB, its temporaries far more."""
        runs: list[tuple[int, int]] = []
        for at in range(0, len(self.peaks), _SCAN_BLOCKS):
            lo = max(0, at - 1)  # one block of overlap: `select` may look at neighbours
            mask = select(self.peaks[lo:at + _SCAN_BLOCKS + 1], lo)[at - lo:at - lo + _SCAN_BLOCKS]
            for a, b in _mask_runs(mask, _BRIDGE_BLOCKS):
                if runs and at + a - runs[-1][1] < _BRIDGE_BLOCKS:  # across a slice edge
                    runs[-1] = (runs[-1][0], at + b)
                else:
                    runs.append((at + a, at + b))
        return runs

    def _limited_energies(self, gain: np.float32) -> np.ndarray:
        """Weighted energy of every 100 ms with the gain and the limiter, without another look at
        the audio: the plain energy times the gain squared, and in each 100 ms the limiter touches,
        times its gain squared averaged over the blocks, each weighted by its own weighted energy.
        (This takes the limiter's gain as steady within a block: against pyloudnorm on the
        finished audio it is within 0.001 LU on the seed session at -13, -16 and -20 LUFS, and within
        0.05 LU on peaky test sounds, where the tests check it.)"""
        return self._limited(self.plain, gain)

    def _limited(self, plain: np.ndarray, gain: np.float32) -> np.ndarray:
        """`plain` (energies of every 100 ms) at a gain, with the limiter's effect there as on the voice."""
        energies = plain * float(gain) ** 2
        for at, factor in self._limiter_factors(gain):
            energies[at:at + len(factor)] *= factor
        return energies

    def _limiter_factors(self, gain: np.float32) -> list[tuple[int, np.ndarray]]:
        """Where the limiter acts at a gain, (first 100 ms, what it leaves of each 100 ms's energy), a slice
        at a time (memory stays flat); kept for the last gain asked (the mix's loudness asks again)."""
        key = (float(gain), self._peaks_version)
        if self._factors is not None and self._factors[0] == key:
            return self._factors[1]
        per_hop = self._k.hop // self.block
        hops = len(self.plain)
        found = []
        step = _SCAN_BLOCKS // per_hop * per_hop
        for lo in range(0, hops * per_hop, step):
            hi = min(hops * per_hop, lo + step)
            around = self.peaks[max(0, lo - _CONTEXT):hi + _CONTEXT]
            if around.max(initial=0) <= _code_below(self.ceiling / float(gain)):
                continue  # nothing here or near reaches the ceiling: no block's gain is lowered
            gains = self.limiter(lo, hi, gain).astype(np.float64)
            weights = energy_values(self._energy[lo:hi])
            kept = (gains ** 2 * weights).reshape(-1, per_hop).sum(axis=1)
            total = weights.reshape(-1, per_hop).sum(axis=1)
            found.append((lo // per_hop, np.where(total > 0, kept / np.maximum(total, 1e-300), 1.0)))
        self._factors = (key, found)
        return found

    def mix_loudness(self, gain_db: float) -> float:
        """The whole mix's loudness at a gain, music and all: each 100 ms's energy the voice's plus the
        bed's (voice and music are unrelated: what they share in a 100 ms is noise, 0.001 LU on the seed),
        with the limiter's effect where it acts taken as it is on the voice (the louder part there)."""
        if not self.bed_factor:
            return self.loudness_at(gain_db)[0]
        b = float(self.bed_factor)
        plain = self.plain + b * b * self._bed_energy
        gain = np.float32(db_to_gain(gain_db))
        if self.loudest() * float(gain) <= self.ceiling:
            return integrated_loudness(plain * float(gain) ** 2, self.timeline.rate)
        return integrated_loudness(self._limited(plain, gain), self.timeline.rate)

    def loudest(self) -> float:
        return float(peak_values(np.array([self.peaks.max(initial=0)]))[0]) if len(self.peaks) else 0.0

    def limiter(self, first: int, last: int, gain: np.float32) -> np.ndarray:
        """The limiter's gains for blocks [first, last) at a gain, from the peaks around them (the same
        as for the whole session)."""
        lo, hi = max(0, first - _CONTEXT), min(len(self.peaks), last + _CONTEXT)
        gains = limiter_gains(peak_values(self.peaks[lo:hi]) * gain, self.ceiling)
        return gains[first - lo: first - lo + (last - first)]



def measure(timeline: Timeline, ceiling_dbtp: float = CEILING_DBTP, workers: int = 1,
            scratch: Path | None = None) -> Measurement:
    """Look at the whole timeline once (in parallel children where the platform forks)."""
    measurement = Measurement(timeline, ceiling_dbtp, workers, scratch)
    try:
        timeline.prepare(scratch)
        measurement.first_pass()
    except BaseException:
        measurement.close()
        raise
    return measurement


def find_gain(m: Measurement, target_lufs: float, start_db: float | None = None, true_peaks: bool = True,
              within_lu: float = 0.02) -> Gain:
    """The gain that brings the measured session to `target_lufs` with the limiter keeping its true
    peaks under the ceiling (at most +40 dB: a target out of reach gets the loudness it can).

    The limiter lowers loudness a little, so the gain goes past the plain difference: a secant
    search, measuring true peaks where each gain tried brings blocks near the ceiling (from `start_db`
    when given: a gain known to be close; without `true_peaks`, from the sample peaks alone, and to
    `within_lu` of the target: a close estimate, for what only needs one).
    """
    if m.silent:
        log.info("the session is silent: no gain")
        return Gain(0.0, False, m.loudness_lufs)
    gain_db = min(_MAX_GAIN_DB, target_lufs - m.loudness_lufs) if start_db is None else start_db
    if start_db is None:
        log.info("measured %.2f LUFS before levelling; target %.2f LUFS", m.loudness_lufs, target_lufs)
    if true_peaks:
        m.ensure_true_peaks(gain_db)
    low, high = -np.inf, np.inf  # gains known to give too little / too much
    previous: tuple[float, float] | None = None
    for _ in range(16):
        loudness, limited = m.loudness_at(gain_db)
        log.debug("gain %+.2f dB gives %.2f LUFS%s", gain_db, loudness, " (limited)" if limited else "")
        if abs(loudness - target_lufs) < within_lu or (not limited and loudness >= target_lufs):
            return Gain(gain_db, limited, loudness)
        if loudness < target_lufs:
            low = gain_db
        else:
            high = gain_db
        # secant step: once the limiter works, more gain buys less loudness, so start from a typical
        # slope and learn the real one; a step that leaves the bracket found so far halves it instead
        slope = 0.6
        if previous is not None and gain_db != previous[0]:
            slope = min(1.0, max(0.05, (loudness - previous[1]) / (gain_db - previous[0])))
        previous = (gain_db, loudness)
        step = min(_MAX_GAIN_DB, gain_db + (target_lufs - loudness) / slope)
        if not low < step < high and np.isfinite(low) and np.isfinite(high):
            step = (low + high) / 2
        if step == gain_db:  # the loudest it can be (a target out of reach at the gain cap)
            return Gain(gain_db, limited, loudness)
        gain_db = float(step)
        if true_peaks and m.ensure_true_peaks(gain_db) and m.bounds:  # more gain: more blocks may come near
            # true peaks replaced bounds, which lowered the limiter's work: what was too quiet may not be
            low, high, previous = -np.inf, np.inf, None
    loudness, limited = m.loudness_at(gain_db)  # out of tries: the last gain, as it is
    return Gain(gain_db, limited, loudness)


class LevelledSession:
    """A measured timeline with its gain applied: the levelled samples, chunk by chunk."""

    def __init__(self, measurement: Measurement, gain: Gain) -> None:
        self.measurement = measurement
        self.timeline = measurement.timeline
        self.gain = gain
        # the mix's loudness reads the stored peaks: work it out while they are there
        self._levels = self._levels_now() if self.timeline.bed is not None else None

    def _apply(self, start: int, x: np.ndarray) -> np.ndarray:
        m, gain = self.measurement, self.gain.factor
        y = x * gain
        if not self.gain.limited:
            return y
        first = max(0, start // m.block - 1)
        last = min(len(m.peaks), (start + len(x)) // m.block + 2)
        if first >= last:
            return y
        return y * _gain_curve(m.limiter(first, last, gain), first, m.block, start, len(x))

    def pcm16_chunks(self, first: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """The levelled session (or the span [first, stop)) as 16-bit chunks, ready for the encoder."""
        bed = self.timeline.bed is not None
        for start, x in self.timeline.chunks(first=first, stop=stop):
            if bed:
                x += self.measurement.bed_factor * self.timeline.bed_span(start, start + len(x))
            yield to_pcm16(self._apply(start, x))

    def levels(self) -> Levels:
        return self._levels or self._levels_now()

    def _levels_now(self) -> Levels:
        m = self.measurement
        peak = m.loudest() * float(self.gain.factor)
        if self.gain.limited:
            peak = min(peak, m.ceiling)
        peak_db = gain_to_db(peak)
        gain = round(float(self.gain.gain_db), 2)
        if not m.bed_factor:
            return Levels(round(float(self.gain.loudness_lufs), 2), round(peak_db, 2), gain)
        return Levels(round(m.mix_loudness(self.gain.gain_db), 2), round(peak_db, 2), gain,
                      voice_lufs=round(float(self.gain.loudness_lufs), 2),
                      music_gain_db=round(m.bed_gain_db + self.gain.gain_db, 2))

    def music_summary(self) -> dict[str, Any] | None:
        """What the plan records of the music bed (`music.Bed.summary`), None without one."""
        bed = self.timeline.bed
        return None if bed is None else bed.summary(self.measurement.bed_gain_db + self.gain.gain_db)

    def close(self) -> None:
        self.measurement.close()


def level(timeline: Timeline, target_lufs: float = TARGET_LUFS, ceiling_dbtp: float = CEILING_DBTP,
          workers: int = 1, scratch: Path | None = None) -> LevelledSession:
    """Measure a timeline and find its gain: the session ready to be rendered (close it after)."""
    measurement = measure(timeline, ceiling_dbtp, workers, scratch)
    try:
        if timeline.bed is None:
            gain = find_gain(measurement, target_lufs)
        else:  # the voice's gain (from its sample peaks: close enough to set the bed by), then the mix's
            voice = find_gain(measurement, target_lufs, true_peaks=False, within_lu=0.1)
            measurement.place_bed(voice)
            gain = find_gain(measurement, target_lufs, start_db=voice.gain_db)
        return LevelledSession(measurement, gain)
    except BaseException:
        measurement.close()
        raise





def _code_below(value: float) -> int:
    """The largest peak code whose peak is at most `value` (a block coded above it may exceed it)."""
    return int(peak_codes(np.array([value], dtype=np.float32))[0]) - 1


def _neighbourhood(codes: np.ndarray) -> np.ndarray:
    """Each code or its neighbour's, whichever is larger."""
    out = codes.copy()
    np.maximum(out[1:], codes[:-1], out=out[1:])
    np.maximum(out[:-1], codes[1:], out=out[:-1])
    return out


def _mask_runs(mask: np.ndarray, bridge: int = 0) -> list[tuple[int, int]]:
    """(first, stop) of each run of True in mask; runs fewer than `bridge` apart are joined."""
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    runs: list[tuple[int, int]] = []
    for a, b in zip(edges[::2].tolist(), edges[1::2].tolist()):
        if runs and a - runs[-1][1] < bridge:
            runs[-1] = (runs[-1][0], b)
        else:
            runs.append((a, b))
    return runs
