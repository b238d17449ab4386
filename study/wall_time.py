"""`study plan`'s wall time on this machine: the compute study.cost estimates, laid out the way the
driver runs it, plus the fixed costs the compute does not count.

    Ray's start  ->  GAN stage  ->  classifier stage

- GAN stage: the keys to train packed into Ray Train runs exactly as the driver packs them
  (study.stage_gans.pack_runs), as many runs at once as this machine holds (its CPUs, or its GPUs when
  the GANs train on GPUs, as the driver decides: study.cluster.gans_use_gpu). A run pays its
  start-up once (fresh worker processes importing torch and Ray Train), then trains its keys one after
  the other; each key also draws its pool and scores it (GAN-train, the real reference, features), and
  the first key on a dataset trains its scoring network. The stage lasts as long as its longest run,
  plus Tune's set-up of the stage. Runs starting together share the CPUs for their start-ups.
- classifier stage: Tune's set-up, then each trial its hand-over plus its training and evaluation, as
  many at once as fit, the first in each slot warming its actor up; a trial starts in the first free
  slot, in the driver's order.

The fixed costs are figures measured on a 2-CPU machine (`bench/plan_estimate.py` prints them for the
machine it runs on against the stages of run.json); where this storage root's GAN cache has
history, its runs' own start-ups and its keys' output seconds replace those constants. The plan says
which it used.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

# Measured on the 2-CPU machine this project is developed on, quiet: the default quick study (6 GANs in
# 2 Train runs at once, then 24 trials 2 at a time) and bench/plan_estimate.py's three small studies
# (run.json stage_seconds, meta.json, trial records, Tune's trial start times):
RAY_START_S = 4.5          # the driver's ray.init of an embedded cluster (stage_seconds.ray_start: 3-4.5)
GAN_STAGE_SETUP_S = 4.0    # the GAN stage's start to its first Train run's fit() (4.1), and its end (0.3)
TRAIN_RUN_START_S = 8.0    # one Train run alone: fit() to its first epoch (meta.json startup_seconds: 6.2-9.7)
CLASSIFIER_STAGE_SETUP_S = 3.0   # the classifier stage's start to its first trials' start (3.0-3.2)
TRIAL_WARM_UP_S = 1.0      # a trial actor's first trial: its first steps (trial_seconds 1.1-1.3 s for ~0.2 s of compute)
TRIAL_START_S = 0.1        # each trial: Tune reuses the actor, so only the hand-over (24 trials, 2 at a time:
#                            8.1 s from the first trials' start to the end, 6.2 s of compute per slot)


@dataclass(frozen=True)
class FixedCosts:
    """The seconds the compute does not count; `source` says where they come from. `train_run_start` is
    one Train run's start-up alone; runs starting together share the CPUs with each other and the
    driver (measured: 2 runs on 2 CPUs took 10.5 and 11.2 s each), unless it is a figure measured in
    this storage root, which already holds this machine's contention (`contended` False)."""
    ray_start: float = RAY_START_S
    gan_stage_setup: float = GAN_STAGE_SETUP_S
    train_run_start: float = TRAIN_RUN_START_S
    classifier_stage_setup: float = CLASSIFIER_STAGE_SETUP_S
    trial_warm_up: float = TRIAL_WARM_UP_S
    trial_start: float = TRIAL_START_S
    contended: bool = True
    source: str = "constants measured on a 2-CPU machine"

    def run_start(self, starting_together: int, cpus: float) -> float:
        """One Train run's start-up when `starting_together` runs start at once on `cpus` CPUs."""
        if not self.contended:
            return self.train_run_start
        return self.train_run_start * max(1.0, (starting_together + 1) / max(cpus, 1.0))


def slots_finish(durations: list[float], slots: int) -> float:
    """When the last of `durations` ends when each starts, in this order, in the first free of `slots`
    (Tune's FIFO scheduling of a fixed number of concurrent trials)."""
    if not durations:
        return 0.0
    free = [0.0] * max(1, slots)
    for seconds in durations:
        heapq.heappush(free, heapq.heappop(free) + seconds)
    return max(free)


def gan_stage_seconds(runs: list[list[tuple[float, float]]], slots: int, costs: FixedCosts, cpus: float,
                      scoring: float = 0.0) -> float:
    """`runs`: per Train run (stage_gans.pack_runs), each key's (training, outputs) seconds. `scoring`:
    the dataset's scoring network, trained by the first key to finish its training while the runs of
    the first wave that finish theirs meanwhile wait for it (trainables.quality.scoring's lock). The
    first wave starts together on `cpus` CPUs; later runs start alone as a slot frees."""
    if not runs:
        return 0.0
    first_wave = runs[:max(1, slots)]
    start = costs.run_start(len(first_wave), cpus)
    trained = [start + keys[0][0] for keys in first_wave]
    scored = min(trained) + scoring
    durations = [max(first, scored) + sum(outputs for _, outputs in keys) + sum(t for t, _ in keys[1:])
                 for first, keys in zip(trained, first_wave, strict=True)]
    durations += [costs.run_start(1, cpus) + sum(t + o for t, o in keys) for keys in runs[len(first_wave):]]
    return costs.gan_stage_setup + slots_finish(durations, slots)


def classifier_stage_seconds(trials: list[float], slots: int, costs: FixedCosts) -> float:
    """`trials`: each trial's training and evaluation seconds, in the order the driver starts them; the
    first trial in each slot warms its actor up."""
    if not trials:
        return 0.0
    durations = [costs.trial_start + seconds + (costs.trial_warm_up if i < slots else 0.0)
                 for i, seconds in enumerate(trials)]
    return costs.classifier_stage_setup + slots_finish(durations, slots)
