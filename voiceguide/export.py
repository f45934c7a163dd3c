"""Write what the user gets: the MP3 with tags and chapters, the captions and the plan, all atomically."""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from .atomic import (
    NotARegularFile,
    PendingFile,
    check_targets,
    remove_stale,
    replace_together,
)
from .errors import OutputError
from .plan import Plan
from .stages import reached

ARTIST = "voiceguide"


def tag_mp3(path: Path | BinaryIO, plan: Plan, comment: str) -> None:
    """ID3 title, artist, album, comment, and chapters (CHAP per section under one ordered CTOC)."""
    from mutagen.id3 import CHAP, COMM, CTOC, ID3, TALB, TIT2, TPE1, CTOCFlags

    tags = ID3()
    tags.add(TIT2(encoding=3, text=[plan.title]))
    tags.add(TPE1(encoding=3, text=[ARTIST]))
    tags.add(TALB(encoding=3, text=[plan.title]))
    if comment:
        tags.add(COMM(encoding=3, lang="eng", desc="", text=[comment]))
    ids = [f"chp{i}" for i in range(len(plan.chapters))]
    tags.add(CTOC(element_id="toc", flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
                  child_element_ids=ids, sub_frames=[TIT2(encoding=3, text=["Chapters"])]))
    for element_id, chapter in zip(ids, plan.chapters):
        tags.add(CHAP(element_id=element_id, start_time=chapter.start_ms, end_time=chapter.end_ms,
                      start_offset=0xFFFFFFFF, end_offset=0xFFFFFFFF,
                      sub_frames=[TIT2(encoding=3, text=[chapter.title])]))
    from mutagen import MutagenError

    try:
        tags.save(str(path) if isinstance(path, Path) else path, v2_version=4, padding=lambda info: 0)
    except MutagenError as exc:  # e.g. a full disk: mutagen wraps the OSError in its own class
        cause = exc.__cause__ or exc.__context__
        raise cause if isinstance(cause, OSError) else OSError(str(exc)) from None


def webvtt(plan: Plan) -> str:
    """Every spoken line as a WebVTT cue, timed as the plan places it."""
    lines = ["WEBVTT", ""]
    for i, e in enumerate(plan.speech, 1):
        lines += [str(i), f"{_vtt_time(e.start_ms)} --> {_vtt_time(e.end_ms)}", vtt_text(e.text), ""]
    return "\n".join(lines)


def vtt_text(text: str) -> str:
    """A line as WebVTT cue text: &, < and > escaped (so "-->" and tags cannot end or change the cue),
    on one line (a blank line would end it)."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(escaped.split())


def _vtt_time(ms: int) -> str:
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def plan_json(plan: Plan, made_with: dict[str, Any] | None = None) -> str:
    """The plan as JSON; `made_with` records the settings and versions that produced it."""
    data = plan.to_dict()
    if made_with:
        data["made_with"] = made_with
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def check_writable(mp3_path: Path) -> None:
    """Fail before any synthesis if the output folder cannot take the session's files."""
    folder = mp3_path.parent
    if mp3_path.suffix.lower() != ".mp3":
        raise OutputError(f"{mp3_path}: the session is an MP3 (with .vtt and .json beside it); "
                          "give a file name ending in .mp3 with -o")
    for above in [folder, *folder.parents]:
        if above.exists():
            if not above.is_dir():
                raise OutputError(f"{above}: is not a folder, so the output folder {folder} cannot be made; "
                                  "choose another place with -o")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{folder}: cannot create the output folder ({exc.strerror}); choose another with -o") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{folder}: the output folder is not writable; choose another with -o")
    try:
        longest = max(len(p.name.encode()) for p in session_files(mp3_path))
        limit = os.pathconf(folder, "PC_NAME_MAX") if hasattr(os, "pathconf") else 255
    except (OSError, ValueError):
        limit = 255
    if longest > limit:
        raise OutputError(f"{mp3_path}: the file name is {longest} bytes long with its extension; this folder "
                          f"takes at most {limit}; choose a shorter name with -o")
    try:
        check_targets(session_files(mp3_path))
    except OSError as exc:
        raise OutputError(_write_problem(exc, mp3_path)) from None
    probe: PendingFile | None = None
    try:  # a folder that looks writable but is not (/proc, a full disk): find out now, not after the work
        probe = PendingFile(mp3_path)
        with probe.open() as out:
            out.write(b"\0")
            out.flush()
    except OSError as exc:
        raise OutputError(f"{folder}: files cannot be written in this folder ({exc.strerror or exc}); "
                          "choose another with -o") from None
    finally:
        if probe is not None:
            probe.discard()


def _write_problem(exc: OSError, mp3_path: Path) -> str:
    where = exc.filename or mp3_path
    if isinstance(exc, IsADirectoryError):
        return f"{where}: is a folder, so the session cannot be written there; move it away or choose another name with -o"
    if isinstance(exc, NotARegularFile):
        return f"{where}: is not a regular file, so the session cannot be written there; choose another name with -o"
    return f"{where}: could not write the session ({exc.strerror or exc}); check free space and permissions"


def session_files(mp3_path: Path) -> list[Path]:
    """The files a session is made of: the MP3, its captions and its plan."""
    return [mp3_path, mp3_path.with_suffix(".vtt"), mp3_path.with_suffix(".json")]


def write_session(mp3_path: Path, write_mp3: Callable[[BinaryIO], None], plan: Plan, comment: str,
                  made_with: dict[str, Any] | None = None, on_written: Callable[[], None] | None = None) -> list[Path]:
    """Write MP3, .vtt and .json side by side; all land together or none does.

    Each is written to a file in the same folder that has no name yet (or a temporary name where
    the system cannot do that) and moved into place only when all three are complete; if one
    cannot be moved, those already moved are put back. So a failure never leaves a partial file or
    a mix of two builds, and even a build killed outright (SIGKILL, power loss) leaves nothing
    behind. `on_written()` is called the moment all three are in place.
    """
    targets = session_files(mp3_path)
    remove_stale(mp3_path.parent)  # what a killed build left behind where files must be named
    pending: list[PendingFile] = []
    try:
        check_targets(targets)  # before the work, not after
        for target in targets:
            pending.append(PendingFile(target))
        mp3, vtt, data = pending
        with mp3.open() as out:
            write_mp3(out)
        with mp3.open() as out:
            tag_mp3(out, plan, comment)
        with vtt.open() as out:
            out.write(webvtt(plan).encode("utf-8"))
        with data.open() as out:
            out.write(plan_json(plan, made_with).encode("utf-8"))
        reached("files ready")
        replace_together(pending, on_written)
        reached("files in place")
    except OSError as exc:
        raise OutputError(_write_problem(exc, mp3_path)) from None
    finally:
        for file in pending:
            file.discard()
    return targets
