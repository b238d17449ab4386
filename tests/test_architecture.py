"""The rooms and the one direction of their arrows (docs/ARCHITECTURE.md), read from the code's imports.

Every import counts, the lazy ones inside functions too: a lazy import still ties two modules at run
time. The rooms of trainables/, from the ground up, and who may import whom:

    terms, files  <-  data  <-  classifier  <-  quality  <-  gan  <-  runners  <-  study
    analysis imports terms and files only; nothing below study imports study or analysis.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("trainables", "study", "analysis")
# A room may import its own modules and any room of a lower rank.
RANKS = {"trainables.terms": 0, "trainables.files": 1, "trainables.data": 2, "trainables.classifier": 3,
         "trainables.quality": 4, "trainables.gan": 5, "trainables.runners": 6, "trainables": 6, "study": 8}
ANALYSIS_MAY_IMPORT = ("trainables.terms", "trainables.files", "analysis")
RAY_ROOMS = ("trainables.runners", "study", "trainables.runners.devices")
TORCH_FREE = ("trainables.terms", "trainables.files", "analysis")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _target(name: str) -> str | None:
    """The project module an import names, or None for a third-party one."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> set[str]:
    """The project modules `module` imports anywhere in its body (module level or lazily)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {t for alias in node.names if (t := _target(alias.name))}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:   # `from pkg import module` names a module; `from module import name` not
                target = _target(f"{base}.{alias.name}") if f"{base}.{alias.name}" in MODULES else _target(base)
                if target:
                    found.add(target)
    found.discard(module)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def room(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "trainables" and len(parts) > 1 and f"trainables.{parts[1]}" in RANKS:
        return f"trainables.{parts[1]}"
    return parts[0]


def _under(module: str, prefixes) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_no_import_circle():
    """Depth-first search over every import; any back edge is a circle, reported as its path."""
    state, stack, circles = {}, [], []

    def visit(module):
        state[module] = "open"
        stack.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == "open":
                circles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_arrows_run_one_way():
    wrong = []
    for module, targets in GRAPH.items():
        here = room(module)
        for target in targets:
            there = room(target)
            if here == there or there == "trainables":
                continue   # inside one room; the package face `trainables` only hands the registries on
            if here == "analysis":
                ok = _under(target, ANALYSIS_MAY_IMPORT)
            elif there == "analysis":
                ok = here == "study"   # the driver builds the report
            else:
                ok = RANKS.get(there, 99) <= RANKS.get(here, -1)
            if not ok:
                wrong.append(f"{module} -> {target}")
    assert not wrong, "arrows against the rooms' direction: " + ", ".join(sorted(wrong))


def test_only_runners_and_the_driver_import_ray():
    offenders = []
    for module, path in MODULES.items():
        if _under(module, RAY_ROOMS):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "ray" or n.startswith("ray.") for n in names):
                offenders.append(module)
    assert not offenders, f"Ray imported outside the runners: {sorted(set(offenders))}"


# `study report` and a refused command: the CLI and the report's driver side read files and train nothing.
REPORT_COMMAND = ("study.cli", "study.report_build")


@pytest.mark.parametrize("packages", [TORCH_FREE, REPORT_COMMAND], ids=["rooms", "report-command"])
def test_file_layer_terms_and_analysis_load_without_torch_or_ray(packages):
    """Importing every module of these rooms leaves torch and ray unloaded (a fresh interpreter)."""
    names = sorted(m for m in MODULES if _under(m, packages))
    code = ("import importlib, sys\n"
            f"for name in {names!r}: importlib.import_module(name)\n"
            "print(sorted(m for m in ('torch', 'ray', 'torchvision') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]", f"loaded: {result.stdout.strip()}"
