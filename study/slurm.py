"""`study slurm run|resume ...`: a study across a Slurm allocation (docs/slurm.md).

Inside an `sbatch` script (or `salloc`), on the allocation's first node: start a Ray head there and one
Ray worker on every other node of the allocation (each a `srun --overlap` step running
`ray start --block`), wait until every node has joined, run `study run|resume ... --address HEAD` as
the driver, and stop Ray on every node at the end, whatever the study's outcome (Ctrl-C, scancel's
SIGTERM, an error). This is the recipe Ray documents for Slurm, with what a shared cluster needs on
top: ports and Ray's temp folder derived from the job id (two jobs on one node do not collide), token
authentication with a fresh token per job (another user on the node cannot join or submit), the
dashboard on loopback, and each node's CPUs and GPUs as Slurm allocated them, not as the node has.

Bad input (exit 2, one line, nothing started): not inside an allocation; a study that asks for GPUs
(resources.gpus_per_trial > 0) on an allocation that has none.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time

from study import spec as S
from study.folder import StudyError
from study.presets import DEFAULT_PRESET

JOIN_TIMEOUT_S = float(os.environ.get("STUDY_SLURM_JOIN_TIMEOUT_S", "180"))


class SlurmError(StudyError):
    """An allocation this launcher cannot use (exit code 2)."""


def allocation(env=os.environ) -> dict:
    """The job id, its nodes (first = head), and CPUs and GPUs per node as Slurm allocated them."""
    job = env.get("SLURM_JOB_ID")
    if not job:
        raise SlurmError("study slurm runs inside a Slurm allocation (SLURM_JOB_ID is not set); allowed: "
                         "`sbatch` a script that calls it (docs/slurm.md), or `salloc` first")
    nodelist = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST") or socket.gethostname()
    nodes = hostnames(nodelist)
    cpus = int((env.get("SLURM_CPUS_ON_NODE") or "1").split("(")[0].split(",")[0])
    return {"job": job, "nodes": nodes, "cpus": cpus, "gpus": gpus_on_node(env)}


def hostnames(nodelist: str) -> list[str]:
    """Slurm's compressed host list expanded, in order: `gpu[01-03,07],cpu1` -> gpu01 gpu02 gpu03 gpu07 cpu1
    (what `scontrol show hostnames` prints, without needing the cluster's configuration)."""
    names, depth, part = [], 0, ""
    for char in nodelist + ",":
        if char == "," and depth == 0:
            if part:
                match = re.fullmatch(r"(.*?)\[([^\]]+)\](.*)", part)
                if not match:
                    names.append(part)
                else:
                    prefix, ranges, suffix = match.groups()
                    for item in ranges.split(","):
                        low, _, high = item.partition("-")
                        for number in range(int(low), int(high or low) + 1):
                            names.extend(hostnames(f"{prefix}{number:0{len(low)}d}{suffix}"))
            part = ""
            continue
        depth += (char == "[") - (char == "]")
        part += char
    return names


def gpus_on_node(env=os.environ) -> int:
    """GPUs Slurm gave this job on a node: SLURM_GPUS_ON_NODE, else the devices it made visible."""
    if env.get("SLURM_GPUS_ON_NODE", "").strip().isdigit():
        return int(env["SLURM_GPUS_ON_NODE"])
    for name in ("SLURM_STEP_GPUS", "SLURM_JOB_GPUS"):
        if env.get(name, "").strip():
            return len(env[name].split(","))
    return 0


def check_gpus(spec, alloc: dict) -> None:
    """SlurmError when the study asks for GPUs that the allocation does not have."""
    wanted = spec.resources.gpus_per_trial
    if wanted > 0 and alloc["gpus"] == 0:
        raise SlurmError(
            f"resources.gpus_per_trial: {wanted:g} GPUs per trial, but Slurm job {alloc['job']} has no GPUs "
            "(SLURM_GPUS_ON_NODE is unset); allowed: submit to a GPU partition with --gpus-per-node=N "
            "(or --gres=gpu:N), or --set resources.gpus_per_trial=0")


def _spec_of(command: str, rest: list[str]):
    """The spec the study will run: a file/preset with --set (run), or the folder's spec.toml (resume)."""
    overrides = [rest[i + 1] for i, arg in enumerate(rest[:-1]) if arg == "--set"]
    if command == "run":
        positional = [a for i, a in enumerate(rest) if not a.startswith("-")
                      and (i == 0 or rest[i - 1] not in ("--set", "--storage", "--name", "--gan-cache"))]
        return S.load_spec(positional[0] if positional else DEFAULT_PRESET, overrides)
    from trainables.files.storage import Store

    folder = rest[0].rstrip("/")
    store = Store.reachable(folder)
    if not store.exists("spec.toml"):
        raise SlurmError(f"{folder}: no spec.toml here; allowed: a folder written by `study run`")
    return S.loads_spec(store.read_text("spec.toml"), overrides, check_registries=False)


def _ray_cli() -> str:
    local = os.path.join(os.path.dirname(sys.executable), "ray")
    return local if os.path.exists(local) else "ray"


def _srun(node: str, command: list[str]) -> subprocess.Popen:
    # --overlap: the step shares the allocation's CPUs with the batch script and the other steps.
    return subprocess.Popen(["srun", "--nodes=1", "--ntasks=1", "--overlap", f"--nodelist={node}",
                             "--kill-on-bad-exit=0", *command], start_new_session=True)


def _alive_nodes(address: str, env: dict) -> int:
    probe = (f"import ray; ray.init(address={address!r}, logging_level='ERROR', log_to_driver=False); "
             "print(sum(1 for n in ray.nodes() if n['Alive']))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    return int(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 and done.stdout.strip() else 0


def _stop(steps: list[subprocess.Popen]) -> None:
    """SIGTERM every `ray start --block` step (it stops its node's Ray on the signal), then wait."""
    for step in reversed(steps):   # workers first, the head last
        if step.poll() is None:
            try:
                os.killpg(step.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 60
    for step in steps:
        try:
            step.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(step.pid, signal.SIGKILL)
            step.wait(10)


def launch(command: str, rest: list[str], verbose: bool = False, env=None) -> int:
    """Start Ray across the allocation, run `study COMMAND REST --address HEAD`, stop Ray; the driver's exit
    code."""
    env = dict(os.environ if env is None else env)
    alloc = allocation(env)
    check_gpus(_spec_of(command, rest), alloc)
    head, job = alloc["nodes"][0], int(alloc["job"])
    ip = socket.gethostbyname(head)
    port = 20000 + (job * 7) % 20000           # per job: two jobs sharing a node do not collide
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32), RAY_USAGE_STATS_ENABLED="0")
    os.environ.update({k: env[k] for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_USAGE_STATS_ENABLED")})
    temp = f"/tmp/ray-slurm-{job}"
    resources = [f"--num-cpus={alloc['cpus']}", f"--num-gpus={alloc['gpus']}", "--disable-usage-stats"]
    ray = _ray_cli()
    address = f"{ip}:{port}"
    print(f"[slurm] job {job}: Ray head on {head} ({address}), workers on {len(alloc['nodes']) - 1} more "
          f"node(s); {alloc['cpus']} CPUs and {alloc['gpus']} GPUs per node", flush=True)
    steps = [_srun(head, [ray, "start", "--head", "--block", f"--node-ip-address={ip}", f"--port={port}",
                          "--dashboard-host=127.0.0.1", f"--dashboard-port={port + 1}",
                          f"--ray-client-server-port={port + 2}", f"--temp-dir={temp}", *resources])]
    try:
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        while _alive_nodes(address, env) < 1:
            if steps[0].poll() is not None or time.monotonic() > deadline:
                raise SlurmError(f"the Ray head on {head} did not start (see the job's output above)")
            time.sleep(2)
        steps += [_srun(node, [ray, "start", "--block", f"--address={address}", *resources])
                  for node in alloc["nodes"][1:]]
        while (alive := _alive_nodes(address, env)) < len(alloc["nodes"]):
            if time.monotonic() > deadline:
                raise SlurmError(f"only {alive} of the allocation's {len(alloc['nodes'])} nodes joined Ray within "
                                 f"{JOIN_TIMEOUT_S:.0f} s")
            time.sleep(2)
        print(f"[slurm] {len(alloc['nodes'])} node(s) joined; running `study {command}` as the driver", flush=True)
        driver = [sys.executable, "-m", "study.cli", *(["-v"] if verbose else []), command, *rest, "--address", address]
        return subprocess.call(driver, env=env)
    finally:
        _stop(steps)
        print(f"[slurm] Ray stopped on {len(alloc['nodes'])} node(s)", flush=True)
