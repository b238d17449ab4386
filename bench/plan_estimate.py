"""How close `study plan`'s calibrated estimate on an empty storage root comes to what the run then took.

For each study below: `study plan` on a fresh root (so it calibrates: a few GAN and classifier steps at
the study's shapes), then `study run` of the same study there, back to back on the same machine; the
ratio actual / estimate for
- the compute: the GANs' training seconds (meta.json train_seconds) and the trials' (results.csv
  train_seconds; the trial speed checked alone at the periods each trial ran, since a calibration cannot
  know where early stopping ends);
- the wall time the plan prints: Ray's start, the GAN stage, the classifier stage and the whole run
  against run.json's stage_seconds (the estimate is a range where early stopping may end trials early;
  the ratio is against the range's middle, "in" says whether the actual lies in the range +/-30%).
  Columns ending in _s read "actual / estimate" seconds; ray_start_s counts the checks before it too.

    python bench/plan_estimate.py [quick-demo|quick|abadi|paper ...]   # default: all four (about 7 min on 2 CPUs)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

STUDIES = {
    # the quick preset as the README's demo runs it: 6 GANs in 2 Train runs at once, 24 trials
    "quick-demo": ["quick"],
    # the quick preset at one size and one seed (its own GAN and classifier settings)
    "quick": ["quick", "--set", "sizes=[500]", "--set", "seeds=1"],
    # Abadi's MNIST preset shrunk to CPU size: per-class GANs (10 generators in one process), the MLP
    "abadi": ["abadi-mnist", "--set", "dataset=mnist-5k", "--set", "sizes=[300]", "--set", "seeds=1", "--set", "gan.repeats=once",
              "--set", "gan.epochs=10", "--set", "classifier.epochs=5", "--set", "mix.ratios=[0, 1]",
              "--set", "resources.gpus_per_trial=0"],
    # the paper-recipe quick preset: a different recipe and schedule
    "paper": ["quick-paper", "--set", "sizes=[300]", "--set", "seeds=1", "--set", "mix.ratios=[0, 1]"],
}


def estimate(args: list[str], root: str) -> dict:
    from study import cost
    from study import spec as S
    from study.plan_view import describe

    overrides = [args[i + 1] for i, a in enumerate(args) if a == "--set"]
    spec = S.load_spec(args[0], overrides)
    started = time.perf_counter()
    lines, problems = describe(spec, root)
    print("\n".join(line for line in lines if any(word in line for word in ("calibrated", "compute", "cost", "wall"))))
    return dict(cost.last_estimate, plan_seconds=time.perf_counter() - started, name=spec.name)


def actual(root: str, name: str, speeds: dict, schedule: str) -> dict:
    folder = Path(root) / name
    results = pd.read_csv(folder / "results.csv")
    # The calibrated speed checked alone: the training seconds it predicts for the periods each trial
    # actually ran (early stopping's length is not something a calibration can know).
    speed = next(iter(speeds.values()))
    per_period = results["size"] * ((1 + results["ratio"]) if schedule == "epochs" else 1)
    speed_only = float((results["epochs_trained"] * per_period / speed).sum())
    gans = [json.loads(p.read_text()) for p in (Path(root) / "gan-cache").glob("*/meta.json")]
    (run,) = json.loads((folder / "run.json").read_text())["runs"]   # one run: no resume here
    return {"gan_train_seconds": sum(g.get("train_seconds") or 0 for g in gans),
            "trial_seconds": float(results["train_seconds"].sum()), "trial_speed_only": speed_only,
            "wall_seconds": run["wall_seconds"], "stages": run["stage_seconds"]}


def _within(actual: float, least: float, most: float, slack: float = 0.3) -> str:
    return "yes" if least * (1 - slack) <= actual <= most * (1 + slack) else "no"


def main(names: list[str]) -> None:
    rows = []
    for name in names:
        root = tempfile.mkdtemp(prefix=f"plan-estimate-{name}-")
        est = estimate(STUDIES[name], root)
        done = subprocess.run([sys.executable, "-m", "study.cli", "run", *STUDIES[name], "--storage", root,
                               "--no-report"], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(done.stderr[-3000:])
        got = actual(root, est["name"], est["trial_speed"], est["schedule"])
        stages, (least, most) = got["stages"], est["wall_trials"]
        ray_and_checks = stages["checks"] + stages["ray_start"]
        rows.append({"study": name, "calibration_s": round(est["calibration_seconds"], 1),
                     "gan_train_ratio": round(got["gan_train_seconds"] / est["gan_seconds"], 2),
                     "trial_speed_ratio": round(got["trial_seconds"] / got["trial_speed_only"], 2),
                     "ray_start_s": f"{ray_and_checks:.0f} / {est['ray_start']:.0f}",
                     "gan_stage_s": f"{stages['gans']:.0f} / {est['wall_gans']:.0f}",
                     "gan_stage_ratio": round(stages["gans"] / est["wall_gans"], 2),
                     "classifier_stage_s": f"{stages['classifiers']:.0f} / {least:.0f}-{most:.0f}",
                     "classifier_stage_ratio": round(stages["classifiers"] / ((least + most) / 2), 2),
                     "classifier_in": _within(stages["classifiers"], least, most),
                     "wall_s": f"{got['wall_seconds']:.0f} / {est['wall'][0]:.0f}-{est['wall'][1]:.0f}",
                     "wall_ratio": round(got["wall_seconds"] / (sum(est["wall"]) / 2), 2),
                     "wall_in": _within(got["wall_seconds"], *est["wall"])})
        print(pd.DataFrame(rows[-1:]).to_string(index=False), flush=True)
    print()
    frame = pd.DataFrame(rows)
    print("| " + " | ".join(frame.columns) + " |")
    print("|" + "---|" * len(frame.columns))
    for row in frame.itertuples(index=False):
        print("| " + " | ".join(str(v) for v in row) + " |")


if __name__ == "__main__":
    main(sys.argv[1:] or list(STUDIES))
