"""The Train worker's loop of a GAN run: the run's keys one after the other, each ending in meta.json.

One TorchTrainer.fit() trains every key a GAN trial was given (study/stage_gans packs a stage's keys
into one run per slot, longest first), because a fit's start-up is paid per fit: the Train controller
and worker processes, `import torch` and Ray Train in them, the placement group, and the first
optimizer's import of torch._dynamo; about 7 s on a quiet 2-core machine and 9.5 s inside a study
(BENCHMARKS.md, "Ray Train fixed cost per GAN key"). Six keys on two slots paid it six times; one run per
slot pays it twice, and the models of every key are still built, seeded and trained exactly as in a
run of their own (gan_train.train_key reseeds everything from the key's seed).

Per key, rank 0 writes meta.json as soon as the key ends, so a key is complete in the cache (and
visible to the progress line, to a second study waiting on it, and to a resume) without waiting for
the rest of the run. When Ray Train restarts the worker group after a crash (FailureConfig), the loop
starts over: the keys already complete are skipped, and the key that was training resumes from its
newest checkpoint (trainables.gan.checkpoints).
"""

from __future__ import annotations

import time

import torch

from trainables.files import gan_cache
from trainables.files.storage import Store
from trainables.gan.job import KeyRun
from trainables.runners import gan_train
from trainables.runners.fault_hooks import GanFaults


def timing(history: list[dict], span_started: float, span_seconds: float, outputs_seconds: float) -> dict:
    """Throughput and Ray Train overhead of one key: the span is the key's share of the run (for the
    first key the run's start-up from the fit() call; for the others from the end of the one before).
    The overhead is the span beyond the epochs trained in it and the pool and scores rank 0 drew."""
    this_span = [row for row in history if row.get("started_at", 0) >= span_started]
    train_seconds = sum(row["seconds"] for row in history)
    images = sum(row["images_per_second"] * row["seconds"] for row in history)
    fields = {
        "train_seconds": train_seconds,
        "images_per_second": images / train_seconds if train_seconds > 0 else 0.0,
        "seconds_per_epoch": train_seconds / len(history) if history else None,
        "fit_seconds": span_seconds,
        "fit_started_at": span_started,   # wall clock: where this key sits in the study's timeline (bench)
        "seconds": span_seconds,
    }
    if this_span:
        fields["startup_seconds"] = min(row["started_at"] for row in this_span) - span_started
        fields["fit_overhead_seconds"] = span_seconds - sum(row["seconds"] for row in this_span) - outputs_seconds
    # Epochs restored from a checkpoint an earlier run wrote (0: trained from scratch in this span).
    fields["resumed_from_epoch"] = len(history) - len(this_span)
    return fields


def _key_meta(run: KeyRun, outcome: dict, span_started: float) -> dict:
    """meta.json of a key that ended (ok or diverged): what the driver recorded about the key, the
    losses, the outputs rank 0 drew and the timing."""
    history = outcome["history"]
    meta = dict(run.meta) | {
        "status": outcome["status"], "diverged_epoch": outcome["diverged_epoch"], "reason": outcome["reason"],
        "epochs_trained": len(history),
        "losses": [{column: row[column] for column in gan_train.LOSS_COLUMNS} for row in history]}
    meta |= outcome["outputs"]   # the real grid, and for an ok GAN its pool and scores
    return meta | timing(history, span_started, time.time() - span_started, meta["outputs_seconds"])


def train_loop_per_worker(config: dict) -> dict:
    """Train config["keys"] in order (fields: gan_trainer.train_loop_config); returns, on rank 0, each
    key's meta as written (the keys found complete at a restart included)."""
    import ray.train
    import ray.train.torch

    context = ray.train.get_context()
    torch.set_num_threads(int(config.get("threads", 1)))
    train, test, validation = gan_train.resolve_sets(config["real_ref"])
    worker = gan_train.Worker(rank=context.get_world_rank(), world=context.get_world_size(),
                              device=ray.train.torch.get_device(), train=train, test=test, validation=validation,
                              faults=GanFaults(**config.get("faults", {})),
                              scoring_cache=Store(config["cache_root"]), draw_pool=config["draw_pool"])
    metas = {}
    span_started = float(config["fit_called_at"])
    for run in config["keys"]:
        name = run.job.key()
        # Trained before a restart of this run: rank 0 reads the cache and every rank skips the key.
        if worker.agreed(gan_cache.is_complete(config["cache_root"], name) if worker.rank == 0 else None):
            if worker.rank == 0:
                metas[name] = gan_cache.read_meta(config["cache_root"], name)
            continue
        outcome = gan_train.train_key(run, worker)
        if worker.rank == 0:
            metas[name] = gan_cache.write_meta(Store(run.gan_dir), _key_meta(run, outcome, span_started))
        span_started = time.time()
    # No ray.train.report: the result is rank 0's return value (Result.metrics holds only checkpointed
    # reports), and a report would add a barrier and a controller round trip to the end of every run.
    return metas if worker.rank == 0 else {}
