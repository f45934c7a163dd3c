"""Find the data that ships with the package (routines, chimes, music, the lexicon), installed or in a checkout."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from .errors import VoiceguideError


def _data_dir(name: str) -> Path:
    """voiceguide/<name> in an installed wheel; <repo>/<name> in a source checkout."""
    packaged = resources.files("voiceguide").joinpath(name)
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / name


def routines_dir() -> Path:
    return _data_dir("routines")


def chimes_dir() -> Path:
    return _data_dir("audio_assets")


def music_dir() -> Path:
    """The shipped music beds (audio_assets/music: calm.ogg, made by scripts/make_music.py)."""
    return chimes_dir() / "music"


def default_lexicon(language: str = "en") -> tuple[tuple[str, str], ...]:
    """The shipped respellings (voiceguide/lexicon.yaml) for a language ("de", "pt-BR": its language's, then
    its own) as (word, respelling) pairs; none for a language the lexicon has no entries for."""
    import yaml

    text = resources.files("voiceguide").joinpath("lexicon.yaml").read_text(encoding="utf-8")
    by_language = {str(tag).lower(): words for tag, words in (yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}).items()}
    wanted = [language.split("-")[0].lower(), language.lower()]
    found: dict[str, str] = {}
    for tag in dict.fromkeys(wanted):
        found.update({str(word): str(said) for word, said in (by_language.get(tag) or {}).items()})
    return tuple(found.items())


def shipped_routines() -> dict[str, Path]:
    """Shipped routine files by name (the file stem), e.g. "lower-back-relief"."""
    folder = routines_dir()
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def find_routine(ref: str) -> Path:
    """A routine path as given, or the shipped routine of that name."""
    path = Path(ref)
    if path.exists() and not path.is_dir():  # a device or FIFO too: load_routine says what it is
        return path
    shipped = shipped_routines()
    name = path.stem if path.suffix in (".yaml", ".yml") else ref
    if name in shipped and not path.parent.parts:
        return shipped[name]
    if path.exists():
        raise VoiceguideError(f"{ref}: is a folder; give a routine .yaml file")
    known = ", ".join(shipped) or "none"
    raise VoiceguideError(f"{ref}: no such routine file, and no shipped routine of that name "
                          f"(shipped: {known}); check the path or run `voiceguide routines`")


def find_routines(refs: list[str]) -> list[Path]:
    """Routine paths for names, files and folders (a folder gives its .yaml files, by name), each once."""
    found: list[Path] = []
    for ref in refs:
        folder = Path(ref)
        if folder.is_dir():
            files = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
            if not files:
                raise VoiceguideError(f"{ref}: a folder with no routine .yaml files in it")
            found.extend(files)
        else:
            found.append(find_routine(ref))
    unique: dict[Path, None] = {}
    for path in found:
        unique.setdefault(path.resolve(), None)
    return list(unique)
