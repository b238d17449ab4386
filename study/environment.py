"""env.json: what a reader needs to trust (or rerun) the numbers: versions, the source's git sha, and
the machine or, on a cluster, every node's CPUs and GPUs."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path


def environment_info() -> dict:
    """Versions, git sha and devices: what a reader needs to trust (or rerun) the numbers."""
    import optuna
    import ray
    import torch

    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        sha = None
    # A job's working dir uploaded by `ray job submit` has no .git: the sha captured at submit time
    # (docs/cluster.md: --runtime-env-json '{"env_vars": {"STUDY_GIT_SHA": "..."}}') stands in.
    sha = sha or os.environ.get("STUDY_GIT_SHA") or None
    devices = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    info = {
        "python": platform.python_version(), "torch": torch.__version__, "ray": ray.__version__,
        "optuna": optuna.__version__, "study": package_version(), "git_sha": sha, "platform": platform.platform(),
        "cpus": os.cpu_count(), "gpus": devices,
        "devices": [f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()})", *devices],
    }
    nodes = _ray_nodes()
    if nodes:
        info["nodes"] = nodes
        if len(nodes) > 1 or os.environ.get("RAY_ADDRESS"):   # the driver's machine is not where trials ran
            info["devices"] = [f"node {n['address']}: {n['cpus']:g} CPUs, {n['gpus']:g} GPUs" for n in nodes]
    return info


def package_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gan-augment-study")
    except PackageNotFoundError:
        return None


def _ray_nodes() -> list[dict]:
    """Every alive node's address and resources, when Ray is up (the cluster the study ran on)."""
    import ray

    if not ray.is_initialized():
        return []
    return [{"address": n["NodeManagerAddress"], "cpus": float(n["Resources"].get("CPU", 0)),
             "gpus": float(n["Resources"].get("GPU", 0)), "memory_gib": round(n["Resources"].get("memory", 0) / 2**30, 1)}
            for n in ray.nodes() if n.get("Alive")]
