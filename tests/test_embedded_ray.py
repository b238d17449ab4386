"""How the driver starts an embedded Ray (fast: ray.init is replaced, no cluster starts)."""

from __future__ import annotations

import os
import types

import pytest

from study import cluster, interrupts


@pytest.fixture
def ray_init_calls(monkeypatch) -> list[dict]:
    """The keyword arguments of each ray.init that study.cluster.connect_ray makes, with no STUDY_ setting
    and no RAY_ADDRESS in the environment."""
    import ray

    calls: list[dict] = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kwargs: calls.append(kwargs) or types.SimpleNamespace(dashboard_url=None))
    monkeypatch.setattr(interrupts, "on_forced_stop", lambda stop: None)
    monkeypatch.setattr(cluster._Embedded, "started", False)
    for name in [k for k in os.environ if k.startswith("STUDY_") or k == "RAY_ADDRESS"]:
        monkeypatch.delenv(name)
    return calls


@pytest.mark.parametrize("switch, dashboard", [(None, True), ("1", True), ("0", False)])
def test_the_dashboard_is_on_unless_study_ray_dashboard_is_0(switch, dashboard, ray_init_calls, monkeypatch):
    if switch is not None:
        monkeypatch.setenv(cluster.DASHBOARD_SWITCH, switch)
    cluster.connect_ray(None)
    (kwargs,) = ray_init_calls
    assert kwargs["include_dashboard"] is dashboard and kwargs["dashboard_host"] == "127.0.0.1"
    assert kwargs["_system_config"] == {"prestart_worker_first_driver": False}   # no idle workers to start


def test_the_switch_stays_with_the_driver_and_fault_switches_reach_the_workers(ray_init_calls, monkeypatch):
    monkeypatch.setenv(cluster.DASHBOARD_SWITCH, "0")
    cluster.connect_ray(None)
    assert ray_init_calls[-1]["runtime_env"] is None      # nothing to forward
    monkeypatch.setenv("STUDY_INJECT_NAN_EPOCH", "2")
    cluster.connect_ray(None)
    assert ray_init_calls[-1]["runtime_env"] == {"env_vars": {"STUDY_INJECT_NAN_EPOCH": "2"}}
