"""Placing a section's cues by priority: drop the least important until the rest fit, then re-add what fits."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import pairwise

from ..durations import format_clock
from ..errors import PlanError
from .cues import Anchor, Cue, Section
from .model import DropCause, Dropped, Event, Kind, PlanOptions, Priority, Role


class SectionTooShort(PlanError):
    """A section too short for its must cues; with a target total, build_plan asks whether a longer one fits."""

    def __init__(self, message: str, label: str, span_ms: int) -> None:
        super().__init__(message)
        self.label = label
        self.span_ms = span_ms


def fit(section: Section, cues: list[Cue], options: PlanOptions) -> tuple[list[Event], list[Dropped]]:
    """Place the section's cues; drop lowest priority first until the rest fit, then re-add what fits."""
    dropped = [Dropped(c.text, c.role, section.exercise, c.priority, c.skip.cause, c.skip.reason)
               for c in cues if c.skip is not None]
    wanted = [c for c in cues if c.skip is None]
    musts = [c for c in wanted if c.priority is Priority.MUST]
    if _place(section, musts, options) is None:
        raise SectionTooShort(_must_message(section, musts, options), section.label,
                              section.end_ms - section.start_ms)
    keep = list(wanted)
    removed: list[Cue] = []
    placed = _place(section, keep, options)
    while placed is None:
        victim = max((c for c in keep if c.priority is not Priority.MUST),
                     key=lambda c: (c.priority.rank, c.order))
        keep.remove(victim)
        removed.append(victim)
        placed = _place(section, keep, options)
    for cue in sorted(removed, key=lambda c: (c.priority.rank, c.order)):
        # steps are said in order or not at all: a later step never returns after an earlier one left
        if cue.anchor is Anchor.FLOW and any(r.order < cue.order and r.role is cue.role for r in removed
                                             if r not in keep):
            attempt = None
        else:
            trial = sorted(keep + [cue], key=lambda c: c.order)
            attempt = _place(section, trial, options)
        if attempt is not None:
            keep, placed = trial, attempt
        elif not cue.repeat:
            dropped.append(_dropped(section, cue))
    dropped.sort(key=lambda d: [c.text for c in cues].index(d.text))
    return placed, dropped


def _dropped(section: Section, cue: Cue) -> Dropped:
    """A cue that did not fit, with why."""
    if cue.before_ms is not None:
        return Dropped(cue.text, cue.role, section.exercise, cue.priority, DropCause.BEFORE_SWITCH,
                       f"does not fit before the side switch at {format_clock(cue.before_ms - section.start_ms)} "
                       f"into {section.label}; it needs {cue.duration_ms / 1000:.1f} s")
    return Dropped(cue.text, cue.role, section.exercise, cue.priority, DropCause.NO_TIME,
                   f"no room in {section.label} ({format_clock(section.end_ms - section.start_ms)}) beside the "
                   f"lines kept; it needs {cue.duration_ms / 1000:.1f} s")


def _must_message(section: Section, musts: list[Cue], options: PlanOptions) -> str:
    span = section.end_ms - section.start_ms
    speech = sum(c.duration_ms for c in musts) / 1000
    roles = ", ".join(dict.fromkeys(c.role for c in musts))
    where = f"{section.where}: " if section.where else ""
    fix = section.fix or "lengthen the hold (--pace), use a shorter --countdown, or speak faster (--rate)"
    around = "each at the start or end of a rep" if section.quiet else "fitted around the side switch and the countdown"
    return (f"{where}{section.label} lasts {span / 1000:.1f} s, too short for what must be said in it ({roles}: "
            f"{speech:.1f} s of speech, with pauses, {around}); {fix}")


@dataclass
class _Timeline:
    """Busy spans of one section, for finding where a line of speech may go."""

    start: int
    end: int
    gap: int
    clear: int
    busy: list[tuple[int, int]] = field(default_factory=list)

    def block_speech(self, a: int, b: int) -> None:
        self.busy.append((a - self.gap, b + self.gap))

    def block_chime(self, at: int, lead: int) -> None:
        self.busy.append((at - self.clear, at + lead))

    def fits(self, a: int, duration: int) -> bool:
        b = a + duration
        if a < self.start or b > self.end:
            return False
        return all(b <= s or a >= e for s, e in self.busy)

    def earliest(self, after: int, duration: int, limit: int) -> int | None:
        """First start >= after where the line fits and ends by limit."""
        candidates = sorted({after} | {e for _, e in self.busy if e > after})
        for a in candidates:
            if a + duration > min(limit, self.end):
                return None
            if self.fits(a, duration):
                return a
        return None

    def latest(self, end_by: int, duration: int, floor: int) -> int | None:
        """Last start where the line fits, ends by end_by and starts at or after floor."""
        candidates = sorted({end_by - duration} | {s - duration for s, _ in self.busy if s - duration < end_by - duration},
                            reverse=True)
        for a in candidates:
            if a < max(floor, self.start):
                return None
            if self.fits(a, duration):
                return a
        return None


def _place(section: Section, cues: list[Cue], options: PlanOptions) -> list[Event] | None:
    """Give every cue a time, or return None if they cannot all fit.

    Order within a section: fixed cues at their times; the name and length before the first fixed
    cue; "next up" as late as it can before the countdown but after the switch; instructions as
    early as they can (before the switch when there is one); tips spread over what is left before
    "next up".
    """
    gap = options.gap_ms
    line = _Timeline(section.start_ms, section.end_ms, gap, options.chime_clear_ms)
    chimes = [section.opening_chime] if section.opening_chime else []
    lead = options.bell_lead_ms if section.lead_ms is None else section.lead_ms
    line.block_chime(section.start_ms, lead)
    line.busy.append((section.end_ms - options.chime_clear_ms, section.end_ms + gap))
    times: dict[int, int] = {}

    fixed = _fixed_starts(cues)
    for fixed_at, cue in fixed:
        for chime in cue.extra_events:
            chimes.append(chime)
            line.block_chime(chime.start_ms, fixed_at - chime.start_ms)
    if not _fixed_apart(fixed, gap) or not all(line.fits(f, c.duration_ms) for f, c in fixed):
        return None
    for fixed_at, cue in fixed:
        times[cue.order] = fixed_at
        line.block_speech(fixed_at, fixed_at + cue.duration_ms)

    cursor = section.start_ms + lead
    head_limit = min([f - gap for f, _ in fixed] + [section.end_ms])
    for cue in (c for c in cues if c.anchor is Anchor.HEAD):
        at = line.earliest(cursor, cue.duration_ms, head_limit)
        if at is None:
            return None
        times[cue.order] = at
        line.block_speech(at, at + cue.duration_ms)
        cursor = at + cue.duration_ms + gap

    tail_starts = []
    for cue in (c for c in cues if c.anchor is Anchor.TAIL):
        end_by = cue.end_by_ms if cue.end_by_ms is not None else section.end_ms - options.chime_clear_ms
        floor = max([cursor] + [f + c.duration_ms + gap for f, c in fixed if f + c.duration_ms <= end_by])
        at = line.latest(end_by, cue.duration_ms, floor)
        if at is None:
            return None
        times[cue.order] = at
        line.block_speech(at, at + cue.duration_ms)
        tail_starts.append(at)
    body_limit = min(tail_starts) - gap if tail_starts else section.end_ms
    line.busy.extend(section.quiet)  # after "next up", which may come in the last rep's hold

    for cue in (c for c in cues if c.anchor is Anchor.FLOW):
        limit = body_limit if cue.before_ms is None else min(body_limit, cue.before_ms - options.chime_clear_ms)
        at = line.earliest(cursor, cue.duration_ms, limit)
        if at is None:
            return None
        times[cue.order] = at
        line.block_speech(at, at + cue.duration_ms)
        cursor = at + cue.duration_ms + gap

    spread = [c for c in cues if c.anchor is Anchor.SPREAD]
    if spread and not _spread(line, spread, cursor, body_limit, times, options):
        return None

    events = list(chimes)
    for cue in cues:
        at = times[cue.order]
        events.append(Event(Kind.SPEECH, at, cue.duration_ms, cue.priority, section.exercise, cue.role,
                            cue.text, cue.utterance))
    return events


def _fixed_starts(cues: list[Cue]) -> list[tuple[int, Cue]]:
    """The FIXED cues (those with a start) with their starts, earliest first."""
    return sorted(((c.start_ms, c) for c in cues if c.start_ms is not None), key=lambda pair: pair[0])


def _fixed_apart(fixed: list[tuple[int, Cue]], gap_ms: int) -> bool:
    """Fixed cues keep the usual gap from each other, except countdown numbers (one a second)."""
    for (a_at, a), (b_at, b) in pairwise(fixed):
        need = 0 if a.role is b.role is Role.COUNTDOWN else gap_ms
        if b_at < a_at + a.duration_ms + need:
            return False
    return True


def _spread(line: _Timeline, cues: list[Cue], cursor: int, limit: int, times: dict[int, int],
            options: PlanOptions) -> bool:
    """Spread lines evenly between their earliest and latest feasible times, keeping their order."""
    probe = replace(line, busy=list(line.busy))
    earliest = []
    at = cursor
    for cue in cues:
        start = probe.earliest(at, cue.duration_ms, limit)
        if start is None:
            return False
        earliest.append(start)
        probe.block_speech(start, start + cue.duration_ms)
        at = start + cue.duration_ms + options.gap_ms
    probe = replace(line, busy=list(line.busy))
    latest = [0] * len(cues)
    end_by = min(limit, line.end - options.chime_clear_ms)
    for i in range(len(cues) - 1, -1, -1):
        start = probe.latest(end_by, cues[i].duration_ms, cursor)
        if start is None:
            return False
        latest[i] = start
        probe.block_speech(start, start + cues[i].duration_ms)
        end_by = start - options.gap_ms
    at = cursor
    n = len(cues)
    for i, cue in enumerate(cues):
        target = earliest[i] + (latest[i] - earliest[i]) * (i + 1) // (n + 1)
        start = line.earliest(max(target, at), cue.duration_ms, limit)
        if start is None:
            return False
        times[cue.order] = start
        line.block_speech(start, start + cue.duration_ms)
        at = start + cue.duration_ms + options.gap_ms
    return True
