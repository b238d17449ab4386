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
    from trainables.data import load_dataset

    return load_dataset("mnist-5k")
