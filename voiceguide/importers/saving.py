"""Where `import` and `new` write a routine file, and the writing: never over a file that exists unless
asked (--force), never over the file being imported, all names checked before any is written, each
file written whole or not at all."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..atomic import write_atomic
from ..errors import OutputError
from ..names import slug


def targets(titles: Sequence[str], output: str | None, force: bool, source: Path | None = None) -> list[Path]:
    """One .yaml path per routine: `output` itself for one routine (a file, or a folder to write
    <title>.yaml in), else <title>.yaml in `output` or the current folder. Raises OutputError, before
    anything is written, for a file that exists (without `force`) or that is the source."""
    folder = _folder(output)
    if folder is None:
        assert output is not None
        if len(titles) > 1:
            raise OutputError(f"{output}: the file holds {len(titles)} routines, written one file each; give -o a "
                              "folder (ending in /) to write them in")
        paths = [Path(output)]
    else:
        paths, taken = [], set()
        for title in titles:
            stem, n = slug(title), 1
            while (name := f"{stem}{f'-{n}' if n > 1 else ''}.yaml") in taken:
                n += 1
            taken.add(name)
            paths.append(folder / name)
    for path in paths:
        if path.suffix.lower() not in (".yaml", ".yml"):
            raise OutputError(f"{path}: a routine file is YAML; give a name ending in .yaml")
        if source is not None and _same(path, source):
            raise OutputError(f"{path}: is the file being imported; give the routine another name with -o")
        if path.exists() and not force:
            raise OutputError(f"{path}: already exists; give another name with -o, or add --force to replace it")
        if path.is_dir():
            raise OutputError(f"{path}: is a folder; give a file name ending in .yaml")
    return paths


def write(path: Path, text: str) -> None:
    write_atomic(path, text.encode("utf-8"))


def _folder(output: str | None) -> Path | None:
    """The folder to write <title>.yaml in, or None when `output` names the file itself."""
    if output is None:
        return Path(".")
    if output.endswith(("/", os.sep)) or Path(output).is_dir():
        return Path(output)
    return None


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and os.path.samefile(a, b)
    except OSError:
        return False
