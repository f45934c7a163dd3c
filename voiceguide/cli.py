"""The command line: parse flags, call the library, show progress on stderr. No logic of its own."""
from __future__ import annotations

import errno
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, cast

import click

from .errors import RoutineError, VoiceguideError
from .options import OPTIONS, Option, OptionKind, Settings

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

    from .build import BuildOptions, Reporter
    from .importers import Loaded
    from .routine import Routine

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


FORMATS = ("routine", "page", "w2a", "jawt")
"""The values of --from: voiceguide.importers.Format's (a test keeps them equal; listed here so that
`--help` need not import the importers)."""


def _from_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--from", "from_format", type=click.Choice(FORMATS), default=None,
                        help="Read ROUTINE as this kind of file instead of telling from its text: routine "
                             "(voiceguide's YAML), page (a routine page copied from a website or app), w2a (a w2a "
                             "workout) or jawt (a Just Another Workout Timer export). Example: --from page")(f)


def _load_all(routine_ref: str, from_format: str | None = None) -> list[Loaded]:
    """The routines in a file of any format voiceguide reads (or a shipped routine by name)."""
    from .importers import Format, load
    from .resources import find_routine

    return load(find_routine(routine_ref), Format(from_format) if from_format else None)


def _load(routine_ref: str, from_format: str | None = None) -> list[Routine]:
    return [loaded.routine for loaded in _load_all(routine_ref, from_format)]


def _say_notes(loaded: Loaded, err: bool = False) -> None:
    """What an import inferred or changed, each at its line, for the user to check."""
    if not loaded.notes:
        return
    click.echo(f"Read {loaded.routine.source} as {loaded.format.described.split(' (')[0]}; inferred or changed "
               "(correct any that is wrong):", err=err)
    for note in loaded.notes:
        click.echo(_printable(f"  {loaded.routine.source}:{note.line}: {note.text}"), err=err)


class _OptionType(click.ParamType):
    """A flag's value parsed by its option's own parser, so a flag and a routine's `options:` say the
    same about a bad value."""

    def __init__(self, option: Option) -> None:
        self.option = option
        self.name = option.metavar or option.kind.value.upper()

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return self.option.parse(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _click_option(option: Option) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    shown = option.default_text()
    text = f"{option.help}{f' Default: {shown}.' if shown else ''} Example: {option.example}"
    if option.kind is OptionKind.FLAG:
        return click.option(f"{option.flag}/--no-{option.flag[2:]}", option.name, default=None, help=text)
    metavar = option.metavar or ("[" + "|".join(map(str, option.choices)) + "]" if option.choices else None)
    return click.option(option.flag, option.name, type=_OptionType(option), default=None, metavar=metavar,
                        help=text)


def _session_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options that shape a session, shared by `build` and `plan`, one per row of the option
    table; each can also be set in a routine's `options:` (the flag wins)."""
    for option in reversed(OPTIONS.values()):
        f = _click_option(option)(f)
    return f


def _set_verbosity(ctx: click.Context, param: click.Parameter, count: int) -> None:
    """-v shows what the build decides (gain, rates, cache), -vv every step; on stderr, beside progress."""
    if count:
        import logging

        logging.basicConfig(level=logging.DEBUG if count > 1 else logging.INFO, stream=sys.stderr,
                            format="%(name)s: %(message)s")


def _verbose(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-v", "--verbose", count=True, expose_value=False, callback=_set_verbosity,
                        is_eager=True, help="Say what the build decides and why (-vv: every step).")(f)


def _options_for(routine: Routine, flags: dict[str, Any]) -> BuildOptions:
    from .build import build_options
    from .routine import check_length

    settings = Settings(flags).over(routine.options)
    check_length(routine, settings)
    return build_options(settings, routine.language)


def _check_choices(routine: Routine, options: BuildOptions, flags: dict[str, Any]) -> None:
    """The engine, voice and chime exist, and every phrase the session needs, before any work; a bad one set in
    the routine is named at its line."""
    from .build import check_choices
    from .plan import utterances

    check_choices(options, lambda name: None if flags.get(name) is not None else routine.option_place(name))
    utterances(routine, options.plan)  # every phrase the session needs is there, in its language


class _Reporter:
    """Progress on stderr: stage lines and a bar while lines are spoken; silent with -q or no terminal.
    A build.Reporter in all but name: subclassing it would make `--help` import numpy."""

    def __init__(self, quiet: bool, out: Path | None = None, last: bool = True) -> None:
        self.out, self.last = out, last
        self.show = not quiet
        self.bar_ok = not quiet and sys.stderr.isatty()
        self._bar: ProgressBar[int] | None = None

    def stage(self, message: str) -> None:
        if self.show:
            click.echo(f"{message}...", err=True)

    def speaking(self, total: int) -> Callable[[int], None]:
        if not self.bar_ok:
            self.stage(f"Speaking {total} lines")
            return lambda n: None
        bar = click.progressbar(length=total, label="Speaking", file=sys.stderr)
        bar.__enter__()
        self._bar = bar
        return bar.update

    def written(self) -> None:
        global _finished
        if self.out is not None:
            _written.append(self.out)
        _finished = self.last  # after the last build's files are in place, an interrupt stops nothing

    def done_speaking(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None

    def warn(self, message: str) -> None:
        """Shown even with -q: it is about the user's files, not progress."""
        click.echo(f"warning: {message}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="voiceguide")
def cli() -> None:
    """Turn an exercise routine (a YAML file) into one voice-guided MP3 session.

    \b
    Example:
      voiceguide build lower-back-relief       # a shipped routine -> output/lower-back-relief.mp3
      voiceguide build my-routine.yaml -o ~/stretch.mp3
      voiceguide plan lower-back-relief        # the timed script, no audio
      voiceguide new "Evening Unwind"          # start your own -> evening-unwind.yaml
      voiceguide import stretches.txt          # a routine page, w2a workout or timer export -> .yaml
    """


@cli.command()
@click.argument("routines", nargs=-1, required=True, metavar="ROUTINE...")
@click.option("-o", "--output", type=click.Path(), default=None,
              help="For one routine, the MP3 to write, or a folder to write <title>.mp3 in (an existing "
                   "folder, or a path ending in /); default: output/<title>.mp3 under the current folder, "
                   "e.g. output/lower-back-relief.mp3. For several routines, the folder to write them in "
                   "(default: output/). The .vtt captions and .json plan are written beside each MP3.")
@click.option("-j", "--jobs", type=click.IntRange(1, 256), default=None, metavar="N",
              help="Processes that speak and encode at once (default: one per CPU core). Example: -j 1")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@_from_option
@_verbose
@_session_options
def build(routines: tuple[str, ...], output: str | None, jobs: int | None, quiet: bool, from_format: str | None,
          **flags: Any) -> None:
    """Build the MP3 session for each ROUTINE (a .yaml path, a folder of them, or a shipped routine's name;
    also a routine page, a w2a workout or a workout timer export, read as `voiceguide import` reads them).

    \b
    Every option can also be set in the routine's `options:` block; the flag wins.
    With several routines, all are checked before any is built; one that fails to build
    is reported and the others are still built (exit status 2 if any failed).

    \b
    Example:
      voiceguide build lower-back-relief
      voiceguide build routines/lower-back-relief.yaml -o /tmp/back.mp3 --detail full --rate 140
      voiceguide build lower-back-relief --pace 1.5 --chime bowl --no-next-up
      voiceguide build my-routines/ -o library/ --pace 1.5 -j 2     # every .yaml in a folder
      voiceguide build knee-rehab.yaml -o ~/patients/ana/ --split    # + one MP3 per chapter
      voiceguide build stretches.txt            # a routine page, read as `voiceguide import` reads it
    """
    from .build import batch_outputs, default_output
    from .importers import Format, load
    from .resources import find_routines

    paths = find_routines(list(routines))
    loaded, problems = [], []
    for path in paths:
        try:
            for read in load(path, Format(from_format) if from_format else None):
                # with the flags: a session too long, an unknown voice, a missing chime, before any is built
                _check_choices(read.routine, _options_for(read.routine, flags), flags)
                loaded.append(read.routine)
                if read.notes and not quiet:
                    click.echo(f"Read {path} as {read.format.described.split(' (')[0]} (`voiceguide import` lists "
                               f"what it inferred)", err=True)
        except VoiceguideError as exc:
            problems.append(str(exc))
    if problems:
        raise VoiceguideError("\n".join(problems) + (f"\n{len(problems)} of {len(paths)} routines have problems; "
                                                      "nothing was built" if len(paths) > 1 else ""))
    if len(loaded) == 1:
        if output is None:
            out = default_output(loaded[0])
        elif output.endswith(("/", os.sep)) or _is_folder(Path(output)):  # a folder: <title>.mp3 in it
            out = default_output(loaded[0], Path(output))
        else:
            out = Path(output)
        _build_one(loaded[0], routines[0], out, jobs, quiet, flags)
        return
    if output is not None and Path(output).suffix.lower() == ".mp3":
        raise VoiceguideError(f"{output}: with several routines, -o is the folder to write them in")
    outputs = batch_outputs(loaded, Path(output or "output"))
    failed = []
    for n, (parsed, out) in enumerate(zip(loaded, outputs), 1):
        if not quiet:
            click.echo(f"[{n}/{len(loaded)}] {parsed.source} -> {out}", err=True)
        try:
            _build_one(parsed, parsed.source, out, jobs, quiet, flags, last=n == len(loaded))
        except VoiceguideError as exc:
            failed.append(f"{parsed.source}: {exc}")
            click.echo(f"error: {exc}", err=True)
    if failed:
        raise VoiceguideError(f"{len(failed)} of {len(loaded)} routines failed to build (the others were "
                              "written):\n  " + "\n  ".join(failed))


def _is_folder(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a name too long for the system, say: not a folder, and the build says what is wrong
        return False


def _build_one(parsed: Routine, routine: str, out: Path, jobs: int | None, quiet: bool, flags: dict[str, Any],
               last: bool = True) -> None:
    from .build import build_session, unheard_music_settings

    reporter = _Reporter(quiet, out, last)
    for flag in unheard_music_settings(Settings(flags).over(parsed.options)):
        reporter.warn(f"{flag} does nothing without music; add --music calm (or a sound file) to hear it")
    result = build_session(parsed, out, _options_for(parsed, flags), cast("Reporter", reporter), workers=jobs)
    if not quiet:
        from .durations import format_clock

        plan = result.plan
        sidecars = [f.name for f in result.files
                    if f.suffix in (".vtt", ".json") and f.parent == out.parent and not f.name.endswith(".chapters.json")]
        podcast = [f.name for f in result.files if f.name.endswith((".chapters.json", ".cover.png"))]
        feed = [str(f) for f in result.files if f.name == "feed.xml"]
        parts = [f for f in result.files if f.parent != out.parent]
        click.echo(f"Wrote {result.files[0]} ({format_clock(plan.duration_ms)}, {len(plan.chapters)} chapters, "
                   f"{result.levels.loudness_lufs} LUFS; {result.synthesized} clip{'s' * (result.synthesized != 1)} spoken, "
                   f"{result.cached} from cache){' with ' + ' and '.join(sidecars) if sidecars else ''}"
                   + (f"; {len(parts) - 1} chapter files and the playlist {parts[-1].name} in {parts[-1].parent}"
                      if parts else ""), err=True)
        if podcast or feed:
            click.echo(f"For podcast apps: {' and '.join(podcast + feed)}"
                       f"{' (updated)' if feed else ''}; `voiceguide serve` publishes them", err=True)
        from .plan import DropCause

        for_time = sum(1 for d in plan.dropped if d.cause.for_lack_of_time)
        covered = sum(1 for d in plan.dropped if d.cause is DropCause.COVERED)
        by_choice = len(plan.dropped) - for_time - covered
        if plan.dropped:
            click.echo(f"Not spoken: {for_time} routine lines for lack of time, {covered} said by a cue anyway, "
                       f"{by_choice} by choice (--detail, --no-next-up); `voiceguide plan {routine}` lists them "
                       "with reasons", err=True)
        if plan.setup_note:
            click.echo(plan.setup_note, err=True)
    for warning in result.plan.warnings:
        click.echo(f"warning: {warning.message}", err=True)


@cli.command()
@click.argument("routine")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (as written beside the MP3).")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@_from_option
@_verbose
@_session_options
def plan(routine: str, as_json: bool, quiet: bool, from_format: str | None, **flags: Any) -> None:
    """Show the timed script for ROUTINE: every line, chime and what was dropped. Makes no MP3.

    Speech is synthesised (or taken from the cache) to measure it, so times are exact.

    \b
    Example:
      voiceguide plan lower-back-relief
      voiceguide plan lower-back-relief --json > plan.json
    """
    every = _load(routine, from_format)
    if as_json and len(every) > 1:
        raise VoiceguideError(f"{routine}: holds {len(every)} routines; --json shows one: import them "
                              "(`voiceguide import`) and plan each file")
    for n, parsed in enumerate(every):
        if n:
            click.echo()
        _plan_one(parsed, as_json, quiet, flags)


def _plan_one(parsed: Routine, as_json: bool, quiet: bool, flags: dict[str, Any]) -> None:
    import shutil

    from .build import made_with, speak_plan
    from .durations import format_clock
    from .export import plan_json

    options = _options_for(parsed, flags)
    _check_choices(parsed, options, flags)
    the_plan, clips, _ = speak_plan(parsed, options, cast("Reporter", _Reporter(quiet)))
    if as_json:
        click.echo(plan_json(the_plan, made_with(options, clips, parsed.source)), nl=False)
        return
    width = max(60, shutil.get_terminal_size((100, 24)).columns)
    click.echo(f"{the_plan.title}: {format_clock(the_plan.duration_ms)}, {len(the_plan.chapters)} chapters")
    chapters = {c.start_ms: c.title for c in the_plan.chapters}
    for e in the_plan.events:
        if e.kind.value == "chime" and e.start_ms in chapters:
            click.echo(f"\n{_clock(e.start_ms)}  == {chapters.pop(e.start_ms)} ==")
        what = _printable(e.text) if e.text else f"({e.sound} chime)"
        line = f"{_clock(e.start_ms)}  {(e.end_ms - e.start_ms) / 1000:4.1f}s  {e.role:<11} {what}"
        click.echo(line if len(line) <= width else line[: width - 3] + "...")
    if the_plan.dropped:
        names = {i: e.name for i, e in enumerate(parsed.exercises)}
        click.echo(f"\nNot spoken ({len(the_plan.dropped)}):")
        for d in the_plan.dropped:
            where = names[d.exercise] if d.exercise is not None else "intro/outro"
            click.echo(f"  [{_printable(where)}] {d.role}: {_printable(d.text)}\n      {_printable(d.reason)}")
    if the_plan.setup_note:
        click.echo(f"\n{_printable(the_plan.setup_note)}")
    for warning in the_plan.warnings:
        click.echo(f"warning: {_printable(warning.message)}", err=True)


def _printable(text: str) -> str:
    """Text as it may reach a terminal: control characters (escape sequences among them) shown as \\xNN."""
    return "".join(c if c.isprintable() or c == " " else f"\\x{ord(c):02x}" for c in text)


def _clock(ms: int) -> str:
    """h:mm:ss.s (or m:ss.s), like the session's own length."""
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds = f"{rest / 1000:04.1f}"
    return f"{hours}:{minutes:02d}:{seconds}" if hours else f"{minutes}:{seconds}"


@cli.command()
@click.argument("routine")
@_from_option
@_verbose
def check(routine: str, from_format: str | None) -> None:
    """Validate ROUTINE; every problem is listed as file:line:column.

    \b
    Example:
      voiceguide check my-routine.yaml
      voiceguide check stretches.txt       # a routine page: also says what it inferred
    """
    for loaded in _load_all(routine, from_format):
        _say_notes(loaded)
        _check_one(loaded.routine)


def _check_one(parsed: Routine) -> None:
    from .durations import format_clock
    from .plan import build_plan, estimated_measure

    options = _options_for(parsed, {})
    _check_choices(parsed, options, {})
    # lay the session out with estimated speech lengths: catches holds too short for their cues
    shape = build_plan(parsed, estimated_measure(options.voice.rate_wpm), options.plan)
    total = format_clock(shape.duration_ms)
    click.echo(f"{parsed.source}: ok: {parsed.title}, {_count(len(parsed.exercises), 'exercise')}, "
               f"{format_clock(parsed.holds_ms)} of holds, {total} in all"
               f"{'' if parsed.duration_ms else ' (about: intro and outro are measured when built)'}")
    if shape.setup_note:
        click.echo(shape.setup_note)
    for warning in shape.warnings:
        click.echo(f"warning: {warning.message}", err=True)


@cli.command(name="import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(), default=None,
              help="The routine file to write, or a folder to write <title>.yaml in (an existing folder, or a path "
                   "ending in /); default: <title>.yaml in the current folder, e.g. lower-back-relief.yaml.")
@click.option("--force", is_flag=True, help="Replace a routine file that is already there.")
@_from_option
def import_(file: str, output: str | None, force: bool, from_format: str | None) -> None:
    """Write FILE as a voiceguide routine: a commented YAML file to check, change and build.

    FILE is a routine page (text copied from a website or app: each exercise's name, then
    "Duration: M:SS", a summary and its Instructions, Tips and Adjustments as "- " lists), a w2a
    workout (YAML) or a Just Another Workout Timer export (JSON; one routine file per workout).
    What was inferred (the title, sides: both, the stated length, ...) is said, with its line, and
    marked in the file. `build`, `plan` and `check` read such files directly too.

    \b
    Example:
      voiceguide import lower-back-relief.txt          # -> lower-back-relief.yaml
      voiceguide import workout.yaml --from w2a -o routines/
      voiceguide import Backup.json -o my-routines/    # every workout of a timer app export
    """
    import shlex

    from .importers import Format, load
    from .importers.saving import targets, write

    path = Path(file)
    every = load(path, Format(from_format) if from_format else None)
    if every[0].format is Format.ROUTINE:
        raise VoiceguideError(f"{file}: is already a voiceguide routine; check it with `voiceguide check {file}` "
                              "(or say what it is with --from)")
    written = targets([loaded.routine.title for loaded in every], output, force, source=path)
    for loaded, target in zip(every, written):
        _say_notes(loaded)
        write(target, loaded.yaml)
        click.echo(f"Wrote {target}: {_printable(loaded.routine.title)}, {_count(len(loaded.routine.exercises), 'exercise')}")
    first = shlex.quote(str(written[0]))
    click.echo(f"Next: voiceguide check {first}, then voiceguide build {first}")


@cli.command()
@click.argument("title", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(), default=None,
              help="The routine file to write, or a folder to write <title>.yaml in; default: <title>.yaml in the "
                   "current folder, e.g. evening-unwind.yaml.")
@click.option("--force", is_flag=True, help="Replace a routine file that is already there.")
def new(title: tuple[str, ...], output: str | None, force: bool) -> None:
    """Start a routine called TITLE: a file with three example exercises and every field explained
    where it stands, ready to check and build, then to make your own. The words of TITLE need no quotes.

    \b
    Example:
      voiceguide new "Evening Unwind"               # -> evening-unwind.yaml
      voiceguide new Knee Rehab -o patients/ana.yaml
    """
    import shlex

    from .importers.saving import targets, write
    from .importers.starter import starter_routine
    from .routine import parse_routine

    said = " ".join(title)
    [target] = targets([said], output, force)
    text = starter_routine(said, target.name, target.stem)
    try:  # a title no voice could say is refused here, before anything is written
        parse_routine(text, str(target))
    except RoutineError as exc:  # it names a line of the file not written: say it of the title given
        raise VoiceguideError("; ".join(f"the title: {problem.split(': title: ', 1)[-1]}" for problem in exc.problems)
                              ) from None
    write(target, text)
    shown = shlex.quote(str(target))
    click.echo(f"Wrote {target}: a routine to make your own (every field is explained in it).")
    click.echo(f"Next: voiceguide check {shown}, then voiceguide build {shown}")


@cli.command()
@click.argument("folder", required=False, default="output", type=click.Path(file_okay=False))
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, metavar="N",
              help="The port to listen on (0: any free one). Example: --port 8080")
@click.option("--lan", is_flag=True,
              help="Listen on this computer's address on the local network, so a phone on the same Wi-Fi can "
                   "connect; every URL then starts with the library's secret token, and a QR code of the URL is "
                   "printed to scan.")
@click.option("--host", metavar="ADDRESS", default=None,
              help="Listen on this address instead (one of this computer's; 0.0.0.0 for all). Anything but "
                   "127.0.0.1 gets the token, as with --lan. Example: --host 192.168.1.20")
@click.option("--new-token", is_flag=True,
              help="Replace the library's token: every URL given out before (a podcast subscription, a "
                   "bookmark) stops working.")
@_verbose
def serve(folder: str, port: int, lan: bool, host: str | None, new_token: bool) -> None:
    """Publish the sessions in FOLDER (default: output/) to a phone: a page to play them with their
    chapters and the line spoken now, and a podcast feed (FOLDER/feed.xml) to subscribe to.

    The first line on stdout is the URL to open (with --lan, the QR code of it follows).
    Only the sessions' own files are served, read-only. Ctrl-C stops the server.

    \b
    Example:
      voiceguide serve                  # http://127.0.0.1:8765/ on this computer
      voiceguide serve --lan            # http://192.168.1.20:8765/<token>/ and a QR code for the phone
      voiceguide serve handouts/ana/ --lan --port 8080
    """
    from .library import scan
    from .serve import run, terminal_qr, where

    library = Path(folder)
    place = where(library, lan, host, new_token, warn=lambda message: click.echo(f"warning: {message}", err=True))

    def ready(url: str) -> None:
        click.echo(url)
        if place.token:
            click.echo(terminal_qr(url), nl=False)
        sys.stdout.flush()
        count = len(scan(library))
        click.echo(f"Serving {count} session{'s' * (count != 1)} from {library}: open {url} "
                   f"{'on the phone (on the same Wi-Fi)' if place.token else 'in a browser on this computer'}, or "
                   f"subscribe a podcast app to {url}feed.xml. Ctrl-C stops.", err=True)
        if not count:
            click.echo(f"(none yet: build one into it, e.g. voiceguide build lower-back-relief -o {library}/)",
                       err=True)

    try:
        run(library, place, port, ready)
    except KeyboardInterrupt:  # a Ctrl-C before the server took over the signals
        pass
    _say("stopped")
    sys.exit(EXIT_INTERRUPTED)


@cli.command()
@click.option("--engine", default=None, help="Only this engine's voices (default: every engine).")
@click.option("--language", default=None, metavar="TAG",
              help="Only voices that speak this language (a BCP 47 tag: de, es, pt-BR), the one a build would "
                   "choose first. Example: --language de")
def voices(engine: str | None, language: str | None) -> None:
    """List the voices this machine can speak with: engine, id, language, name. The default engine comes first;
    * marks the voice a build uses when --voice is not given (with --language, for that language).

    \b
    Example:
      voiceguide voices
      voiceguide voices --language de
      voiceguide voices --engine piper
      voiceguide build lower-back-relief --voice en-gb
    """
    from .language import language_name, parse_language
    from .options import default
    from .voice import PIPER_VOICES, engine_names, get_engine, voices_for

    tag = _language_flag(language, parse_language)
    names = [engine] if engine else sorted(engine_names(), key=lambda n: n != default("engine"))
    shown = 0
    for name in names:
        try:
            eng = get_engine(name)
            listed = voices_for(eng, tag) if tag else eng.voices()
            chosen = listed[0].id if tag and listed else eng.default_voice() if not tag else ""
        except VoiceguideError as exc:
            if engine:
                raise
            click.echo(f"({name}: {exc})", err=True)
            continue
        for v in listed:
            mark = "*" if v.id == chosen else " "
            click.echo(_printable(f"{mark} {name:<8} {v.id:<24} {v.language:<8} {v.name}"))
        shown += len(listed)
        if tag and not listed:
            continue
        role = "the default engine" if name == default("engine") else f"with --engine {name}"
        click.echo(f"({name}, {role}: {eng.version()}; * marks the voice it speaks with"
                   f"{f' for {language_name(tag)}' if tag else ''})", err=True)
    if tag and not shown:
        raise VoiceguideError(f"no voice on this machine speaks {language_name(tag)} ({tag}); {PIPER_VOICES}")


def _language_flag(value: str | None, parse: Callable[[object], str]) -> str | None:
    """A --language flag's tag, or a clean error with a did-you-mean."""
    if value is None:
        return None
    try:
        return parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--language'") from None


@cli.command()
def languages() -> None:
    """List the languages voiceguide ships phrase tables for, and the voices here that speak each.

    A routine says its language with `language: de` (or build it with --language de): the words
    voiceguide says itself, numbers and lengths, and the voice follow it. Any other language builds
    when the routine's `phrases:` give those words (see the README, "Languages").

    \b
    Example:
      voiceguide languages
      voiceguide build routine.yaml --language es
      voiceguide voices --language es
    """
    from .language import shipped_tables
    from .voice import engine_names, get_engine, voices_for

    engines = {}
    for name in engine_names():
        try:
            engines[name] = get_engine(name)
        except VoiceguideError:
            continue
    for tag, table in shipped_tables().items():
        speakers = []
        for name, eng in engines.items():
            found = voices_for(eng, tag)
            if found:
                speakers.append(f"{name}: {', '.join(v.id for v in found[:3])}{' ...' if len(found) > 3 else ''}")
        voices_here = "; ".join(speakers) or "no voice here"
        click.echo(_printable(f"{tag:<6} {table.name + ' (' + table.native + ')':<26} {voices_here}"))
    click.echo("(a routine in another language builds when its `phrases:` give voiceguide's own words; "
               "`voiceguide voices` lists every voice)", err=True)


@cli.command()
def schema() -> None:
    """Print the JSON Schema of routine files, for editors that validate and complete YAML.

    \b
    Example:
      voiceguide schema > routine.schema.json
      # then, first line of a routine file:
      # yaml-language-server: $schema=routine.schema.json
    """
    from .schema import schema_json

    click.echo(schema_json(), nl=False)


@cli.command()
def routines() -> None:
    """List the routines that ship with voiceguide; build one by its name.

    \b
    Example:
      voiceguide routines
      voiceguide build lower-back-relief
    """
    from .durations import format_clock
    from .resources import shipped_routines
    from .routine import load_routine

    for name, path in shipped_routines().items():
        r = load_routine(path)
        click.echo(f"{name:<24} {format_clock(r.duration_ms or r.holds_ms):>6}  {_count(len(r.exercises), 'exercise'):<12}  {r.title}")


def _count(n: int, noun: str) -> str:
    """ "1 exercise", "7 exercises"."""
    return f"{n} {noun}{'s' * (n != 1)}"


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors print one clean message and exit 2; Ctrl-C and SIGTERM exit 130."""
    from .atomic import STOPPING

    for sig in STOPPING:
        signal.signal(sig, _raise_interrupt)
    try:
        _run(argv)
    finally:
        # The work is done (or reported): a signal from here on would only turn a finished build's
        # exit status into "killed" while the interpreter shuts down.
        for sig in STOPPING:
            signal.signal(sig, signal.SIG_IGN)


def _run(argv: list[str] | None) -> None:
    try:
        status = cli.main(args=argv, prog_name="voiceguide", standalone_mode=False)
        sys.stdout.flush()  # output that cannot be written fails here, where it can be reported
    except VoiceguideError as exc:
        _say(f"error: {exc}")
        sys.exit(EXIT_USER_ERROR)
    except (click.exceptions.Abort, KeyboardInterrupt):
        if _written:  # a batch: say what is already done
            done = ", ".join(str(p) for p in _written)
            _say(f"interrupted; written before that: {done}; the session being built was not written "
                 "(its previous output is as it was)")
        else:
            _say("interrupted; nothing was written (any previous output is as it was)")
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:  # e.g. `voiceguide plan ... | head`: the reader has what it wanted
        _drop(sys.stdout)
        sys.exit(0)
    except OSError as exc:
        if not _is_output_error(exc):
            raise
        _drop(sys.stdout)
        _say(f"error: could not write the output ({exc.strerror or exc}); write it somewhere with room, "
             "e.g. a file on another disk")
        sys.exit(EXIT_USER_ERROR)
    except click.ClickException as exc:
        try:
            exc.show()
        except OSError:
            _drop(sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(status if isinstance(status, int) else 0)


def _is_output_error(exc: OSError) -> bool:
    """A failure to write stdout (a full disk, a closed terminal), as opposed to the program's own files."""
    return exc.filename is None and exc.errno in (errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG, errno.EBADF)


def _say(message: str) -> None:
    """One line on stderr; if even that cannot be written, the exit status still tells."""
    try:
        click.echo(message, err=True)
        sys.stderr.flush()
    except OSError:
        _drop(sys.stderr)


def _drop(stream: Any) -> None:
    """Point a stream that cannot be written at /dev/null, so the interpreter's last flush does not fail."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    except (OSError, ValueError):
        pass


_finished = False
"""True once the (last) build's files are in place: an interrupt then has nothing left to stop."""
_written: list[Path] = []


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    if not _finished:
        raise KeyboardInterrupt


if __name__ == "__main__":
    main()
