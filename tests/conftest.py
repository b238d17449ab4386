"""Shared fixtures. Starting Ray costs seconds, so one local instance serves the whole session."""

import os

import pytest

# Keep test runs quiet and local: no usage stats, no dashboard, a short temp dir for Ray's sockets.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")


@pytest.fixture(scope="session")
def ray_local():
    """One embedded 2-CPU Ray instance for every test that needs Ray (shut down at session end)."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def mnist5k():
    """The offline 5,000-image MNIST subset as (train, test) ImageSets, decoded once per session."""
    from trainables.data.datasets import load_dataset

    return load_dataset("mnist-5k")


# The fast set (`pytest -m "not slow"`) starts no Ray: a test that needs a cluster, or trains through
# Ray Train or Tune, is marked slow (issue 18). Checked here for every fast test, so a new one that
# starts Ray fails at once instead of slowing the set down unnoticed.
RAY_FIXTURES = frozenset({"ray_local", "ray_module"})


def _no_ray_in_fast_tests(*args, **kwargs):
    raise AssertionError("a fast test started Ray; mark it @pytest.mark.slow (the fast set runs no cluster)")


@pytest.fixture(autouse=True)
def _fast_tests_start_no_ray(request, monkeypatch):
    if request.node.get_closest_marker("slow") is not None:
        return
    used = RAY_FIXTURES & set(request.fixturenames)
    assert not used, f"a fast test uses {sorted(used)}; mark it @pytest.mark.slow (the fast set runs no cluster)"
    import sys

    if "ray" in sys.modules:   # importing Ray here would load it into every test process
        monkeypatch.setattr(sys.modules["ray"], "init", _no_ray_in_fast_tests)


SLOW_TEST_TIMEOUT_S = 1200


def pytest_collection_modifyitems(config, items):
    """Every slow test (the ones that start Ray or run studies) gets a timeout of its own size."""
    for item in items:
        if item.get_closest_marker("slow") is not None and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(SLOW_TEST_TIMEOUT_S))


# --------------------------------------------------------------------------------------------------
# Trained once per session, copied into each test's storage root (the full suite in under 15 minutes
# on 2 cores): a study's scoring network (~15-30 s of CPU per fresh cache) and a tiny study's whole
# GAN cache (~30 s: Ray Train's start-up, the epochs, the pool and its quality scores). A test whose
# claim is about training a GAN (or the scoring network) starts from an empty cache instead.
# --------------------------------------------------------------------------------------------------
def _overrides(args) -> list[str]:
    """The KEY=VALUE of every `--set KEY=VALUE` in a `study run` argument list."""
    return [args[i + 1] for i, arg in enumerate(args) if arg == "--set"]


class StudyCaches:
    """Caches shared by the slow study tests; `seed_*` copies one into `<storage>/gan-cache`, where a
    study run with `--storage <storage>` finds it (a copy: a test may damage its own files)."""

    def __init__(self, root, request):
        self.root, self._request = root, request

    def seed_scoring(self, storage, args, preset: str = "quick") -> str:
        """The scoring network the study `preset` + args scores its GANs with; trained here without Ray,
        once per network (the product's own loader and trainer, so the key is the one the study looks
        for). Returns the network's key."""
        import shutil

        from study import real_data
        from study.spec import load_spec
        from trainables.files.storage import Store
        from trainables.quality import scoring

        train, test, _, _ = real_data.load_real_data(load_spec(preset, _overrides(args)), write_cache=False)
        key = scoring.scoring_key(train)
        shared = self.root / "scoring"
        if not (shared / scoring.SCORING_FOLDER / key / scoring.META_FILE).exists():
            scoring.load_or_train(Store(str(shared)), train, test, say=lambda _: None)
        shutil.copytree(shared / scoring.SCORING_FOLDER / key,
                        storage / "gan-cache" / scoring.SCORING_FOLDER / key, dirs_exist_ok=True)
        return key

    def seed_gans(self, storage, args, preset: str = "quick") -> list[str]:
        """The GAN cache `study run preset ARGS` leaves (its GAN keys, their pools and checkpoints, the
        scoring network), made once per argument list by that very command in this process (on the
        session's Ray). Returns the GAN keys."""
        import hashlib
        import shutil

        import ray

        from study import cli

        name = hashlib.sha256(repr((preset, list(args))).encode()).hexdigest()[:12]
        source = self.root / "gans" / name
        if not (source / "done").exists():
            if not ray.is_initialized():
                self._request.getfixturevalue("ray_local")
            shutil.rmtree(source, ignore_errors=True)
            self.seed_scoring(source, args, preset)
            assert cli.main(["run", preset, *args, "--storage", str(source), "--no-report"]) == 0
            (source / "done").write_text("")
        shutil.copytree(source / "gan-cache", storage / "gan-cache", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".locks", ".train-runs"))
        return sorted(p.name for p in (source / "gan-cache").iterdir() if (p / "meta.json").exists())


@pytest.fixture(scope="session")
def study_caches(tmp_path_factory, request):
    return StudyCaches(tmp_path_factory.mktemp("study-caches"), request)
