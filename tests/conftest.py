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
