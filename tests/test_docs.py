"""The README stays honest: its commands exist, its flags are real, CI runs its test command."""
from __future__ import annotations

import re

from click.testing import CliRunner
from conftest import ROOT

from voiceguide.cli import cli

README = (ROOT / "README.md").read_text()


def test_readme_opens_with_the_two_setup_commands_and_ci_runs_the_test_one():
    block = README.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make build", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^build:", makefile, re.MULTILINE) and re.search(r"^test:", makefile, re.MULTILINE)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_every_flag_the_readme_mentions_is_in_build_help():
    help_text = "".join(CliRunner().invoke(cli, [c, "--help"]).output for c in ("build", "import", "new", "serve"))
    about_voiceguide = README.split("## Performance")[0]  # the benchmark has flags of its own
    flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]+)", about_voiceguide))
    assert {"--pace", "--duration", "--rate", "--detail", "--engine"} <= flags
    missing = {f for f in flags if f not in help_text}
    assert not missing, missing


def test_every_command_the_readme_uses_exists():
    used = set(re.findall(r"^voiceguide ([a-z]+)", README, re.MULTILINE))
    assert used >= {"build", "plan", "check", "voices", "routines"}
    for command in used:
        assert CliRunner().invoke(cli, [command, "--help"]).exit_code == 0, command


def test_benchmark_flags_in_the_readme_exist():
    bench = (ROOT / "bench" / "run.py").read_text()
    for flag in set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]+)", README.split("## Performance")[1])):
        assert f'"{flag}"' in bench, flag


def test_every_option_in_the_table_is_in_the_readme():
    from voiceguide.options import OPTIONS, OptionKind

    about_voiceguide = README.split("## Performance")[0]
    flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]+)", about_voiceguide))
    for option in OPTIONS.values():
        written = {option.flag, f"--no-{option.flag[2:]}"} if option.kind is OptionKind.FLAG else {option.flag}
        assert written & flags, f"README does not mention {option.flag}"


def test_the_readme_states_the_session_length_limit():
    from voiceguide.durations import MAX_SESSION_MS

    assert MAX_SESSION_MS == 24 * 3600 * 1000 and "at most 24 hours" in README


def test_how_it_works_names_every_module():
    """The README's module map stays true as modules come and go."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## How it works"):readme.index("## Performance")]
    package = ROOT / "voiceguide"
    modules = {str(p.relative_to(package)) for p in package.rglob("*.py")
               if p.name not in ("__init__.py", "__main__.py")}
    assert modules and not [m for m in sorted(modules) if f"`{m}`" not in section]
