"""The one exception family for mistakes a user can make or fix; the CLI turns these into exit status 2."""
from __future__ import annotations


class VoiceguideError(Exception):
    """Raised for any problem the user can fix: the message says what, where and what to do."""


class RoutineError(VoiceguideError):
    """Raised when a routine file cannot be read or does not validate; lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class PlanError(VoiceguideError):
    """Raised when the must-have cues of a section do not fit in its time."""


class EngineError(VoiceguideError):
    """Raised when a speech engine is missing, unknown, or fails to produce a clip."""


class OutputError(VoiceguideError):
    """Raised when an output file cannot be written where the user asked."""


class WorkerError(VoiceguideError):
    """Raised when a worker process that mixes or encodes could not start, crashed or hung."""
