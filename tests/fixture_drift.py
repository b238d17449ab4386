"""Does the analysis fixture (tests/fixtures/analysis/make_study.py) still write what the pipeline
writes? Called by the end-to-end test on the study folder it has just run for real, so a change to the
pipeline's files that the fixture does not follow fails a test instead of leaving the analysis tests
green on a layout no study produces."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "analysis"))
import make_study  # noqa: E402


def _json_kind(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _file_pattern(name: str) -> str:
    return re.sub(r"\d+", "N", name)


def differences(real: Path, tmp: Path) -> list[str]:
    """What the fixture writes that a real study folder `real` does not have, or spells differently."""
    fixture = make_study.write_study_dir(tmp / "fixture")
    problems = []
    for table in ("results.csv", "curves.csv"):
        real_columns, fixture_columns = set(pd.read_csv(real / table).columns), set(pd.read_csv(fixture / table).columns)
        problems += [f"{table}: the fixture writes column {c!r}, the pipeline does not" for c in fixture_columns - real_columns]
        if table == "results.csv":
            problems += [f"{table}: the pipeline writes column {c!r}, the fixture does not"
                         for c in real_columns - fixture_columns]
    real_env, fixture_env = json.loads((real / "env.json").read_text()), json.loads((fixture / "env.json").read_text())
    problems += [f"env.json: the fixture writes {k!r}, the pipeline does not" for k in set(fixture_env) - set(real_env)]

    real_gans = sorted((real / "gans").iterdir())
    fixture_gans = sorted((fixture / "gans").iterdir())
    real_results = pd.read_csv(real / "results.csv")
    fixture_results = pd.read_csv(fixture / "results.csv")
    for results, gans, who in ((real_results, real_gans, "pipeline"), (fixture_results, fixture_gans, "fixture")):
        named = {k for k in results["gan_key"].fillna("").astype(str) if k}
        if named != {g.name for g in gans}:
            problems.append(f"the {who}'s gan_key values and gans/ folders differ: {sorted(named)} vs "
                            f"{sorted(g.name for g in gans)}")
    if {len(g.name) for g in real_gans} != {len(g.name) for g in fixture_gans}:
        problems.append("GAN keys are spelled differently (lengths differ)")
    real_meta = json.loads((real_gans[0] / "meta.json").read_text())
    for gan in fixture_gans:
        meta = json.loads((gan / "meta.json").read_text())
        for key, value in meta.items():
            if key not in real_meta:
                problems.append(f"meta.json: the fixture writes {key!r}, the pipeline does not")
            elif real_meta[key] is not None and _json_kind(value) != _json_kind(real_meta[key]):
                problems.append(f"meta.json {key!r}: the fixture writes a {_json_kind(value)}, the pipeline a "
                                f"{_json_kind(real_meta[key])}")
        real_files = {_file_pattern(p.name) for p in real_gans[0].iterdir()}
        problems += [f"gans/<key>/{name}: the fixture writes it, the pipeline does not"
                     for name in {_file_pattern(p.name) for p in gan.iterdir()} - real_files]
    return sorted(set(problems))
