"""The Ray Train run that trains a list of GAN keys (gan_worker): its TorchTrainer, and what each fit pays for.

A TorchTrainer.fit() is cheap per epoch (the loop runs in the worker at in-process speed) but each
fit starts a handful of fresh processes, and on a 2-core laptop their start-up competes with the
other GAN training next to it. So a slot's keys train one after the other in one fit (gan_worker), and
each fit starts only what a GAN run uses. Measured on the 2-core build machine (BENCHMARKS.md, "What
the numbers say" and "The study against its compute floor"): a fit with Ray's defaults used 18.2
CPU-seconds of the machine, the same fit as this module builds it 14.3 (bench/gan_train.py, same loop
and epochs); per fit, a study's CPU went to starting and running these processes: the Train
controller, the worker, a synchronization actor (report barriers), a placement-group cleaner, a
dataset manager and a preemption watcher, plus a Tune queue actor when a Tune callback forwards
Train's reports.
What this module keeps off a GAN run, and why each is safe:

- `DatasetsCallback`: starts an actor that imports Ray Data to serve dataset shards; a GAN run
  passes no Ray Datasets (the real subset comes from the object store), so it serves nothing.
- `PlacementGroupCleanerCallback`: a detached actor polling the state API every second to remove
  the worker group's placement group should the controller die ungracefully. A placement group
  created without `lifetime="detached"` already fate-shares with its creator (the controller), and
  an embedded cluster goes away with the study; the poll also loads the dashboard.
- The preemption watcher (RAY_TRAIN_ENABLE_PREEMPTION_WATCHER) on a one-node cluster: it watches
  for spot preemption of *other* nodes; a one-node cluster's only node takes the study with it.
- TuneReportCallback: the GAN trial reports its keys' outcome to Tune once, at the end; forwarding
  every checkpoint report needed a queue actor per trial and showed nothing the progress line
  (read from the cache) does not.
"""

from __future__ import annotations

import hashlib
import os
import time

from trainables.files.storage import Store
from trainables.gan.job import GanJob, KeyRun
from trainables.runners import fault_hooks

# How often Ray Train's controller polls its workers (Ray's default: 2 s). The controller also notices
# the end of a run only at a poll, a few polls after the workers return: an empty TorchTrainer.fit()
# took 10.2-11.2 s with 2 s, 7.2-8.1 s with 0.2 s on the 2-core build machine. Set: 0.25 s, near the
# measured 0.2 s; a poll is one small actor call, and 0.25 s against 1 s showed no CPU difference (2
# fits of 12 epochs, BENCHMARKS.md). A user's own setting wins.
TRAIN_POLL_INTERVAL_S = {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.25"}
ONE_NODE_SETTINGS = {"RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0"}   # see the module docstring
TRAIN_RUNS_FOLDER = ".train-runs"   # in the GAN cache, beside .locks: Ray Train's run folders (bookkeeping only)


def unused_callback_types() -> tuple[type, ...]:
    """The default Train callbacks a GAN run does not use (module docstring). Imported by name from
    Ray's internals: a Ray upgrade that moves them fails tests/test_gan_trainer.py, not silently."""
    from ray.train.v2._internal.callbacks.datasets import DatasetsCallback
    from ray.train.v2._internal.callbacks.placement_group_callback import PlacementGroupCleanerCallback

    return DatasetsCallback, PlacementGroupCleanerCallback


def _trainer_class():
    from ray.train.torch import TorchTrainer

    class GanTorchTrainer(TorchTrainer):
        """A TorchTrainer without the default callbacks a GAN run does not use."""

        def _create_default_callbacks(self):
            callbacks = super()._create_default_callbacks()
            if self.datasets:   # a caller that passes Ray Datasets gets them served as usual
                return callbacks
            unused = unused_callback_types()
            return [callback for callback in callbacks if not isinstance(callback, unused)]

    return GanTorchTrainer


def run_shape(job: GanJob) -> tuple:
    """What one Train run's keys must share: its workers, their CPUs and the retries."""
    return job.workers, job.cpus_per_worker, job.max_failures


def run_name(jobs: list[GanJob]) -> str:
    """Deterministic (no timestamps): the same keys make the same run name."""
    digest = hashlib.sha256(" ".join(sorted(job.key() for job in jobs)).encode()).hexdigest()[:12]
    return f"run-{digest}"


def train_loop_config(real_ref, cache_root: str, keys: list[KeyRun], threads: int, draw_pool: bool = True) -> dict:
    """The config every Train worker gets (plus the faults a test set in this process's environment):
    the keys in the order they train (KeyRun), and what the worker shares across them.
    draw_pool=False ends each key at its last checkpoint without a pool or scores (benches timing the
    fit alone). `fit_called_at` is taken now: the config is built just before fit()."""
    faults = fault_hooks.gan_faults_from_environment()
    return {
        "real_ref": real_ref, "keys": keys, "threads": threads,
        "cache_root": Store(cache_root).uri(), "draw_pool": draw_pool, "fit_called_at": time.time(),
    } | ({"faults": faults} if faults else {})


def _apply_settings() -> None:
    """Ray Train reads these from the environment of the process calling fit() and passes them on to
    its controller; a user's own setting wins."""
    import ray

    settings = dict(TRAIN_POLL_INTERVAL_S)
    if ray.is_initialized() and len([node for node in ray.nodes() if node.get("Alive")]) == 1:
        settings |= ONE_NODE_SETTINGS
    for name, value in settings.items():
        os.environ.setdefault(name, value)


def build_trainer(jobs: list[GanJob], real_ref, cache_root: str, keys: list[KeyRun], use_gpu: bool,
                  draw_pool: bool = True):
    """The TorchTrainer that trains `jobs` one after the other (`keys`: their KeyRun, same order) in
    one run under `<cache_root>/.train-runs/`; its rank 0 ends each key by drawing the key's pool and
    scores (trainables.gan.pool.key_outputs) unless draw_pool=False. The jobs share one run_shape."""
    from ray.train import FailureConfig, RunConfig, ScalingConfig

    from trainables.runners import gan_worker

    shapes = {run_shape(job) for job in jobs}
    if len(shapes) != 1:
        raise ValueError(f"one Train run needs one shape (workers, CPUs, retries) for its keys, got {sorted(shapes)}")
    workers, cpus_per_worker, max_failures = shapes.pop()
    _apply_settings()
    return _trainer_class()(
        gan_worker.train_loop_per_worker,
        train_loop_config=train_loop_config(real_ref, cache_root, keys, cpus_per_worker, draw_pool),
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu,
                                     resources_per_worker={"CPU": cpus_per_worker} | ({"GPU": 1} if use_gpu else {})),
        run_config=RunConfig(
            name=run_name(jobs), storage_path=Store(cache_root).uri(TRAIN_RUNS_FOLDER),
            # The keys' checkpoints are written by the loop into each key's folder (trainables.gan.checkpoints);
            # Ray Train restarts the workers from them up to max_failures times.
            failure_config=FailureConfig(max_failures=max_failures),
        ),
    )
