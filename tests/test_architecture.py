"""The data flows one way: no import cycles, and the plan and the speech layer know nothing of each other."""
from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "voiceguide"


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Every module of the package and the package modules it imports (at the top or inside functions)."""
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        here = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
                found = {target} | {f"{target}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                found = {node.module}
            elif isinstance(node, ast.Import):
                found = {alias.name for alias in node.names}
            else:
                continue
            graph[name] |= {m for m in found if m in modules and m != "voiceguide"}
    return graph


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    stack = [start]
    while stack:
        for nxt in graph[stack.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def test_no_module_imports_itself_through_others():
    graph = _imports()
    assert len(graph) > 25
    assert [m for m in sorted(graph) if m in _reachable(graph, m)] == []


SPEECH_LAYER = {"voiceguide.speech", "voiceguide.voice", "voiceguide.calibration", "voiceguide.clip_memory",
                "voiceguide.cache", "voiceguide.engines.pyttsx3_engine", "voiceguide.engines.piper_engine",
                "voiceguide.engines.base"}


def _plan_modules(graph: dict[str, set[str]]) -> set[str]:
    """The plan package and every module in it: importing any of them runs the package's __init__."""
    return {m for m in graph if m == "voiceguide.plan" or m.startswith("voiceguide.plan.")}


def test_the_plan_and_the_speech_layer_import_nothing_of_each_other():
    graph = _imports()
    plan = _plan_modules(graph)
    assert len(plan) > 5 and SPEECH_LAYER <= set(graph)
    for module in plan:
        assert _reachable(graph, module) & (SPEECH_LAYER - {"voiceguide.engines.base"}) == set(), module
    for module in SPEECH_LAYER:
        assert _reachable(graph, module) & plan == set(), module


def test_engines_see_only_their_base_and_the_registry_sees_engines_only_by_name():
    graph = _imports()
    for engine in ("voiceguide.engines.pyttsx3_engine", "voiceguide.engines.piper_engine"):
        assert "voiceguide.voice" not in _reachable(graph, engine), engine
    assert _reachable(graph, "voiceguide.engines.base") <= {"voiceguide.audio", "voiceguide.errors",
                                                            "voiceguide.atomic"}
