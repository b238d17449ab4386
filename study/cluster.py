"""The Ray connection and what the cluster can hold: join or start Ray, refuse impossible GPU
requests, and size the number of concurrent trials."""

from __future__ import annotations

import math
import os
import secrets
import shutil
import sys
import threading
from pathlib import Path

from study import interrupts
from study.folder import StudyError


class _Embedded:
    started = False   # this process started the embedded cluster (not a test's, not a joined one)


def _kill_embedded() -> None:
    """A forced stop: kill the embedded cluster's processes at once (they would outlive os._exit)."""
    if _Embedded.started:
        import ray._private.worker as worker

        node = worker._global_node
        if node is not None:
            node.kill_all_processes(check_alive=False, allow_graceful=False)


def release_ray() -> None:
    """Stop the embedded cluster this process started, so that nothing of Ray writes to the console
    after the study (a joined cluster, or one the caller started, is left as it is)."""
    import ray

    if _Embedded.started:
        ray.shutdown()
        _Embedded.started = False


DASHBOARD_SWITCH = "STUDY_RAY_DASHBOARD"   # "0": an embedded Ray starts without its dashboard
# Ray starts one idle Python worker per CPU for the first driver, ready for tasks and actors without a
# runtime_env. Every Tune trial actor has one (Tune sets PL_DISABLE_FORK in it), and so has what a trial
# starts (the Train run, the pool tasks): none of the study's work can run in those workers, which only
# took CPU while the driver started. bench/embedded_ray.py measures the start without them.
EMBEDDED_RAY_CONFIG = {"prestart_worker_first_driver": False}


def connect_ray(address: str | None) -> None:
    """Join a cluster when one is named (or when running inside `ray job submit`), else start one."""
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    # Fault-injection switches must reach the worker processes of an embedded cluster too (not the
    # driver's own dashboard switch).
    env_vars = {k: v for k, v in os.environ.items() if k.startswith("STUDY_") and k != DASHBOARD_SWITCH}
    runtime_env = {"env_vars": env_vars} if env_vars else None
    if address:
        joined = _join_deadline(address)
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=True)
        joined.set()
        return
    # The dashboard (on 127.0.0.1 only) shows trials live, and Ray Train's placement-group cleaner
    # queries actor state through it: without it, that cleaner logs a warning every few seconds.
    # STUDY_RAY_DASHBOARD=0 leaves it out where nobody looks (CI, the test suite): measured, it costs
    # about 2.3 s of CPU per start of an embedded Ray on a 2-CPU machine.
    dashboard = os.environ.get(DASHBOARD_SWITCH, "1") != "0"
    context = ray.init(include_dashboard=dashboard, dashboard_host="127.0.0.1", runtime_env=runtime_env,
                       log_to_driver=True, _system_config=EMBEDDED_RAY_CONFIG)
    _Embedded.started = True
    interrupts.on_forced_stop(_kill_embedded)
    if context.dashboard_url:
        print(f"[study] Ray dashboard (this machine only): http://{context.dashboard_url}", flush=True)


# How long joining a cluster may take. Something that accepts connections at --address but is not a
# Ray head (or a head that never answers) kept ray.init waiting for 150 s, deaf to Ctrl-C; a head that
# answers is joined in seconds.
JOIN_TIMEOUT_S = 60.0


def _join_deadline(address: str) -> threading.Event:
    """Under the CLI, end the command with the one-line refusal when ray.init has not joined `address`
    within JOIN_TIMEOUT_S (set the returned event once joined). Nothing is written before this point."""
    joined = threading.Event()
    if not interrupts.cli_owns_process():
        return joined   # a notebook's kernel is never ended

    def watch() -> None:
        if not joined.wait(JOIN_TIMEOUT_S):
            print(f"error: --address: {address}: no Ray cluster answered within {JOIN_TIMEOUT_S:g} s (something "
                  "accepts connections there, but not as a Ray head); allowed: the address of a running Ray "
                  "cluster's head, or no --address for an embedded cluster", file=sys.stderr, flush=True)
            os._exit(2)

    threading.Thread(target=watch, name="study-join-deadline", daemon=True).start()
    return joined


def check_storage_shared(storage: str) -> None:
    """On a cluster of more than one node, prove every node sees the storage: GAN checkpoints, pools and
    trial records written on one node are read on others. A marker with a random token is written at
    the storage root and one task per node reads it back; StudyError (exit 2) naming the nodes that
    cannot. Object stores (s3://, gs://) are shared by construction."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from trainables.files.storage import is_uri

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if len(nodes) < 2 or (is_uri(storage) and not str(storage).startswith("file://")):
        return
    root = Path(str(storage).removeprefix("file://")).expanduser().absolute()
    made = next((p for p in reversed([root, *root.parents]) if not p.exists()), None)
    token = secrets.token_hex(16)
    marker = root / f".shared-storage-check-{token}"
    root.mkdir(parents=True, exist_ok=True)
    marker.write_text(token)
    try:
        read = ray.remote(_read_marker)
        probes = [(node["NodeManagerAddress"], node["NodeID"][:8], read.options(
            num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
        ).remote(str(marker))) for node in nodes]
        blind = [f"{address} (node {node_id})" for address, node_id, probe in probes
                 if ray.get(probe, timeout=120) != token]
    finally:
        marker.unlink(missing_ok=True)
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
    if blind:
        raise StudyError(f"--storage {storage}: {len(blind)} of {len(nodes)} node(s) cannot see it: "
                         f"{', '.join(blind)} (a path on one node's own disk); allowed: s3://, gs:// or a folder "
                         "every node mounts (NFS)")


def _read_marker(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def check_gpus_usable(spec) -> None:
    """On a cluster whose nodes offer GPUs to Ray, prove torch can use them before any work starts: a
    node whose driver does not match its CUDA build would otherwise run GPU trials on its CPU, silently,
    for hours. One tiny task per GPU node; StudyError (exit 2) naming the node and what torch says."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from trainables.runners.devices import cuda_report

    if spec.resources.gpus_per_trial <= 0 and not gans_use_gpu(spec):
        return
    nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("GPU", 0) > 0]
    report = ray.remote(cuda_report)
    probes = [(node["NodeManagerAddress"], report.options(
        # A sliver of a GPU: Ray hides every GPU from a task that asks for none (CUDA_VISIBLE_DEVICES="").
        num_gpus=0.01, num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
    ).remote()) for node in nodes]
    for address, probe in probes:
        usable, said = ray.get(probe, timeout=120)
        if not usable:
            raise StudyError(f"resources.gpus_per_trial: node {address} offers GPUs to Ray but torch cannot use "
                             f"them ({said}); allowed: fix the node's NVIDIA driver or torch build, or "
                             "resources.gpus_per_trial = 0")


def local_capacity() -> tuple[float, float]:
    """(CPUs, GPUs) an embedded Ray would have on this machine, without starting it: Ray's own CPU
    count (cgroup quotas included) and torch's GPU count."""
    import torch

    try:
        from ray._private.utils import get_num_cpus  # what ray.init would register

        cpus = float(get_num_cpus())
    except (ImportError, AttributeError):
        cpus = float(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    return cpus, float(torch.cuda.device_count())


def check_resources(spec, joined_cluster: bool, capacity: tuple[float, float] | None = None) -> None:
    """Trials (or GAN workers) that ask for more than the machine has would wait forever. Embedded
    cluster: refused before Ray starts (nothing will ever add a CPU or a GPU), so the refusal is the
    command's only output. Joined cluster (`capacity` from it): an autoscaler may still add nodes, so
    say what waits for it."""
    cpus, gpus = capacity if capacity is not None else local_capacity()
    wanted = max(spec.resources.cpus_per_trial, 1.0)   # a GAN worker takes a whole CPU
    if wanted > cpus:
        if not joined_cluster:
            raise StudyError(
                f"resources.cpus_per_trial: {spec.resources.cpus_per_trial:g} but this machine has {cpus:g} CPU(s): "
                f"no trial could ever start; allowed: at most {cpus:g} (fractions such as 0.5 pack trials)")
        print(f"[study] the cluster has {cpus:g} CPU(s) now: trials of {wanted:g} CPUs wait for the autoscaler",
              flush=True)
    if spec.resources.gpus_per_trial > 0 and gpus == 0:
        if not joined_cluster:
            raise StudyError(
                f"resources.gpus_per_trial: {spec.resources.gpus_per_trial:g} but this machine has no GPU; "
                "allowed: 0 on a CPU-only machine (--set resources.gpus_per_trial=0), or run on a GPU cluster "
                "with --address")
        print("[study] no GPU in the cluster yet: trials wait for the autoscaler to add GPU nodes", flush=True)


def gans_use_gpu(spec, gpus: float | None = None) -> bool:
    """GANs train on GPUs when the cluster (or `gpus`, a machine's count: `study plan`) has some, or when
    the study asks for GPUs (an autoscaling cluster starts its GPU workers from zero, so none may be
    visible when the GAN stage starts)."""
    if gpus is None:
        _, gpus = cluster_capacity()
    return gpus > 0 or spec.resources.gpus_per_trial > 0


def cluster_capacity() -> tuple[float, float]:
    import ray

    resources = ray.cluster_resources()
    return float(resources.get("CPU", 1)), float(resources.get("GPU", 0))


def may_grow() -> bool:
    """Whether nodes may join the cluster during the study: any cluster this process joined (an
    autoscaler may run behind it); never the embedded one this process started."""
    return not _Embedded.started


def trials_that_fit(cpus_per_trial: float, gpus_per_trial: float) -> int | None:
    """Tune's max_concurrent_trials. On the embedded cluster: what its fixed resources hold (fewer trial
    actors waiting). On a cluster that may grow: no cap (None). Tune then keeps every trial pending with
    its resource request, and that queued demand is what makes an autoscaler add nodes; a cap from the
    nodes up at the start would freeze the cluster at its size."""
    if may_grow():
        return None
    return fits_in(cluster_capacity(), cpus_per_trial, gpus_per_trial)


def fits_in(capacity: tuple[float, float], cpus_per_trial: float, gpus_per_trial: float) -> int | None:
    """How many trials of this size (CPU, GPU) capacity runs at once; None when they need GPUs and it
    has none (an autoscaling cluster with no GPU node yet: Tune queues trials by resources)."""
    cpus, gpus = capacity
    fits = math.floor(cpus / cpus_per_trial) if cpus_per_trial > 0 else 10**6
    if gpus_per_trial > 0:
        if not gpus:
            return None
        fits = min(fits, math.floor(gpus / gpus_per_trial))
    return max(1, fits)
