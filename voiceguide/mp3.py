"""MP3 encoding: LAME from the lameenc wheel, in segments cut where they join without a trace.

A session is encoded in ~30 s segments, in parallel children where the platform forks, and the
segments are joined; every sample decodes where one long encode would put it (see `segment_spans`).
"""
from __future__ import annotations

import io
import mmap
from collections.abc import Callable, Iterable, Iterator, Sequence
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


class Sink(Protocol):
    """Where encoded bytes go: a file, or anything else that takes bytes."""

    def write(self, data: bytes, /) -> int: ...


def encode_mp3(chunks: Iterable[np.ndarray], rate: int, out: Sink, bitrate_kbps: int) -> None:
    """CBR mono MP3 from 16-bit chunks, streamed to `out`, by LAME (the lameenc wheel bundles it)."""
    import lameenc

    encoder = lameenc.Encoder()
    encoder.set_bit_rate(bitrate_kbps)
    encoder.set_in_sample_rate(rate)
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
        header = data[at:at + 4]
        if len(header) < 4 or header[0] != 0xFF or header[1] & 0xFE != 0xFA:
            raise ValueError(f"frame {index} at byte {at}: not an MPEG-1 Layer III frame")
        bitrate = _BITRATES[header[2] >> 4]
        rate = _RATES[(header[2] >> 2) & 3]
        if not bitrate or not rate:
            raise ValueError(f"frame {index} at byte {at}: a bitrate or sample rate this stream cannot have")
        at += 144_000 * bitrate // rate + ((header[2] >> 1) & 1)
        index += 1
    return offsets


_BITRATES = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0)
_RATES = (44100, 48000, 32000, 0)


Render = Callable[[int, int], Iterator[np.ndarray]]
"""16-bit chunks of the samples [start, stop) of a session."""


def encode_segments(render: Render, spans: list[tuple[int, int]], out: Sink, bitrate_kbps: int,
                    workers: int, rate: int = SAMPLE_RATE) -> None:
    """Encode each span (in parallel children where the platform forks) and write them joined, in order."""

    def encode(span: tuple[int, int]) -> bytes:
        buffer = io.BytesIO()
        encode_mp3(render(*span), rate, buffer, bitrate_kbps)
        return buffer.getvalue()

    if workers <= 1 or len(spans) == 1 or not forked.available():
        for span in spans:
            reached("encoding segment")
            out.write(encode(span))
        return
    ready: dict[int, bytes] = {}
    written = 0

    def keep(i: int, data: object) -> None:
        nonlocal written
        reached("encoding segment")
        assert isinstance(data, bytes)
        ready[i] = data
        while written in ready:
            out.write(ready.pop(written))
            written += 1

    # a child per segment: the next segment goes to whichever worker is free, so the segments
    # waiting here to be written in order stay few however long the session
    tasks: list[Callable[[], object]] = [lambda span=span: encode(span) for span in spans]  # type: ignore[misc]
    forked.run_forked(tasks, workers, _ENCODE_TIMEOUT_S, keep,
                      lambda i: f"the MP3 encoder, segment {i + 1} of {len(spans)}", WorkerError)
