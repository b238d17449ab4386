"""The product image (Dockerfile) and what installs the project: tested versions, ranges, every node on
the same image, nothing pip-installed when a node starts.

The build itself runs where a Docker engine answers (skipped cleanly elsewhere: this machine kind has
only the client)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import time
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VERSION = PYPROJECT["project"]["version"]


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments) pairs, the way the builder reads it: comments and blank
    lines dropped, a line ending in a backslash joined to the next."""
    instructions, pending = [], ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):   # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return instructions


def _dockerfile_default(arg: str) -> str:
    (value,) = [args.partition("=")[2] for keyword, args in _instructions()
                if keyword == "ARG" and args.partition("=")[0] == arg]
    return value


def _packages() -> list[str]:
    return [package.rstrip("*") for package in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]]


def test_constraints_are_the_installed_versions_and_fit_the_ranges():
    """What `make` installs is what the tests ran against, and pyproject's ranges admit it."""
    from importlib.metadata import version

    pins = _constraints()
    for name in ("ray", "torch", "torchvision", "optuna", "pandas"):
        assert version(name).split("+")[0] == pins[name], name
    for dependency in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(dependency)
        assert requirement.specifier, f"{dependency}: give a range, not an open dependency"
        assert requirement.specifier.contains(pins[requirement.name.lower()]), dependency
        assert "==" not in str(requirement.specifier), f"{dependency}: exact pins belong in constraints.txt"
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"


def _make_dry_run(*args: str) -> list[list[str]]:
    """The commands `make -n ARGS` would run, each split as the shell would."""
    done = subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [shlex.split(line) for line in done.stdout.splitlines() if line and not line.startswith("make")]


def _pip_installs(commands: list[list[str]]) -> list[list[str]]:
    return [command for command in commands if command[1:4] == ["-m", "pip", "install"] and "--upgrade" not in command]


@pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")
def test_make_installs_with_the_constraints_and_again_when_they_change(tmp_path):
    """What `make install` runs (make's own dry run): into a venv that does not exist yet, the project
    with its dev extra under constraints.txt; into an installed one, nothing until constraints.txt or
    pyproject.toml changes, and then the same constrained install."""
    venv = tmp_path / "venv"
    (install,) = _pip_installs(_make_dry_run("install", f"VENV={venv}"))
    assert install[0] == f"{venv}/bin/python"
    assert install[install.index("-c") + 1] == "constraints.txt" and install[install.index("-e") + 1] == ".[dev]"

    stamp = venv / ".installed"            # what a finished install leaves; newer than every input
    stamp.parent.mkdir()
    stamp.touch()
    later = time.time() + 3600
    os.utime(stamp, (later, later))
    assert _pip_installs(_make_dry_run("install", f"VENV={venv}")) == []
    for changed in ("constraints.txt", "pyproject.toml"):
        assert _pip_installs(_make_dry_run("install", f"VENV={venv}", "-W", changed)) == [install], changed


def test_dependencies_are_layers_below_the_source_and_the_package_installs_last():
    """A code change rebuilds only the layers from the first source COPY on: every dependency is
    installed before it, from constraints.txt and pyproject's lists alone, and the package goes in
    last with --no-deps (nothing resolved or downloaded after the source)."""
    steps = _instructions()
    copies = [(i, args) for i, (keyword, args) in enumerate(steps) if keyword == "COPY"]
    runs = [(i, args) for i, (keyword, args) in enumerate(steps) if keyword == "RUN"]
    installs = [(i, args) for i, args in runs if "pip install" in args]
    assert len(installs) == 2, installs
    (deps_at, deps), (package_at, package) = installs
    assert "-c constraints.txt" in deps and "-r " in deps and "--no-deps" not in deps
    sources = {package: i for i, args in copies for package in _packages() if args.split()[-2] == package}
    assert sorted(sources) == sorted(_packages()), "every package the wheel ships is copied in"
    first_source = min(i for i, args in copies if args.split()[-2] not in ("constraints.txt", "pyproject.toml"))
    before = [args.split()[1:-1] for i, args in copies if i < deps_at]
    assert before == [["constraints.txt", "pyproject.toml"]], before
    assert deps_at < first_source < package_at
    assert max(sources.values()) < package_at
    assert "--no-deps" in package and package.split("&&")[0].split()[-1] == "."
    assert not [i for i, _ in copies if i > package_at], "nothing is copied after the package install"
    assert [keyword for keyword, _ in steps[package_at + 1:]] == ["ARG", "ENV"]


def test_no_package_index_host_is_named():
    """pip's own configured index unless the builder passes INDEX_URL; no index host in a default."""
    assert _dockerfile_default("INDEX_URL") == '""'
    for keyword, args in _instructions():
        assert "://" not in args or keyword == "ARG" and args.startswith("RAY_IMAGE"), (keyword, args)
        assert "--extra-index-url" not in args
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^INDEX_URL \?=\s*$", makefile, flags=re.M)
    assert not re.search(r"^\s*[A-Z_]+ \?=.*://", makefile, flags=re.M), "a Makefile default names a host"


@pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")
@pytest.mark.parametrize("value", ["not-a-url", "pypi/simple"])
def test_make_image_refuses_an_index_that_is_not_a_url(value):
    done = subprocess.run(["make", "-n", "image", f"INDEX_URL={value}"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"INDEX_URL={value} is not a URL" in lines[0], done.stderr
    assert "docker build" not in done.stdout
    ok = subprocess.run(["make", "-n", "image"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "--build-arg INDEX_URL= " in ok.stdout, ok.stdout + ok.stderr


def test_every_node_runs_the_product_image_and_installs_nothing():
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    docker = config["docker"]
    for key in ("image", "head_image", "worker_image"):
        if key in docker:
            assert docker[key].endswith(f"/gan-augment-study:{VERSION}"), docker[key]
    for key in ("setup_commands", "worker_setup_commands", "head_setup_commands"):
        for command in config.get(key, []):
            assert not re.search(r"pip install .*(torch|gan-augment-study|\.\s*$)", command), (key, command)
    docs = (ROOT / "docs" / "cluster.md").read_text()
    kuberay_images = re.findall(r"^\s+image: (\S+)$", docs, flags=re.M)
    assert kuberay_images and all(image.endswith(f"/gan-augment-study:{VERSION}") for image in kuberay_images)


def _docker_engine() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.skipif(not _docker_engine(), reason="no Docker engine answers here (the client alone cannot build)")
def test_the_image_builds_and_runs_the_cli(tmp_path):
    tag = f"gan-augment-study:test-{VERSION}"
    build = subprocess.run(["docker", "build", "--build-arg", "GIT_SHA=test-sha", "-t", tag, str(ROOT)],
                           capture_output=True, text=True, timeout=3500)
    assert build.returncode == 0, build.stderr[-3000:]
    run = subprocess.run(["docker", "run", "--rm", tag, "study", "--version"], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0 and VERSION in run.stdout, run.stdout + run.stderr
    # Built on the tested Ray and Python, with the pinned torch; one CUDA stack (the wheels'), no system
    # CUDA from a -gpu / -cuXXX base; nothing local (.venv, tests, studies) sent into the build.
    probe = ("import json, os, sys, ray, torch; print(json.dumps([ray.__version__, '%d.%d' % sys.version_info[:2], "
             "torch.__version__.split('+')[0], os.path.exists('/usr/local/cuda'), os.listdir('.')]))")
    run = subprocess.run(["docker", "run", "--rm", tag, "python", "-c", probe], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    ray_version, python, torch_version, system_cuda, listing = json.loads(run.stdout.strip().splitlines()[-1])
    pins = _constraints()
    assert (ray_version, python, torch_version, system_cuda) == (pins["ray"], "3.11", pins["torch"], False)
    assert not {".venv", "tests", "studies", ".git"} & set(listing), listing
