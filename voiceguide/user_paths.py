"""Paths as a user writes them, in a flag, a routine or the environment: "~" and "~name" expanded."""
from __future__ import annotations

from pathlib import Path

from .errors import VoiceguideError


def user_path(text: str, what: str) -> Path:
    """The path `text` names; "~name" for a user this machine does not know is an error that says so
    (Python's own is a RuntimeError, "Could not determine home directory")."""
    try:
        return Path(text).expanduser()
    except RuntimeError:
        user = text[1:].replace("\\", "/").split("/")[0]
        raise VoiceguideError(f'{what} "{text}": this machine knows no home folder for "~{user}"; write the '
                              "folder out in full") from None
