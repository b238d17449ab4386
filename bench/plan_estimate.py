"""How close `study plan`'s calibrated estimate on an empty storage root comes to what the run then took.

For each study below: `study plan` on a fresh root (so it calibrates: a few GAN and classifier steps at
the study's shapes), then `study run` of the same study there, back to back on the same machine; the
ratio actual / estimate for the GAN stage (sum of each key's training seconds, and of its whole span
including pool, scores and Ray Train start-up) and for the classifier trials (sum of train_seconds).

    python bench/plan_estimate.py [quick|abadi|paper ...]     # default: all three (about 15-30 min on 2 CPUs)
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
    print("\n".join(line for line in lines if "calibrated" in line or "compute" in line or "cost" in line))
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
    run = json.loads((folder / "run.json").read_text())
    return {"gan_train_seconds": sum(g.get("train_seconds") or 0 for g in gans),
            "gan_span_seconds": sum(g.get("seconds") or 0 for g in gans),
            "trial_seconds": float(results["train_seconds"].sum()),
            "wall_seconds": sum(r["wall_seconds"] for r in run.get("runs", [])), "trial_speed_only": speed_only}


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
        rows.append({"study": name, "calibration_s": round(est["calibration_seconds"], 1),
                     "gan_est_s": round(est["gan_seconds"]), "gan_train_s": round(got["gan_train_seconds"]),
                     "gan_ratio": round(got["gan_train_seconds"] / est["gan_seconds"], 2),
                     "gan_span_s": round(got["gan_span_seconds"]),
                     "trial_est_range_s": f"{est['trial_least_seconds']:.0f}-{est['trial_seconds']:.0f}",
                     "trial_train_est_at_cap_s": round(est["trial_train_seconds"], 1),
                     "trial_train_est_at_actual_periods_s": round(got["trial_speed_only"], 1),
                     "trial_train_s": round(got["trial_seconds"], 1),
                     "trial_speed_ratio": round(got["trial_seconds"] / got["trial_speed_only"], 2),
                     "wall_s": round(got["wall_seconds"])})
        print(pd.DataFrame(rows[-1:]).to_string(index=False), flush=True)
    print()
    frame = pd.DataFrame(rows)
    print("| " + " | ".join(frame.columns) + " |")
    print("|" + "---|" * len(frame.columns))
    for row in frame.itertuples(index=False):
        print("| " + " | ".join(str(v) for v in row) + " |")


if __name__ == "__main__":
    main(sys.argv[1:] or list(STUDIES))
