"""The product image (Dockerfile) and what installs the project: tested versions, ranges, every node on
the same image, nothing pip-installed when a node starts.

The build itself runs where a Docker engine answers (skipped cleanly elsewhere: this machine kind has
only the client)."""

from __future__ import annotations

import re
import shutil
import subprocess
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


def _dockerfile_default(arg: str) -> str:
    (value,) = re.findall(rf"^ARG {arg}=(\S+)$", (ROOT / "Dockerfile").read_text(), flags=re.M)
    return value


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


def test_makefile_installs_with_the_constraints():
    makefile = (ROOT / "Makefile").read_text()
    assert "-c constraints.txt -e '.[dev]'" in makefile
    assert re.search(r"^\$\(STAMP\): pyproject.toml constraints.txt$", makefile, flags=re.M)


def test_image_is_built_on_the_tested_ray_and_python():
    ray_image = _dockerfile_default("RAY_IMAGE")
    repo, tag = ray_image.split(":")
    assert repo == "rayproject/ray"
    assert re.fullmatch(rf"{re.escape(_constraints()['ray'])}-py311-(gpu|cu\d+)", tag), ray_image
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "-c constraints.txt" in dockerfile
    # Every package the wheel ships is copied in, and nothing local (.venv, studies) is sent to the build.
    for package in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]:
        assert f"COPY --chown=ray:users {package.rstrip('*')} " in dockerfile, package
    ignored = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert ignored[0] == "*", "the build context admits only what the image needs"
    assert "ENV STUDY_GIT_SHA=${GIT_SHA}" in dockerfile


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
