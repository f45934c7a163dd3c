"""Lay clips and chimes on the timeline at exact sample positions, level the session, stream it out.

The session is rendered a chunk at a time, never whole, so memory does not grow with its length:
one pass measures the loudness of every 100 ms and the peak and loudness of every ~1 ms block;
from those the gain and a look-ahead limiter are worked out (true peaks measured where they
matter), and a last pass applies them and hands 16-bit chunks to the encoder. Rendering is cheap
(a sum of the few clips that overlap each chunk), so passing twice costs less than keeping an hour
of audio in memory.
"""
from __future__ import annotations

import os
import tempfile
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Mapping

import numpy as np

from . import forked
from .errors import WorkerError
from .interrupts import deferred
from .loudness import KWeighting, integrated_loudness, sums
from .plan import Kind, Plan, Utterance

TARGET_LUFS = -16.0
CEILING_DBTP = -1.0
_MP3_MARGIN_DB = 0.7  # encoding adds overshoot; limit below the ceiling so the MP3 stays under it
_OVERSAMPLE = 4
CHUNK_S = 10
_PAD = 64  # samples of context either side of a chunk for the oversampling filter
SEGMENT_S = 30
"""Length of the MP3 segments encoded in parallel (cut points depend on the plan only, so the bytes
do not depend on how many cores encode them)."""
MP3_FRAME = 1152
MP3_DELAY = 1105  # LAME's encoder delay (576) plus the decoder's (529)
_JOIN_GAP = MP3_FRAME + MP3_DELAY
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


@dataclass(frozen=True)
class Levels:
    """What levelling did, for the build report."""

    loudness_lufs: float
    true_peak_dbtp: float
    gain_db: float


def ms_to_samples(ms: int, rate: int) -> int:
    return ms * rate // 1000


class Timeline:
    """The session as a function of time: any span of samples, rendered on demand from the plan."""

    def __init__(self, plan: Plan, clip: Callable[[Utterance], np.ndarray], chimes: Mapping[str, np.ndarray],
                 rate: int, chime_gain_db: float = CHIME_GAIN_DB) -> None:
        self.rate = rate
        self.length = ms_to_samples(plan.duration_ms, rate)
        self._clip = clip
        self._chimes = {k: (v * np.float32(10 ** (chime_gain_db / 20))).astype(np.float32) for k, v in chimes.items()}
        self._events = sorted(plan.events, key=lambda e: e.start_ms)
        self._starts = [ms_to_samples(e.start_ms, rate) for e in self._events]
        # generous upper bound of any event's reach, so a span finds its events by start time
        self._longest = max((ms_to_samples(e.duration_ms, rate) for e in self._events), default=0) + rate

    def span(self, start: int, end: int) -> np.ndarray:
        """Samples [start, end) of the mix (zeros outside the session)."""
        out = np.zeros(end - start, dtype=np.float32)
        for i in range(bisect_left(self._starts, start - self._longest), len(self._events)):
            event, at = self._events[i], self._starts[i]
            if at >= end:
                break
            x = self._clip(event.utterance) if event.kind is Kind.SPEECH else self._chimes[event.sound]
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

    def segments(self, every_s: int = SEGMENT_S) -> list[tuple[int, int]]:
        """Spans (start, stop) to encode separately and join: each cut falls in exact silence, on an MP3
        frame boundary, so the joined MP3 decodes sample for sample where one long encode would.

        An MP3 encoder delays its audio by `MP3_DELAY` samples and ends on a whole frame: a span that
        stops `_JOIN_GAP` samples before the next span's start fills exactly the frames up to that start
        (measured with LAME), and the silence it leaves out is the silence the frames decode to.
        """
        busy = sorted((s, s + ms_to_samples(e.duration_ms, self.rate) + self.rate // 100)
                      for s, e in zip(self._starts, self._events))
        cuts, target = [], every_s * self.rate
        free_from = 0
        for lo, hi in busy + [(self.length, self.length)]:
            cut = -(-(free_from + _JOIN_GAP) // MP3_FRAME) * MP3_FRAME
            if cut >= target and cut <= lo and cut < self.length - every_s * self.rate // 2:
                cuts.append(cut)
                target = cut + every_s * self.rate
            free_from = max(free_from, hi)
        starts = [0, *cuts]
        stops = [c - _JOIN_GAP for c in cuts] + [self.length]
        return list(zip(starts, stops))


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
                self._file = tempfile.TemporaryFile(dir=folder)
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

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class Leveller:
    """Finds the gain and limiter curve that bring a timeline to the target loudness and ceiling.

    Memory stays flat with length: only the energy of each 100 ms is kept in memory, and a one-byte
    peak and a byte of weighted energy per ~1 ms block in temporary files (`BlockStore`); the
    limiter's gains are worked out chunk by chunk from the peaks around it.
    One look at the session does most of the work: it measures the energy of every 100 ms and the
    sample peak of every block. True peaks (4x oversampled) are then measured only where a block,
    after the gain, comes near the ceiling, and the loudness with the limiter on is worked out
    from those two (see `_limited_energies`), so finding the gain costs no further pass.
    """

    def __init__(self, timeline: Timeline, target_lufs: float = TARGET_LUFS,
                 ceiling_dbtp: float = CEILING_DBTP, workers: int = 1, scratch: Path | None = None) -> None:
        self.timeline = timeline
        self.block = _BLOCK
        self.workers = workers
        assert (CHUNK_S * timeline.rate) % _BLOCK == 0, "limiter blocks must tile every chunk exactly"
        self._k = KWeighting(timeline.rate)
        self._lead = -(-self._k.memory // self.block) * self.block  # filter memory, whole blocks
        self.gain_db = 0.0
        self.limited = False
        blocks = -(-timeline.length // self.block)
        self.peaks = BlockStore(blocks, scratch)
        self._energy = BlockStore(blocks, scratch)  # each block's K-weighted energy (energy_codes)
        self._true_up_to_db = -np.inf  # the gain up to which the peaks that matter are true peaks
        self.ceiling = 10 ** ((ceiling_dbtp - _MP3_MARGIN_DB) / 20)
        try:
            self._find_gain(target_lufs)
        except BaseException:
            self.close()
            raise

    def _find_gain(self, target_lufs: float) -> None:
        plain = self._first_pass()  # fills self.peaks (sample peaks) and self._energy
        measured = integrated_loudness(plain, self.timeline.rate)
        self.silent = not np.isfinite(measured)
        self.gain_db = 0.0 if self.silent else min(_MAX_GAIN_DB, target_lufs - measured)
        self.loudness = measured
        if self.silent:
            return
        self._true_peaks(self.gain_db)
        low, high = -np.inf, np.inf  # gains known to give too little / too much
        previous: tuple[float, float] | None = None
        for _ in range(16):  # the limiter lowers loudness a little: raise the gain before it
            self.loudness = self._loudness(plain, measured)
            if abs(self.loudness - target_lufs) < 0.02 or (not self.limited and self.loudness >= target_lufs):
                return
            if self.loudness < target_lufs:
                low = self.gain_db
            else:
                high = self.gain_db
            # secant step: once the limiter works, more gain buys less loudness (seen: about 0.5-0.6 dB
            # per dB on eSpeak speech), so start from that and learn the real slope; a step that
            # leaves the bracket found so far halves it instead
            slope = 0.6
            if previous is not None and self.gain_db != previous[0]:
                slope = min(1.0, max(0.05, (self.loudness - previous[1]) / (self.gain_db - previous[0])))
            previous = (self.gain_db, self.loudness)
            step = min(_MAX_GAIN_DB, self.gain_db + (target_lufs - self.loudness) / slope)
            if not low < step < high and np.isfinite(low) and np.isfinite(high):
                step = (low + high) / 2
            if step == self.gain_db:  # the loudest it can be (a target out of reach at the gain cap)
                return
            self.gain_db = float(step)
            self._true_peaks(self.gain_db)  # more gain: more blocks may come near
        self.loudness = self._loudness(plain, measured)  # out of tries: the last gain, as it is

    def close(self) -> None:
        """Drop the peak and energy files (the levelled session can no longer be read)."""
        self.peaks.close()
        self._energy.close()

    def _loudness(self, plain: np.ndarray, measured: float) -> float:
        """The session's loudness at the current gain, with the limiter where it is needed."""
        self.limited = self._loudest() * float(self._gain()) > self.ceiling
        if not self.limited:
            return measured + self.gain_db
        return integrated_loudness(self._limited_energies(plain), self.timeline.rate)

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

    def _first_pass(self) -> np.ndarray:
        """Weighted energy of every 100 ms at unity gain; fills `self.peaks` with each block's sample
        peak and `self._energy` with its weighted energy."""
        step = CHUNK_S * self.timeline.rate
        spans = [(s, min(s + step, self.timeline.length)) for s in range(0, self.timeline.length, step)]
        groups = self._groups(spans)
        energies: list = [None] * len(groups)

        def keep(i: int, result: object) -> None:
            energies[i], peaks, blocks = result  # type: ignore[misc]
            at = groups[i][0][0] // self.block
            self.peaks[at:at + len(peaks)] = peaks
            self._energy[at:at + len(blocks)] = blocks

        self._run([lambda g=g: self._measure_plain(g) for g in groups], keep)
        return np.concatenate(energies) if energies else np.zeros(0)

    def _measure_plain(self, spans: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        energies, peaks, blocks = [], [], []
        for start, end in spans:
            x = self.timeline.span(start - self._lead, end)
            power = self._k.power(x, self._lead)
            energies.append(sums(power, self._k.hop))
            blocks.append(energy_codes(sums(power, self.block, partial=True)))
            core = np.abs(x[self._lead:])
            n = -(-len(core) // self.block)
            peaks.append(peak_codes(np.pad(core, (0, n * self.block - len(core))).reshape(n, self.block).max(axis=1)))
        return np.concatenate(energies), np.concatenate(peaks), np.concatenate(blocks)

    def _true_peaks(self, gain_db: float) -> None:
        """Replace sample peaks by true peaks (4x oversampled) in the blocks that matter at gains up to
        `gain_db` + 2 dB: those whose neighbourhood (the block and the ones either side) has a sample
        peak within 4 dB of the ceiling (and, the first time, within 4 dB of the loudest block, so
        the session's true peak is measured too). A block's true peak is within ~1 dB of its
        neighbourhood's sample peak (seen: 1.2 dB at most on a whole session), so the others cannot
        reach the ceiling. A gain beyond that measures again at the new one."""
        if gain_db <= self._true_up_to_db:
            return
        first = self._true_up_to_db == -np.inf
        self._true_up_to_db = gain_db + _TRUE_PEAK_HEADROOM_DB
        threshold = _code_below(self.ceiling / 10 ** ((self._true_up_to_db + _TRUE_PEAK_MARGIN_DB) / 20))
        if first:  # and the loudest blocks, whatever the gain: the true peak the build reports
            threshold = min(threshold, self.peaks.max() - round(_TRUE_PEAK_MARGIN_DB / _PEAK_STEP_DB) - 1)
        runs = self._block_runs(lambda p: _neighbourhood(p) > threshold)
        spans = [(a * self.block, min(self.timeline.length, b * self.block)) for a, b in runs]
        groups = self._groups(spans)

        def keep(i: int, result: object) -> None:
            for (start, _), codes in zip(groups[i], result):  # type: ignore[call-overload]
                at = start // self.block
                self.peaks[at:at + len(codes)] = np.maximum(self.peaks[at:at + len(codes)], codes)

        self._run([lambda g=g: [peak_codes(true_peak_blocks(self.timeline.span(s - _PAD, e + _PAD), self.block, _PAD))
                                for s, e in g] for g in groups], keep)

    def _block_runs(self, select: Callable[[np.ndarray], np.ndarray]) -> list[tuple[int, int]]:
        """(first, stop) of each run of blocks whose peak codes `select` picks (runs less than 250 ms
        apart joined), scanned a slice at a time: a whole 3-hour mask would take 10 MB, its temporaries far more."""
        runs: list[tuple[int, int]] = []
        for at in range(0, len(self.peaks), _SCAN_BLOCKS):
            lo = max(0, at - 1)  # one block of overlap: `select` may look at neighbours
            mask = select(self.peaks[lo:at + _SCAN_BLOCKS + 1])[at - lo:at - lo + _SCAN_BLOCKS]
            for a, b in _mask_runs(mask, _BRIDGE_BLOCKS):
                if runs and at + a - runs[-1][1] < _BRIDGE_BLOCKS:  # across a slice edge
                    runs[-1] = (runs[-1][0], at + b)
                else:
                    runs.append((at + a, at + b))
        return runs

    def _limited_energies(self, plain: np.ndarray) -> np.ndarray:
        """Weighted energy of every 100 ms with the gain and the limiter, without another look at
        the audio: the plain energy times the gain squared, and in each 100 ms the limiter touches,
        times its gain squared averaged over the blocks, each weighted by its own weighted energy.
        (This takes the limiter's gain as steady within a block: against pyloudnorm on the
        finished audio it is within 0.001 LU on the seed session at -13, -16 and -20 LUFS, and within
        0.05 LU on peaky test sounds, where the tests check it.)"""
        per_hop = self._k.hop // self.block
        energies = plain * float(self._gain()) ** 2
        step = _SCAN_BLOCKS // per_hop * per_hop
        for lo in range(0, len(energies) * per_hop, step):  # a slice at a time: memory stays flat
            hi = min(len(energies) * per_hop, lo + step)
            around = self.peaks[max(0, lo - _CONTEXT):hi + _CONTEXT]
            if around.max(initial=0) <= _code_below(self.ceiling / float(self._gain())):
                continue  # nothing here or near reaches the ceiling: no block's gain is lowered
            gains = self._limiter(lo, hi).astype(np.float64)
            weights = energy_values(self._energy[lo:hi])
            kept = (gains ** 2 * weights).reshape(-1, per_hop).sum(axis=1)
            total = weights.reshape(-1, per_hop).sum(axis=1)
            energies[lo // per_hop:hi // per_hop] *= np.where(total > 0, kept / np.maximum(total, 1e-300), 1.0)
        return energies

    def _loudest(self) -> float:
        return float(peak_values(np.array([self.peaks.max(initial=0)]))[0]) if len(self.peaks) else 0.0

    def _gain(self) -> np.float32:
        return np.float32(10 ** (self.gain_db / 20))

    def _limiter(self, first: int, last: int) -> np.ndarray:
        """The limiter's gains for blocks [first, last), from the peaks around them (same as for the whole)."""
        lo, hi = max(0, first - _CONTEXT), min(len(self.peaks), last + _CONTEXT)
        gains = limiter_gains(peak_values(self.peaks[lo:hi]) * self._gain(), self.ceiling)
        return gains[first - lo: first - lo + (last - first)]

    def _apply(self, start: int, x: np.ndarray) -> np.ndarray:
        y = x * self._gain()
        if not self.limited:
            return y
        first = max(0, start // self.block - 1)
        last = min(len(self.peaks), (start + len(x)) // self.block + 2)
        if first >= last:
            return y
        return y * _gain_curve(self._limiter(first, last), first, self.block, start, len(x))

    def pcm16_chunks(self, first: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """The levelled session (or the span [first, stop)) as 16-bit chunks, ready for the encoder."""
        for start, x in self.timeline.chunks(first=first, stop=stop):
            yield to_pcm16(self._apply(start, x))

    def levels(self) -> Levels:
        peak = self._loudest() * float(self._gain())
        if self.limited:
            peak = min(peak, self.ceiling)
        peak_db = float(20 * np.log10(max(peak, 1e-12)))
        return Levels(round(float(self.loudness), 2), round(peak_db, 2), round(float(self.gain_db), 2))


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


def to_pcm16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2")

