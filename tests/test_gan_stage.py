"""GAN stage: the key, both per-class paths, Ray Train runs, outputs, cache, divergence, resume."""

import csv
import io
import json
import os
from dataclasses import replace

import pytest
import torch

from trainables.data import sampling
from trainables.data.images import ImageSet
from trainables.files import gan_cache
from trainables.files.storage import Store
from trainables.gan import checkpoints as gan_checkpoints
from trainables.gan import engine as gan_engine
from trainables.gan import job as gan_job
from trainables.gan import losses as gan_losses
from trainables.gan import pool as gan_pool
from trainables.gan.archs import GANS
from trainables.gan.engine import ModelSpec, build_models, epoch_shards, generate, group_indices
from trainables.runners import fault_hooks, gan_keys, gan_trainer

BASE = dict(dataset="mnist-5k", data_root="", size=200, seed=0, arch="abadi", conditioning="per-class",
            alpha=0.25, epochs=2, batch_size=32, lr=2e-4, beta1=0.5, pool_per_class=12, checkpoint_every=1)


def _job(**overrides) -> gan_job.GanJob:
    return gan_job.GanJob(**(BASE | overrides))


@pytest.fixture(scope="module")
def ray_module():
    """One 2-CPU Ray for this module; reuses a session-wide instance when one is already up."""
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def real(mnist5k):
    """(train, test, validation) as a study puts it: the quality gate is measured on the validation split."""
    train, test = mnist5k
    train, validation = sampling.split_validation(train, 400)
    return train, test, validation


@pytest.fixture(autouse=True)
def _no_test_hooks(monkeypatch):
    monkeypatch.delenv(fault_hooks.INJECT_NAN_EPOCH, raising=False)
    monkeypatch.delenv(fault_hooks.FAIL_ONCE_MARKER, raising=False)


def _losses(study_root, key) -> list[dict]:
    with open(os.path.join(gan_cache.gan_dir(study_root, key), "losses.csv")) as handle:
        return list(csv.DictReader(handle))


# ---------------------------------------------------------------------------------------------
# key


def test_key_is_stable_and_ignores_how_it_runs():
    job = _job()
    assert job.key() == _job().key() and len(job.key()) == 12
    assert job.key() == replace(job, data_root="/elsewhere", workers=2, checkpoint_every=9,
                                max_failures=5, grouping="loop", cpus_per_worker=2).key()
    # The pool grows on demand and the batch size is the global batch: neither changes the GAN.
    assert job.key() == replace(job, pool_per_class=500, workers=4).key()
    assert job.key() == replace(job, alpha=0.25 + 0.0, lr=0.0002).key()
    with pytest.raises(AssertionError, match="alpha must be a float"):
        replace(job, alpha=1)     # typed once, by the study file's schema; the job never re-casts it


def test_alpha_is_typed_once_at_the_study_file():
    """`alpha = [1]` and `alpha = [1.0]` in a study file are one GAN key: the schema makes both 1.0, and
    the float travels unchanged to the generator's width."""
    from study import plan
    from study import spec as S

    keys = []
    for alpha in ("1", "1.0"):
        spec = S.load_spec("quick", [f"gan.alpha=[{alpha}]"])
        point = next(p for p in plan.trial_points(spec) if plan.uses_gan(p))
        job = plan.gan_job(spec, point, 100)
        assert job.alpha == 1.0 and isinstance(job.alpha, float)
        assert job.model_spec((1, 28, 28), 10, "loop").alpha is job.alpha
        keys.append(job.key())
    assert keys[0] == keys[1]


@pytest.mark.parametrize("field,value", [
    ("dataset", "fashion-mnist"), ("size", 400), ("size", "full"), ("seed", 1), ("arch", "dcgan"),
    ("conditioning", "conditional"), ("alpha", 0.5), ("epochs", 3), ("batch_size", 64), ("lr", 1e-3),
    ("beta1", 0.9), ("validation", 400),
])
def test_any_changed_gan_field_changes_the_key(field, value):
    assert replace(_job(), **{field: value}).key() != _job().key()


def test_key_fields_are_readable_and_include_the_code_version():
    fields = _job().key_fields()
    assert fields["code_version"] == gan_job.GAN_CODE_VERSION and fields["arch"] == "abadi"


@pytest.mark.parametrize("overrides,message", [
    (dict(arch="gan9"), r"unknown GAN .gan9. \(did you mean .dcgan.\?\); allowed: abadi \| dagan"),
    (dict(conditioning="joint"), "unknown conditioning"),
    (dict(arch="dagan"), "label-conditioned only"),
    (dict(grouping="threads"), "grouping"),
])
def test_bad_jobs_fail_with_a_clear_message(overrides, message):
    with pytest.raises(ValueError, match=message):
        _job(**overrides).check()


@pytest.mark.parametrize("overrides", [dict(epochs=1.0), dict(workers=3), dict(lr=1)])
def test_a_job_asserts_what_the_study_file_validated(overrides):
    """Values a study file cannot produce (the schema refuses them with the key named, exit 2) are a
    programming error in a job: asserted when it is made, never re-checked on the way to the worker."""
    with pytest.raises(AssertionError):
        _job(**overrides)


# ---------------------------------------------------------------------------------------------
# per-class paths and batching (no Ray)


def _spec(grouping, arch="abadi", conditioning="per-class", num_classes=3):
    return ModelSpec(arch, conditioning, 0.25, (1, 28, 28), num_classes, grouping, seed=0)


@pytest.mark.parametrize("arch", ["abadi", "dcgan", "hooda"])
def test_vmap_and_loop_groups_are_the_same_gans(arch):
    """Same init, same inputs -> same outputs and same gradients on both per-class paths."""
    (gv, dv), (gl, dl) = build_models(_spec("vmap", arch)), build_models(_spec("loop", arch))
    z = torch.randn(3, 4, GANS[arch].latent_dim)
    fake_v, fake_l = gv(z), gl(z)
    assert fake_v.shape == fake_l.shape == (3, 4, 1, 28, 28)
    torch.testing.assert_close(fake_v, fake_l, rtol=1e-4, atol=1e-5)
    dv.eval(), dl.eval()  # dropout off, so both paths compute the same function
    logits_v, logits_l = dv(fake_v), dl(fake_l)
    assert logits_v.shape == logits_l.shape == (3, 4, 1)
    torch.testing.assert_close(logits_v, logits_l, rtol=1e-4, atol=1e-5)
    logits_v.sum().backward()
    logits_l.sum().backward()
    stacked = gv.fc__weight.grad if arch != "dcgan" else gv.net__0__weight.grad
    member = gl.members[1].fc.weight.grad if arch != "dcgan" else gl.members[1].net[0].weight.grad
    torch.testing.assert_close(stacked[1], member, rtol=1e-4, atol=1e-6)


def test_vmap_group_dropout_differs_between_members():
    _, disc = build_models(_spec("vmap"))
    x = torch.randn(1, 8, 1, 28, 28).expand(3, -1, -1, -1, -1)
    with torch.no_grad():
        # Identical members (copy member 0's weights) on identical inputs differ only by dropout.
        for name in disc.param_names:
            getattr(disc, disc._flat(name)).copy_(getattr(disc, disc._flat(name))[:1].expand_as(
                getattr(disc, disc._flat(name))))
        out = disc(x)
    assert not torch.allclose(out[0], out[1])


@pytest.mark.parametrize("grouping", ["vmap", "loop"])
def test_generate_makes_a_balanced_uint8_pool(grouping):
    spec = _spec(grouping)
    gen, _ = build_models(spec)
    pool = generate(gen, spec, per_class=5, seed=1, device=torch.device("cpu"))
    assert pool.images.dtype == torch.uint8 and pool.images.shape == (15, 1, 28, 28)
    assert pool.class_counts().tolist() == [5, 5, 5]


@pytest.mark.parametrize("grouping, conditioning", [("loop", "per-class"), ("vmap", "conditional")])
def test_a_larger_pool_starts_with_the_smaller_pools_images(grouping, conditioning, monkeypatch):
    """Pools grow on demand, so the first images of each class must not depend on the pool's size;
    blocks of a fixed shape (small here, to cross block boundaries) make it so."""
    monkeypatch.setattr(gan_engine, "POOL_BLOCK", 12)   # 4 images per class per block
    spec = _spec(grouping, conditioning=conditioning)
    gen, _ = build_models(spec)
    small = generate(gen, spec, per_class=5, seed=3, device=torch.device("cpu"))
    large = generate(gen, spec, per_class=11, seed=3, device=torch.device("cpu"))

    assert torch.equal(sampling.take_balanced(large, 15).images, small.images)
    assert torch.equal(sampling.take_balanced(large, 9).images, sampling.take_balanced(small, 9).images)


def test_generate_conditional_uses_labels():
    spec = _spec("vmap", arch="dagan", conditioning="conditional")
    gen, disc = build_models(spec)
    pool = generate(gen, spec, per_class=4, seed=1, device=torch.device("cpu"))
    assert pool.class_counts().tolist() == [4, 4, 4]
    assert disc.out_dim == 2 * spec.num_classes
    assert gan_losses.loss_kind(disc.out_dim, spec.num_classes) == "2k-class"


def test_two_k_class_loss_targets():
    logits = torch.full((1, 2, 4), -10.0)  # K = 2 classes -> 4 logits
    labels = torch.tensor([[0, 1]])
    logits[0, 0, 0] = logits[0, 1, 1] = 10.0  # both images confidently "real, class y"
    loss = gan_losses.TwoKClassLoss
    assert loss.real(logits, labels, 2) < 1e-3 and loss.generator(logits, labels, 2) < 1e-3
    assert loss.fake(logits, labels, 2) > 10  # they should have been classified as K + y


def test_epoch_shards_split_each_class_evenly_between_ranks():
    labels = torch.arange(3).repeat_interleave(torch.tensor([7, 6, 6]))
    groups = group_indices(labels, "per-class", 3)
    shards = [epoch_shards(groups, epoch_seed=5, rank=r, world=2) for r in (0, 1)]
    assert shards[0].shape == shards[1].shape == (3, 4)  # 7 rounded up to 8, dealt to 2 ranks
    for k in range(3):
        seen = torch.cat([shards[0][k], shards[1][k]])
        assert set(seen.tolist()) == set(groups[k].tolist())  # every image of the class, no other
    assert torch.equal(epoch_shards(groups, 5, 0, 2), shards[0])  # same seed, same order
    assert not torch.equal(epoch_shards(groups, 6, 0, 2), shards[0])


def test_checkpoints_live_in_the_key_folder_and_the_newest_two_are_kept(tmp_path):
    store = Store(tmp_path / "key")
    assert gan_checkpoints.latest(store) is None and gan_checkpoints.checkpoints(store) == []
    for epoch in (1, 2, 3, 10):
        assert gan_checkpoints.write(store, {"epoch": epoch, "w": torch.full((2,), float(epoch))}) == \
            f"checkpoint_epoch{epoch:04d}"
    # Ordered by epoch, not by name length; the older ones are gone.
    assert gan_checkpoints.checkpoints(store) == ["checkpoint_epoch0003", "checkpoint_epoch0010"]
    assert gan_checkpoints.latest(store) == "checkpoint_epoch0010"
    assert torch.equal(gan_checkpoints.read(store, "checkpoint_epoch0010")["w"], torch.full((2,), 10.0))
    assert sorted(os.listdir(tmp_path / "key")) == ["checkpoint_epoch0003", "checkpoint_epoch0010"]   # no temp files


# ---------------------------------------------------------------------------------------------
# through Ray Train


def _check_outputs(study_root, job, meta):
    folder = gan_cache.gan_dir(study_root, job.key())
    assert meta["status"] == "ok" and meta["key"] == job.key() and meta["epochs_trained"] == job.epochs
    names = os.listdir(folder)
    for name in ("meta.json", "pool.pt", "losses.csv", "real_samples.png",
                 *(f"samples_epoch{e:03d}.png" for e in range(1, job.epochs + 1))):
        assert name in names, name
    assert any(n.startswith("checkpoint_epoch") for n in names)
    pool = gan_pool.load_key_pool(study_root, job.key())
    assert pool.images.dtype == torch.uint8 and pool.labels.dtype == torch.int64
    assert pool.class_counts().tolist() == [job.pool_per_class] * 10
    assert [int(r["epoch"]) for r in _losses(study_root, job.key())] == list(range(1, job.epochs + 1))
    assert json.loads(open(os.path.join(folder, "meta.json")).read())["key_fields"] == job.key_fields()
    # The scores sit at the top level of meta.json, where the report reads them.
    assert 0 <= meta["gan_train_acc"] <= 1 and 0 <= meta["gan_test_acc"] <= 1
    # The quality gate: on the validation split, the same number of real and synthetic images.
    assert meta["gate_split"] == "validation" and meta["gate_images"] == min(meta["size"], meta["scored_images"], 2000)
    assert meta["frechet_distance"] >= 0 and "quality_note" in meta
    assert gan_cache.is_complete(study_root, job.key())


# Every test below that trains through Ray Train is slow: the fast set starts no Ray (conftest.py).
@pytest.mark.slow
def test_each_arch_trains_through_torch_trainer(ray_module, real, study_caches, tmp_path):
    """Every other architecture (abadi per-class runs in test_outputs_checkpoints_and_cache), its keys in one
    Train run as a study packs them: each key ends with its own complete outputs."""
    study_caches.scoring_into(tmp_path)   # the dataset's scoring network (test_outputs_checkpoints_and_cache trains it)
    jobs = [_job(arch=arch, conditioning=conditioning, epochs=1)
            for arch, conditioning in [("dcgan", "per-class"), ("hooda", "conditional"), ("dagan", "conditional")]]
    metas = gan_keys.run_gan_jobs(jobs, str(tmp_path), real)
    for job in jobs:
        _check_outputs(str(tmp_path), job, metas[job.key()])


@pytest.mark.slow
def test_outputs_checkpoints_and_cache(ray_module, real, tmp_path, monkeypatch):
    job = _job()
    meta = gan_keys.run_gan_job(job, str(tmp_path), ray_module.put(real))
    _check_outputs(str(tmp_path), job, meta)
    folder = gan_cache.gan_dir(str(tmp_path), job.key())

    # Checkpoints hold state_dicts and plain data only.
    last = sorted(n for n in os.listdir(folder) if n.startswith("checkpoint_epoch"))[-1]
    state = gan_checkpoints.read(Store(folder), last)
    assert state["epoch"] == 2 and set(state) >= {"generator", "discriminator", "opt_g", "opt_d", "history"}
    assert not any(k.startswith("module.") for k in state["generator"])
    torch.load(io.BytesIO(open(os.path.join(folder, "pool.pt"), "rb").read()), weights_only=True)

    # A complete key is reused: no trainer is built the second time.
    import ray.train.torch

    def no_trainer(*args, **kwargs):
        raise AssertionError("a complete GAN key must not be trained again")

    monkeypatch.setattr(ray.train.torch, "TorchTrainer", no_trainer)
    assert gan_keys.run_gan_job(replace(job, workers=2), str(tmp_path), real)["key"] == job.key()

    # A study that needs a larger R grows the pool from the final checkpoint: no training, the same
    # first images, the same quality scores.
    before = gan_pool.load_key_pool(str(tmp_path), job.key())
    grown = gan_keys.run_gan_job(replace(job, pool_per_class=30), str(tmp_path), real)
    after = gan_pool.load_key_pool(str(tmp_path), job.key())
    assert grown["pool"]["per_class"] == 30 and after.class_counts().tolist() == [30] * 10

    assert torch.equal(sampling.take_balanced(after, len(before)).images, before.images)
    assert grown["gan_train_acc"] == meta["gan_train_acc"] and gan_cache.is_complete(str(tmp_path), job.key())

    # A damaged pool makes the key incomplete again.
    with open(os.path.join(folder, "pool.pt"), "ab") as handle:
        handle.write(b"x")
    assert not gan_cache.is_complete(str(tmp_path), job.key())


@pytest.mark.slow
def test_nan_loss_ends_the_gan_as_diverged(ray_module, real, tmp_path, monkeypatch):
    monkeypatch.setenv(fault_hooks.INJECT_NAN_EPOCH, "2")
    job = _job(epochs=3)
    meta = gan_keys.run_gan_job(job, str(tmp_path), real)
    assert meta["status"] == "diverged" and meta["diverged_epoch"] == 2
    assert "non-finite" in meta["reason"] and "pool" not in meta
    assert gan_cache.is_complete(str(tmp_path), job.key())  # not retried: it would diverge again
    assert [int(r["epoch"]) for r in _losses(str(tmp_path), job.key())] == [1, 2]


@pytest.mark.slow
@pytest.mark.parametrize("options", [
    dict(ema=0.99, diffaugment="translation,cutout", workers=2),   # two workers train one GAN (DDP), EMA + DiffAugment
    dict(loss="hinge", spectral_norm=True, lr_d=4e-4, lr_g=1e-4, conditioning="conditional"),
], ids=["two workers, ema, diffaugment", "hinge, spectral norm, two learning rates"])
def test_training_options_run_under_ray_train_and_the_ema_draws_the_pool(ray_module, real, study_caches, tmp_path,
                                                                         options):
    study_caches.scoring_into(tmp_path)
    job = _job(epochs=2, **options)
    meta = gan_keys.run_gan_job(job, str(tmp_path), real)
    _check_outputs(str(tmp_path), job, meta)
    folder = gan_cache.gan_dir(str(tmp_path), job.key())
    state = gan_checkpoints.read(Store(folder), "checkpoint_epoch0002")
    assert ("generator_ema" in state) == (job.options().ema > 0)
    if job.options().ema > 0:
        assert state["ema_updates"] > 0      # the warm-up counter resumes with the weights
    assert meta["key_fields"] == job.key_fields() and any(k.startswith("option_") for k in meta["key_fields"])


@pytest.mark.slow
def test_one_run_trains_several_keys_as_runs_of_their_own_would(ray_module, real, study_caches, tmp_path, monkeypatch):
    """Two keys in one Train run, with a worker crash in the first after its epoch-1 checkpoint: each key
    ends as it does alone (same pool bytes: epoch randomness is derived from (seed, epoch, rank), so the
    resumed GAN is the same GAN), the crashed key resumes from its checkpoint (its losses.csv has each
    epoch once), and each key's meta.json tells its own span of the run."""
    for root in ("together", "alone"):
        study_caches.scoring_into(tmp_path / root)
    jobs = [_job(epochs=2, max_failures=1), _job(epochs=2, seed=1, max_failures=1)]
    marker = tmp_path / "crashed-once"
    monkeypatch.setenv(fault_hooks.FAIL_ONCE_MARKER, str(marker))
    together = gan_keys.run_gan_jobs(jobs, str(tmp_path / "together"), real)
    assert marker.exists() and list(together) == [job.key() for job in jobs]
    for job in jobs:
        _check_outputs(str(tmp_path / "together"), job, together[job.key()])
    first, second = (together[job.key()] for job in jobs)
    assert second["fit_started_at"] >= first["fit_started_at"] + first["fit_seconds"] - 1e-3
    assert first["startup_seconds"] > second["startup_seconds"]   # the run's start-up is the first key's
    assert os.listdir(tmp_path / "together" / gan_trainer.TRAIN_RUNS_FOLDER) == [gan_trainer.run_name(jobs)]

    monkeypatch.delenv(fault_hooks.FAIL_ONCE_MARKER)
    for job in jobs:
        alone = gan_keys.run_gan_job(job, str(tmp_path / "alone"), real)
        assert alone["pool"]["sha256"] == together[job.key()]["pool"]["sha256"]


@pytest.mark.slow
def test_a_key_whose_run_fails_fails_alone(ray_module, real, study_caches, tmp_path, monkeypatch):
    """No retries and a crash in the first key of a run: that key's meta.json says error, the key after
    it still trains (in a new run, as it would have in a run of its own), then the failure is raised."""
    study_caches.scoring_into(tmp_path)
    jobs = [_job(epochs=2, max_failures=0), _job(epochs=2, seed=1, max_failures=0)]
    monkeypatch.setenv(fault_hooks.FAIL_ONCE_MARKER, str(tmp_path / "crashed-once"))
    told = []
    with pytest.raises(Exception) as raised:
        gan_keys.run_gan_jobs(jobs, str(tmp_path), real, say=told.append)
    assert "simulated worker crash" in str(raised.value)
    failed = gan_cache.read_meta(str(tmp_path), jobs[0].key())
    assert failed["status"] == "error" and failed["reason"].startswith("GAN training failed")
    assert not gan_cache.is_complete(str(tmp_path), jobs[0].key())   # a resume trains it again
    assert gan_cache.read_meta(str(tmp_path), jobs[1].key())["status"] == "ok"
    assert gan_cache.is_complete(str(tmp_path), jobs[1].key())
    assert [line for line in told if "GAN training failed" in line][0].startswith(f"[study] GAN {jobs[0].key()}: ")
    assert len(os.listdir(tmp_path / gan_trainer.TRAIN_RUNS_FOLDER)) == 2


# ---------------------------------------------------------------------------------------------
# the cache lock (no Ray): two studies that need one key train it once


def _hold_lock(cache: str, key: str, ready, release) -> None:
    from trainables.files import cache_lock
    from trainables.files.storage import Store

    with cache_lock.hold(Store(cache), key):
        ready.set()
        release.wait(30)


def _start_holder(cache):
    """Another process (another study) that holds key "k" of `cache` until `release` is set."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock, args=(str(cache), "k", ready, release))
    holder.start()
    assert ready.wait(60)
    return holder, release


def test_a_second_study_waits_for_the_key_another_process_trains(tmp_path):
    import threading

    from trainables.files import cache_lock
    from trainables.files.storage import Store

    holder, release = _start_holder(tmp_path)
    try:
        waits, entered = [], threading.Event()

        def second() -> None:
            with cache_lock.hold(Store(str(tmp_path)), "k", on_wait=waits.append):
                entered.set()

        thread = threading.Thread(target=second)
        thread.start()
        assert not entered.wait(1.0)              # blocked while the first holds the key
        assert waits and f"pid {holder.pid}" in waits[0]
        release.set()
        assert entered.wait(30)                   # and runs once it is released
        thread.join(10)
    finally:
        release.set()
        holder.join(30)


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    from trainables.files import cache_lock
    from trainables.files.storage import Store

    holder, _ = _start_holder(tmp_path)
    holder.kill()
    holder.join(30)
    waits = []
    with cache_lock.hold(Store(str(tmp_path)), "k", on_wait=waits.append):
        pass
    assert waits == []                            # the kernel released a dead holder's lock


# ---------------------------------------------------------------------------------------------
# filtered pools (mix.filter = "confident"), no Ray


def _pool_store(tmp_path, pool, per_class):
    from trainables.files import gan_cache
    from trainables.files.storage import Store

    store = Store(str(tmp_path))
    buffer = io.BytesIO()
    torch.save({"images": pool.images, "labels": pool.labels}, buffer)
    store.write_bytes(buffer.getvalue(), gan_cache.POOL_FILE)
    meta = {"status": "ok", "classes": list(pool.classes), "pool": {"per_class": per_class}}
    return store, meta


def test_a_confident_filter_keeps_images_a_real_trained_classifier_agrees_with(mnist5k, tmp_path):
    from trainables.gan import pool as gan_pool

    train, _ = mnist5k
    real = sampling.subset(train, 200, seed=0)
    pool = sampling.subset(train, 400, seed=1)                          # real images: the filter agrees
    store, meta = _pool_store(tmp_path, pool, 40)
    job = _job(pool_per_class=2)
    meta = gan_pool.ensure_filtered(job, store, meta, real, 0.3)
    entry = meta["filtered_pools"]["confident-0.3"]
    assert entry["status"] == "ok" and entry["drawn_per_kept"] >= 1.0
    kept = gan_pool.load_filtered(store, meta, 0.3)
    assert kept.class_counts().tolist() == [2] * 10
    assert not gan_pool.needs_filtering(meta, 0.3, 2) and gan_pool.needs_filtering(meta, 0.3, 3)


def test_a_filter_that_keeps_too_few_says_how_many_it_kept(mnist5k, tmp_path):
    from trainables.gan import pool as gan_pool

    train, _ = mnist5k
    real = sampling.subset(train, 200, seed=0)
    pool = sampling.subset(train, 400, seed=1)
    wrong = ImageSet(pool.images, (pool.labels + 1) % 10, pool.classes)   # every label wrong
    store, meta = _pool_store(tmp_path, wrong, 40)
    meta = gan_pool.ensure_filtered(_job(pool_per_class=2), store, meta, real, 0.9)
    entry = meta["filtered_pools"]["confident-0.9"]
    assert entry["status"] == "error" and "of 40 drawn images" in entry["reason"]
    assert "lower mix.filter_threshold" in entry["reason"]
    assert gan_pool.filtered_error(meta, 0.9) == entry["reason"]
    assert not gan_pool.needs_filtering(meta, 0.9, 2)        # the same request would fail the same way


@pytest.mark.slow
def test_pool_and_scoring_work_holds_a_gan_workers_cpus_as_threads(ray_module):
    """Growing and filtering the pool of a key trained earlier reserve what they compute with: the
    Tune trial around the GAN holds nothing itself, so this work must not run on unreserved cores."""
    def _what_the_task_holds() -> tuple[dict, int]:   # nested: pickled by value into the task
        import ray
        import torch

        return ray.get_runtime_context().get_assigned_resources(), torch.get_num_threads()

    from ray.util.placement_group import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    held, threads = gan_keys.on_reserved(_job(cpus_per_worker=2), False, _what_the_task_holds)
    assert held == {"CPU": 2.0} and threads == 2

    # From inside a Tune trial: its placement group (what stage_gans asks for) captures child tasks.
    group = placement_group([{"memory": 1 << 20}])
    ray_module.get(group.ready(), timeout=60)
    try:
        in_trial = ray_module.remote(lambda job, work: gan_keys.on_reserved(job, False, work))
        held, threads = ray_module.get(in_trial.options(num_cpus=0, scheduling_strategy=PlacementGroupSchedulingStrategy(
            group, placement_group_capture_child_tasks=True)).remote(_job(cpus_per_worker=1), _what_the_task_holds),
            timeout=120)
    finally:
        remove_placement_group(group)
    assert held == {"CPU": 1.0} and threads == 1
