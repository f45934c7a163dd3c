"""MP3 encoding: LAME from the lameenc wheel, in segments cut where they join without a trace.

A session is encoded in ~30 s segments, in parallel children where the platform forks, and the
segments are joined; every sample decodes where one long encode would put it (see `segment_spans`).
"""
from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
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
                  every_s: int = SEGMENT_S) -> list[tuple[int, int]]:
    """Spans (start, stop) of a `length`-sample session to encode separately and join, given the
    sorted (start, stop) spans where it is not silent: each cut falls in exact silence, on an MP3
    frame boundary, so the joined MP3 decodes sample for sample where one long encode would.

    An MP3 encoder delays its audio by `MP3_DELAY` samples and ends on a whole frame: a span that
    stops `JOIN_GAP` samples before the next span's start fills exactly the frames up to that start
    (measured with LAME), and the silence it leaves out is the silence the frames decode to.
    """
    cuts, target = [], every_s * rate
    free_from = 0
    for lo, hi in busy + [(length, length)]:
        cut = -(-(free_from + JOIN_GAP) // MP3_FRAME) * MP3_FRAME
        if cut >= target and cut <= lo and cut < length - every_s * rate // 2:
            cuts.append(cut)
            target = cut + every_s * rate
        free_from = max(free_from, hi)
    starts = [0, *cuts]
    stops = [c - JOIN_GAP for c in cuts] + [length]
    return list(zip(starts, stops))


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
