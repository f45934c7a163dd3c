"""MP3 encoding: LAME from the lameenc wheel, in segments cut where they join without a trace.

A session is encoded in ~30 s segments, in parallel children where the platform forks, and the
segments are joined; every sample decodes where one long encode would put it: cut in silence
(`segment_spans`), or, under a music bed where nothing is silent, spliced between overlapping
encodes (`overlapped_spans`, `splice_frame`).
"""
from __future__ import annotations

import io
import logging
import mmap
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Protocol

import numpy as np

from . import forked
from .audio import SAMPLE_RATE
from .errors import WorkerError
from .stages import reached

SEGMENT_S = 30
"""Length of the segments encoded in parallel (cut points depend on the plan only, so the bytes
do not depend on how many cores encode them)."""
MP3_FRAME = 1152
MP3_DELAY = 1105  # LAME's encoder delay (576) plus the decoder's (529)
JOIN_GAP = MP3_FRAME + MP3_DELAY
_ENCODE_TIMEOUT_S = 600.0
_QUALITY = 5  # LAME's own default, much faster than its higher-quality settings
SPLICE_FRAMES = 16
"""Under a music bed, neighbouring segments are both encoded over this many frames either side of
their nominal cut (0.4 s), and the join is chosen in there (`splice_frame`)."""
_WARM_FRAMES = 3  # frames an encode needs behind it (filter bank, psychoacoustics) or ahead of it
_RESERVOIR_BYTES = 511  # the most main data a frame may keep in the frames before it (9 bits)
_SIDE_INFO = 17  # bytes of side information in an MPEG-1 mono frame

log = logging.getLogger(__name__)


class Sink(Protocol):
    """Where encoded bytes go: a file, or anything else that takes bytes."""

    def write(self, data: bytes, /) -> int: ...


def encode_mp3(chunks: Iterable[np.ndarray], rate: int, out: Sink, bitrate_kbps: int) -> None:
    """CBR mono MP3 from 16-bit chunks, streamed to `out`, by LAME (the lameenc wheel bundles it)."""
    import lameenc

    encoder = lameenc.Encoder()
    encoder.set_bit_rate(bitrate_kbps)
    encoder.set_in_sample_rate(rate)
    # below 64 kbps LAME would resample (to 32, 24 or 22.05 kHz), and its frames would no longer be
    # 1152 samples of the session: segments would not line up, nor chapters fall on frames
    encoder.set_out_sample_rate(rate)
    encoder.set_channels(1)
    encoder.set_quality(_QUALITY)
    for chunk in chunks:
        out.write(encoder.encode(chunk.tobytes()))
    out.write(encoder.flush())


def segment_spans(busy: list[tuple[int, int]], length: int, rate: int = SAMPLE_RATE,
                  every_s: int = SEGMENT_S, parts: Sequence[int] = ()) -> list[tuple[int, int]]:
    """Spans (start, stop) of a `length`-sample session to encode separately and join, given the
    sorted (start, stop) spans where it is not silent: each cut falls in exact silence, on an MP3
    frame boundary, so the joined MP3 decodes sample for sample where one long encode would.

    An MP3 encoder delays its audio by `MP3_DELAY` samples and ends on a whole frame: a span that
    stops `JOIN_GAP` samples before the next span's start fills exactly the frames up to that start
    (measured with LAME), and the silence it leaves out is the silence the frames decode to.

    `parts` are samples where a part of the session begins (the chapters, for `--split`): each gets
    the latest cut at or before it (`part_cuts`), so every part is whole segments, whose frames
    decode alone to exactly the samples they decode to in the whole MP3.
    """
    gaps = _silences(busy, length)
    bounds = [0, *part_cuts(busy, length, parts), length]
    step = every_s * rate
    cuts: list[int] = []
    for first, stop in pairwise(bounds):
        target = first + step
        for cut, latest in gaps:
            if cut >= target and cut <= latest and cut < stop - step // 2:
                cuts.append(cut)
                target = cut + step
        if stop < length:
            cuts.append(stop)
    starts = [0, *cuts]
    stops = [c - JOIN_GAP for c in cuts] + [length]
    return list(zip(starts, stops))


def _silences(busy: list[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    """(earliest, latest) place of a cut in each silence, in order: the earliest frame boundary
    `JOIN_GAP` after every earlier sound ended, and the start of the next sound. A silence too short
    for a cut has its earliest after its latest."""
    gaps, free_from = [], 0
    for lo, hi in busy + [(length, length)]:
        gaps.append((-(-(free_from + JOIN_GAP) // MP3_FRAME) * MP3_FRAME, lo))
        free_from = max(free_from, hi)
    return gaps


class NoCut(ValueError):
    """No silence before a part's start is long enough to cut the session there."""

    def __init__(self, part: int) -> None:
        super().__init__(f"no silence to cut at before part {part + 1}")
        self.part = part


def part_cuts(busy: list[tuple[int, int]], length: int, parts: Sequence[int]) -> list[int]:
    """For each of the sorted samples `parts` (after the session's start), the latest place at or
    before it where the session can be cut (see `segment_spans`); raises NoCut when there is none
    after the previous part's cut."""
    gaps = _silences(busy, length)
    cuts: list[int] = []
    for i, at in enumerate(parts):
        best = None
        for earliest, latest in gaps:
            if earliest > at:
                break
            cut = min(at, latest) // MP3_FRAME * MP3_FRAME
            if cut >= earliest:
                best = cut
        if best is None or best <= (cuts[-1] + JOIN_GAP if cuts else 0) or best >= length:
            raise NoCut(i)
        cuts.append(best)
    return cuts


def overlapped_spans(length: int, rate: int = SAMPLE_RATE, every_s: int = SEGMENT_S) -> list[tuple[int, int]]:
    """Spans (start, stop) of a `length`-sample session that sounds throughout (a music bed under it),
    to encode separately and splice: cuts every `every_s` seconds or a little less, on MP3 frame
    boundaries, and each
    segment encoded `SPLICE_FRAMES` frames past its cuts, so that both sides of a cut have frames
    encoded with the audio around them in view (`encode_segments` splices them, see `splice_frame`).
    Starts are frame boundaries, so every segment's frames fall on the frames of one long encode."""
    step = every_s * rate // MP3_FRAME
    frames = -(-length // MP3_FRAME)
    n = max(1, -(-frames // step))  # as many as ~`every_s` seconds need, all as long: no long one left last
    cuts = [i * frames // n for i in range(1, n)]
    starts = [0, *((c - SPLICE_FRAMES) * MP3_FRAME for c in cuts)]
    stops = [min(length, (c + SPLICE_FRAMES) * MP3_FRAME) for c in cuts] + [length]
    return list(zip(starts, stops))


@dataclass(frozen=True)
class Frame:
    """One MPEG-1 Layer III frame of a mono stream, as far as splicing needs it."""

    offset: int
    size: int
    main_data_begin: int
    """How many bytes of this frame's main data lie in the frames before it (the bit reservoir)."""
    block_types: tuple[int, int]
    """Each granule's window: 0 a normal long block, 1 a start window (long, then turning short), 2 three
    short blocks, 3 a stop window (short, then turning long)."""

    @property
    def ends_long(self) -> bool:
        """Whether its last granule's window ends as a long one does (normal or stop window)."""
        return self.block_types[1] in (0, 3)

    @property
    def starts_long(self) -> bool:
        """Whether its first granule's window begins as a long one does (normal or start window)."""
        return self.block_types[0] in (0, 1)

    @property
    def main_data(self) -> tuple[int, int]:
        """Where this frame's own main-data bytes are in the stream (after header and side information)."""
        return self.offset + 4 + _SIDE_INFO, self.offset + self.size


class Frames(Sequence[Frame]):
    """The frames of one of our encoder's streams (mono MPEG-1 Layer III, no CRC, nothing between
    frames), the first `limit` of them: found by their headers, their side information read only for
    the frames looked at (a splice looks at a few dozen of a segment's thousand)."""

    def __init__(self, data: bytes | mmap.mmap, limit: int | None = None) -> None:
        self._data = data
        self._offsets: list[int] = []
        self._read: dict[int, Frame] = {}
        at, end = 0, len(data)
        while at < end and (limit is None or len(self._offsets) < limit):
            self._offsets.append(at)
            at += _frame_size(data, at, len(self._offsets) - 1)
        self._offsets.append(at)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, i: int) -> Frame:  # type: ignore[override]
        if not 0 <= i < len(self):
            raise IndexError(i)
        if i not in self._read:
            at, data = self._offsets[i], self._data
            if len(data) < at + 4 + _SIDE_INFO or data[1 + at] & 1 == 0 or data[3 + at] >> 6 != 3:
                raise ValueError(f"frame {i} at byte {at}: not a mono frame without CRC")
            side = int.from_bytes(data[at + 4:at + 4 + _SIDE_INFO], "big")

            def field(bit: int, bits: int) -> int:
                return (side >> (_SIDE_INFO * 8 - bit - bits)) & ((1 << bits) - 1)

            # granule 0's window_switching_flag is bit 51 of the side information, granule 1's bit 110
            types = [field(flag + 1, 2) if field(flag, 1) else 0 for flag in (51, 110)]
            self._read[i] = Frame(at, self._offsets[i + 1] - at, field(0, 9), (types[0], types[1]))
        return self._read[i]


def frames_of(data: bytes | mmap.mmap) -> list[Frame]:
    """Every frame of one of our encoder's streams (see `Frames`)."""
    return list(Frames(data))


def splice_frame(before: Sequence[Frame], before_first: int, after: Sequence[Frame], after_first: int,
                 candidates: Sequence[int]) -> tuple[int, bool] | None:
    """The frame of the session at which to go from one segment's encode (`before`, whose frame 0 is the
    session's frame `before_first`) to the next one's (`after`), among `candidates` in order of
    preference, and whether the splice is clean; None when no frame can take the next one's reservoir.

    Both encodes saw the same audio around the cut, so their frames there encode the same sound, and
    the decoder's overlap of one granule with the next cancels as it does within one encode when the
    two windows that overlap there have the same shape (both long, or both short). And a frame's main
    data may begin up to 511 bytes back, in the frames before it (the bit reservoir): the next encode's
    first frame taken may need bytes of its own encode's earlier frames. The bytes at the end of the
    first segment's last frame taken that belonged to its following frame (its own reservoir, as long
    as that frame's `main_data_begin`) are free: where the next encode needs no more than that, its
    bytes are written there (`join_at`). So the joined stream decodes exactly as the first encode up to
    the splice and exactly as the second from it, every sample where one long encode puts it, with
    codec noise and no gap or click where they meet. A frame whose windows do not match is taken only
    where no frame's do (not clean: an artefact like a pre-echo at the splice).
    """
    fits = []
    for k in candidates:
        a, b = k - before_first, k - after_first
        if 0 < a < len(before) and 0 <= b < len(after) and after[b].main_data_begin <= before[a].main_data_begin:
            if before[a - 1].ends_long == after[b].starts_long:
                return k, True
            fits.append(k)
    return (fits[0], False) if fits else None


def join_at(before: bytes, before_frames: Sequence[Frame], after: bytes, after_frames: Sequence[Frame],
            a: int, b: int) -> tuple[bytes, bytes]:
    """`before` up to its frame `a` with the reservoir `after`'s frame `b` needs written into its free
    end (see `splice_frame`), and `after` from its frame `b` on. (Only as much as is free is written:
    where more is needed, the frame decodes wrong.)"""
    need = min(after_frames[b].main_data_begin, before_frames[a].main_data_begin)
    reservoir = bytearray()
    for j in range(b - 1, -1, -1):  # the last `need` main-data bytes before frame b
        if len(reservoir) >= need:
            break
        lo, hi = after_frames[j].main_data
        reservoir[:0] = after[lo:hi]
    reservoir = reservoir[len(reservoir) - need:] if need else bytearray()
    head = bytearray(before[:before_frames[a].offset])
    end = len(reservoir)
    for j in range(a - 1, -1, -1):
        if end <= 0:
            break
        lo, hi = before_frames[j].main_data
        n = min(end, hi - lo)
        head[hi - n:hi] = reservoir[end - n:end]
        end -= n
    return bytes(head), after[after_frames[b].offset:]


def reservoir_lead_frames(bitrate_kbps: int, rate: int = SAMPLE_RATE) -> int:
    """Frames before a frame that a decoder starting there may lack (its reservoir, at most 511 bytes
    back, and the frame before it that its first half overlaps): a file cut out of a stream decodes
    exactly from this many frames after its start on."""
    main_data = 144_000 * bitrate_kbps // rate - 4 - _SIDE_INFO
    return -(-_RESERVOIR_BYTES // main_data) + 1


def frame_offsets(data: bytes | mmap.mmap, frames: Sequence[int]) -> list[int]:
    """Where each of the sorted frame numbers `frames` starts in an MPEG-1 Layer III stream (a
    number equal to the count of frames: where the stream ends). Our encoder's streams only: no
    ID3 tag or other data between frames."""
    offsets: list[int] = []
    wanted = iter(frames)
    next_frame = next(wanted, None)
    at, index = 0, 0
    while next_frame is not None:
        if index == next_frame:
            offsets.append(at)
            next_frame = next(wanted, None)
            continue
        at += _frame_size(data, at, index)
        index += 1
    return offsets


def _frame_size(data: bytes | mmap.mmap, at: int, index: int) -> int:
    header = data[at:at + 4]
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xFE != 0xFA:
        raise ValueError(f"frame {index} at byte {at}: not an MPEG-1 Layer III frame")
    bitrate = _BITRATES[header[2] >> 4]
    rate = _RATES[(header[2] >> 2) & 3]
    if not bitrate or not rate:
        raise ValueError(f"frame {index} at byte {at}: a bitrate or sample rate this stream cannot have")
    return 144_000 * bitrate // rate + ((header[2] >> 1) & 1)


_BITRATES = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0)
_RATES = (44100, 48000, 32000, 0)


Render = Callable[[int, int], Iterator[np.ndarray]]
"""16-bit chunks of the samples [start, stop) of a session."""


def encode_segments(render: Render, spans: list[tuple[int, int]], out: Sink, bitrate_kbps: int,
                    workers: int, rate: int = SAMPLE_RATE) -> None:
    """Encode each span (in parallel children where the platform forks) and write them joined, in order:
    spans apart (`segment_spans`) as they are, overlapping ones (`overlapped_spans`) spliced."""

    def encode(span: tuple[int, int]) -> bytes:
        buffer = io.BytesIO()
        encode_mp3(render(*span), rate, buffer, bitrate_kbps)
        return buffer.getvalue()

    joiner = _Joiner(spans, out)
    if workers <= 1 or len(spans) == 1 or not forked.available():
        for i, span in enumerate(spans):
            reached("encoding segment")
            joiner.add(i, encode(span))
        return
    ready: dict[int, bytes] = {}
    written = 0

    def keep(i: int, data: object) -> None:
        nonlocal written
        reached("encoding segment")
        assert isinstance(data, bytes)
        ready[i] = data
        while written in ready:
            joiner.add(written, ready.pop(written))
            written += 1

    # a child per segment: the next segment goes to whichever worker is free, so the segments
    # waiting here to be written in order stay few however long the session
    tasks: list[Callable[[], object]] = [lambda span=span: encode(span) for span in spans]  # type: ignore[misc]
    forked.run_forked(tasks, workers, _ENCODE_TIMEOUT_S, keep,
                      lambda i: f"the MP3 encoder, segment {i + 1} of {len(spans)}", WorkerError)


class _Joiner:
    """Writes encoded segments in order; a segment that overlaps the next is held until the next is
    here, to be spliced onto it."""

    def __init__(self, spans: list[tuple[int, int]], out: Sink) -> None:
        self._spans, self._out = spans, out
        self._held = b""
        self._held_first = 0  # the session's frame number of the held bytes' first frame

    def add(self, i: int, data: bytes) -> None:
        spans = self._spans
        if i == 0 or spans[i][0] >= spans[i - 1][1]:
            self._held, self._held_first = data, spans[i][0] // MP3_FRAME
        else:
            self._splice(spans[i - 1], spans[i], data)
        if i == len(spans) - 1 or spans[i + 1][0] >= spans[i][1]:  # nothing to splice onto it
            self._out.write(self._held)
            self._held = b""

    def _splice(self, before_span: tuple[int, int], span: tuple[int, int], data: bytes) -> None:
        first = span[0] // MP3_FRAME
        nominal = (span[0] + before_span[1]) // 2 // MP3_FRAME
        candidates = sorted(range(first + _WARM_FRAMES, before_span[1] // MP3_FRAME - _WARM_FRAMES + 1),
                            key=lambda k: (abs(k - nominal), k))
        before, after = Frames(self._held), Frames(data, limit=max(candidates) - first + 1)
        found = splice_frame(before, self._held_first, after, first, candidates)
        if found is None:  # no frame can take the reservoir: the one that lacks least, a frame's glitch
            k = min(candidates, key=lambda k: (after[k - first].main_data_begin
                                               - before[k - self._held_first].main_data_begin, abs(k - nominal)))
            log.warning("MP3 segments joined with a glitch at %.2f s: no frame nearby could be spliced "
                        "cleanly", k * MP3_FRAME / SAMPLE_RATE)
        else:
            k, clean = found
            if not clean:
                log.info("MP3 segments spliced at %.2f s where the windows differ", k * MP3_FRAME / SAMPLE_RATE)
        head, self._held = join_at(self._held, before, data, after, k - self._held_first, k - first)
        self._out.write(head)
        self._held_first = k
