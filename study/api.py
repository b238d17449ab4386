"""The Python API: a study from a notebook or a script, the same operations as the `study` command.

    from study import api

    spec = api.spec("quick", {"dataset": "folder:~/my-images", "image_size": 32, "sizes": [200], "seeds": 2})
    result = api.run(spec, storage="studies")       # blocks; prints the same [study] progress lines
    print(result.answer)                              # the short answer, as the CLI prints it
    result.results                                    # results.csv as a pandas DataFrame (one row per trial)
    result.best                                       # the best R per cell, with its verdict (a DataFrame)
    api.resume("studies/quick", {"seeds": 3})         # extend or continue; finished work is not redone
    api.open("studies/quick").curves                  # any finished study folder, read back

Every problem a user can fix raises `SpecError` (a bad key or value) or `StudyError` / `DataError`
(a folder, a dataset), with the one-line message the CLI prints after `error:`. The API leaves the
caller's logging and console alone (the CLI's quiet console and its Ctrl-C handling are the CLI's);
the embedded Ray it starts is shut down when a run ends. The CLI's `study run` and `study resume`
(study.cli) are a thin layer over `load`, `resume_spec` and `run_spec` here.
"""

from __future__ import annotations

import dataclasses
import io
import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from study import spec as S
from study import spec_text
from study.checks import SpecError
from study.folder import StudyError, StudyFolder, split_study_dir
from study.presets import DEFAULT_PRESET
from study.schema import Spec
from study.tomlio import toml_value

__all__ = ["Study", "SpecError", "StudyError", "open", "report", "resume", "run", "spec"]
SpecError = SpecError
Overrides = Mapping[str, Any] | Sequence[str] | None


def _set_items(overrides: Overrides) -> list[str]:
    """{"gan.epochs": 5, "sizes": [200]} -> ["gan.epochs=5", "sizes=[200]"]; strings pass as they are."""
    if not overrides:
        return []
    if isinstance(overrides, Mapping):
        return [f"{key}={toml_value(value)}" for key, value in overrides.items()]
    return [str(item) for item in overrides]


def spec(source: str | Path | Mapping[str, Any] = DEFAULT_PRESET, overrides: Overrides = None, **keys: Any) -> Spec:
    """A validated study spec from a preset name, a .toml path or a dict (the study file as a dict),
    with overrides as a dict of dotted keys ({"gan.epochs": 5}), `--set` strings, or top-level keyword
    arguments (name="x", seeds=2). Raises SpecError with the CLI's one-line message."""
    items = _set_items(overrides) + _set_items(keys)
    if isinstance(source, Mapping):
        return S.spec_from_dict(spec_text.apply_overrides(dict(source), items))
    return S.load_spec(source, items)


def load(source: str | Path, overrides: Overrides = None, name: str | None = None) -> Spec:
    """What `study run SPEC --set ... --name NAME` runs: spec() with the name checked like --name."""
    result = spec(source, overrides)
    if name:
        from study.schema import checked_name

        result = dataclasses.replace(result, name=checked_name(name))
    return result


@dataclass
class Study:
    """A study folder and what it holds, read as pandas objects."""

    folder: StudyFolder

    @property
    def path(self) -> str:
        return self.folder.store.uri("")

    def _csv(self, name: str):
        import pandas as pd

        if not self.folder.store.exists(name):
            return pd.DataFrame()
        return pd.read_csv(io.StringIO(self.folder.store.read_text(name)))

    @property
    def results(self):
        """results.csv: one row per classifier trial (every setting that varies, every final metric)."""
        return self._csv("results.csv")

    @property
    def curves(self):
        """curves.csv: one row per (trial, epoch)."""
        return self._csv("curves.csv")

    @property
    def spec(self) -> dict:
        return tomllib.loads(self.folder.store.read_text("spec.toml")) if self.folder.store.exists("spec.toml") else {}

    def findings(self):
        """analysis.findings.Findings of the results (None before any result): .best, .lines(), .console()."""
        from analysis.findings import findings
        from analysis.inputs import load_gans

        results = self.results
        if results.empty:
            return None
        gans = load_gans(self.folder.store.local_path()) if self.folder.store.is_local else ()
        store = self.folder.store
        confirms = json.loads(store.read_text("confirm.json")) if store.exists("confirm.json") else None
        return findings(results, [self.spec] if self.spec else [], gans, confirms)

    @property
    def best(self):
        """The best R per cell with its verdict, as a DataFrame (empty before any result)."""
        import pandas as pd

        found = self.findings()
        return found.best if found is not None else pd.DataFrame()

    @property
    def answer(self) -> str:
        """The short answer the CLI prints at the end of a run ('' before any result)."""
        found = self.findings()
        return "\n".join(found.console()) if found is not None and len(found.best) else ""

    @property
    def report_path(self) -> str | None:
        return self.folder.store.uri("report/report.md") if self.folder.store.exists("report/report.md") else None

    def __repr__(self) -> str:
        return f"Study({self.path!r}, {len(self.results)} trial(s))"


def open(path: str | Path) -> Study:  # noqa: A001 - the API's verb, as in `api.open("studies/quick")`
    """A study folder written by run(), read back (no Ray, no torch)."""
    storage, name = split_study_dir(str(path))
    folder = StudyFolder.for_spec(storage, name)
    if not folder.store.exists():
        raise StudyError(f"{path}: no such study folder; allowed: a folder written by `study run`")
    return Study(folder)


def run_spec(the_spec: Spec, *, storage: str = "studies", address: str | None = None, gan_cache: str | None = None,
             with_report: bool = True, resume: bool = False) -> Study:
    """Run (resume=True: continue) a validated spec, blocking, with the [study] progress lines; then
    build its report."""
    from study import driver, report_build
    from study.cluster import release_ray

    try:
        folder = driver.run_study(the_spec, storage=storage, address=address, gan_cache=gan_cache, resume=resume)
    finally:
        release_ray()
    if with_report:
        report_build.build_report(folder)
    return Study(folder)


def run(source: str | Path | Mapping[str, Any] | Spec = DEFAULT_PRESET, overrides: Overrides = None, *,
        storage: str = "studies", name: str | None = None, address: str | None = None,
        gan_cache: str | None = None, with_report: bool = True) -> Study:
    """Run a study: a Spec from spec(), or a preset / .toml path / dict with overrides. Blocks until it
    ends; the returned Study reads results, curves, best and answer."""
    the_spec = source if isinstance(source, Spec) else spec(source, overrides)
    if isinstance(source, Spec) and overrides:
        raise ValueError("pass overrides to api.spec(), not with a ready Spec")
    if name:
        from study.schema import checked_name

        the_spec = dataclasses.replace(the_spec, name=checked_name(name))
    return run_spec(the_spec, storage=storage, address=address, gan_cache=gan_cache, with_report=with_report)


def resume_spec(path: str | Path, overrides: Overrides = None) -> tuple[Spec, str]:
    """(the spec a resume runs, its storage): the folder's spec.toml (unedited) with the overrides, which
    may only extend it (more seeds, sizes, ratios)."""
    from study.extend import check_extension
    from trainables.files.storage import Store

    storage, name = split_study_dir(str(path))
    folder = StudyFolder(Store.reachable(storage).sub(name))
    if not folder.store.exists("spec.toml"):
        raise StudyError(f"{path}: no spec.toml here; allowed: a folder written by `study run`")
    text = folder.stored_spec_text()
    stored = S.loads_spec(text, check_registries=False)
    folder.check_unedited(stored)
    items = _set_items(overrides)
    the_spec = S.loads_spec(text, items)
    if items:
        check_extension(stored, the_spec)
    if the_spec.name != name:
        the_spec = dataclasses.replace(the_spec, name=name)
    return the_spec, storage


def resume(path: str | Path, overrides: Overrides = None, *, address: str | None = None,
           gan_cache: str | None = None, with_report: bool = True) -> Study:
    """Continue an interrupted study, or extend it with overrides; finished work is not redone."""
    the_spec, storage = resume_spec(path, overrides)
    return run_spec(the_spec, storage=storage, address=address, gan_cache=gan_cache, with_report=with_report,
                    resume=True)


def report(path: str | Path) -> Study:
    """Rebuild results' report/ from the folder alone (no Ray)."""
    from study import report_build

    study = open(path)
    report_build.build_report(study.folder)
    return study
