"""Shared fixtures. Starting Ray costs seconds, so one local instance serves the whole session."""

import contextlib
import os

import pytest

# Keep test runs quiet and local: no usage stats, no dashboard, a short temp dir for Ray's sockets.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
# The studies the tests start (in-process and as `study` commands) start Ray without its dashboard: nobody
# looks at it here, and it costs ~2.3 s of CPU per embedded Ray (study.cluster.DASHBOARD_SWITCH).
os.environ.setdefault("STUDY_RAY_DASHBOARD", "0")


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
# Ray Train or Tune, is marked slow. Checked here for every fast test, so a new one that
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
    """Every slow test (the ones that start Ray or run studies) gets a timeout of its own size; the files
    run in the order _file_order gives (the Makefile runs xdist with --no-loadscope-reorder)."""
    for item in items:
        if item.get_closest_marker("slow") is not None and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(SLOW_TEST_TIMEOUT_S))
    items[:] = _file_order(items)


def _file_order(items: list) -> list:
    """The tests file by file (pytest-xdist's --dist loadfile sends a worker one file at a time), the
    longest first so that the two workers end together: first the files made only of slow tests (one or
    two long end-to-end tests each), then the files with the most slow tests (the ones that start Ray and
    run studies), then the most tests. xdist's own order (most tests first) started the stop-points and S3
    files (200 and 130 s) last, and the suite ended on one worker. Scheduled on one full run's file
    durations, this order ends at 793 s where most-tests-first (after the slow-only files) ends at 812 s:
    test_cluster (190 s) no longer starts mid-suite."""
    by_file: dict[str, list] = {}
    for item in items:
        by_file.setdefault(item.nodeid.split("::", 1)[0], []).append(item)

    def slow(tests: list) -> int:
        return sum(test.get_closest_marker("slow") is not None for test in tests)

    order = sorted(by_file.values(), key=lambda tests: (slow(tests) < len(tests), -slow(tests), -len(tests)))
    return [item for tests in order for item in tests]


# --------------------------------------------------------------------------------------------------
# Trained once per session, copied into each test's storage root (the full suite in under 15 minutes
# on 2 cores): a study's scoring network (~15-30 s of CPU per fresh cache) and a tiny study's whole
# GAN cache (~30 s: Ray Train's start-up, the epochs, the pool and its quality scores). A test whose
# claim is about training a GAN (or the scoring network) starts from an empty cache instead.
# --------------------------------------------------------------------------------------------------
def _overrides(args) -> list[str]:
    """The KEY=VALUE of every `--set KEY=VALUE` in a `study run` argument list."""
    return [args[i + 1] for i, arg in enumerate(args) if arg == "--set"]


def _cache_name(preset: str, args) -> str:
    import hashlib

    return hashlib.sha256(repr((preset, list(args))).encode()).hexdigest()[:12]


@contextlib.contextmanager
def _made_once(lock_path):
    """An exclusive lock on `lock_path` (pytest-xdist's workers share the caches: one makes an entry while
    the others wait for it)."""
    import fcntl

    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class StudyCaches:
    """Caches shared by the slow study tests; `seed_*` copies one into `<storage>/gan-cache`, where a
    study run with `--storage <storage>` finds it (a copy: a test may damage its own files)."""

    def __init__(self, root, request):
        self.root, self._request = root, request

    def seed_scoring(self, storage, args, preset: str = "quick") -> str:
        """The scoring network the study `preset` + args scores its GANs with, into the GAN cache of a
        study run with `--storage <storage>`. Returns the network's key."""
        return self.scoring_into(storage / "gan-cache", args, preset)

    def scoring_into(self, cache_root, args=(), preset: str = "quick") -> str:
        """The scoring network the study `preset` + args scores its GANs with, into the GAN cache root
        `cache_root`; trained here without Ray, once per network (the product's own loader and trainer,
        so the key is the one the study looks for). Returns the network's key."""
        import shutil

        from study import real_data
        from study.spec import load_spec
        from trainables.files.storage import Store
        from trainables.quality import scoring

        train, test, _, _ = real_data.load_real_data(load_spec(preset, _overrides(args)), write_cache=False)
        key = scoring.scoring_key(train)
        shared = self.root / "scoring"
        shared.mkdir(exist_ok=True)
        with _made_once(shared / f"{key}.lock"):
            if not (shared / scoring.SCORING_FOLDER / key / scoring.META_FILE).exists():
                scoring.load_or_train(Store(str(shared)), train, test, say=lambda _: None)
        shutil.copytree(shared / scoring.SCORING_FOLDER / key, cache_root / scoring.SCORING_FOLDER / key,
                        dirs_exist_ok=True)
        return key

    def seed_gans(self, storage, args, preset: str = "quick") -> list[str]:
        """The GAN cache `study run preset ARGS` leaves (its GAN keys, their pools and checkpoints, the
        scoring network), made once per argument list by that very command in this process (on the
        session's Ray). Returns the GAN keys."""
        import shutil

        import ray

        from study import cli

        name = _cache_name(preset, args)
        source = self.root / "gans" / name
        source.parent.mkdir(exist_ok=True)
        with _made_once(source.parent / f"{name}.lock"):
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

    def seed_study(self, storage, args, preset: str = "quick") -> None:
        """The storage root a finished `study run preset ARGS --no-report` leaves (the study folder, named
        after the preset, and its GAN cache), copied as a moved root: for tests whose claim starts from a
        finished study (a resume, an extension, a confirmation)."""
        import shutil

        self.seed_gans(storage, args, preset)
        source = self.root / "gans" / _cache_name(preset, args)
        shutil.copytree(source / preset, storage / preset, ignore=shutil.ignore_patterns(".study.lock*"))


@pytest.fixture(scope="session")
def study_caches(tmp_path_factory, request):
    base = tmp_path_factory.getbasetemp()
    # Under pytest-xdist every worker has a base folder of its own inside the run's: the workers share one.
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "study-caches"
    root.mkdir(exist_ok=True)
    return StudyCaches(root, request)
