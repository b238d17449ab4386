"""`study slurm`: the launcher's checks (fast), and a real single-node Slurm (slow): munged, slurmctld
and slurmd from Debian's slurm-wlm, configured in a temporary folder and started by the test, run
docs/slurm.md's batch script through `sbatch --wait`."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_runner import TINY

ROOT = Path(__file__).resolve().parent.parent
SLURM_BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "srun", "scontrol", "sinfo")


def _cli(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "study.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120, cwd=ROOT)


def test_outside_an_allocation_is_refused_in_one_line():
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    done = _cli(["slurm", "run", "quick"], env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: study slurm runs inside a Slurm allocation (SLURM_JOB_ID is not set); allowed: `sbatch` a "
        "script that calls it (docs/slurm.md), or `salloc` first"]


def test_a_gpu_study_on_an_allocation_without_gpus_is_refused_before_ray_starts(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env |= {"SLURM_JOB_ID": "42", "SLURM_JOB_NODELIST": socket.gethostname(), "SLURM_CPUS_ON_NODE": "2",
            "PATH": f"{tmp_path}:{env['PATH']}"}
    (tmp_path / "srun").write_text("#!/bin/sh\necho srun-was-called >&2\nexit 9\n")
    (tmp_path / "srun").chmod(0o755)
    done = _cli(["slurm", "run", "abadi-mnist", "--storage", str(tmp_path / "studies")], env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: resources.gpus_per_trial: 0.25 GPUs per trial, but Slurm job 42 has no GPUs (SLURM_GPUS_ON_NODE "
        "is unset); allowed: submit to a GPU partition with --gpus-per-node=N (or --gres=gpu:N), or --set "
        "resources.gpus_per_trial=0"]
    assert "srun-was-called" not in done.stderr and not (tmp_path / "studies").exists()


def test_gpus_and_nodes_are_read_as_slurm_allocated_them():
    from study import slurm

    assert slurm.gpus_on_node({"SLURM_GPUS_ON_NODE": "4"}) == 4
    assert slurm.gpus_on_node({"SLURM_JOB_GPUS": "0,1"}) == 2
    assert slurm.gpus_on_node({}) == 0
    alloc = slurm.allocation({"SLURM_JOB_ID": "7", "SLURM_JOB_NODELIST": "vm", "SLURM_CPUS_ON_NODE": "2",
                              "SLURM_GPUS_ON_NODE": "1"})
    assert alloc == {"job": "7", "nodes": ["vm"], "cpus": 2, "gpus": 1}
    assert slurm.hostnames("gpu[01-03,07],cpu1") == ["gpu01", "gpu02", "gpu03", "gpu07", "cpu1"]


def test_docs_batch_script_calls_the_launcher():
    script = _docs_script()
    assert script.startswith("#!/bin/bash\n")
    assert re.search(r"^study slurm run ", script, flags=re.M)
    assert "#SBATCH --gpus-per-node=" in script


def _docs_script() -> str:
    docs = (ROOT / "docs" / "slurm.md").read_text()
    (script,) = re.findall(r"```bash\n(#!/bin/bash\n.*?)```", docs, flags=re.S)
    return script


# --- a real single-node Slurm ----------------------------------------------------------------------

def _missing() -> list[str]:
    return [name for name in SLURM_BINARIES if shutil.which(name) is None
            and not os.path.exists(f"/usr/sbin/{name}")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _binary(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


@contextlib.contextmanager
def _slurm(tmp: Path):
    """munged + slurmctld + slurmd for one node (this machine), all state under `tmp`; env for clients."""
    host = socket.gethostname().split(".")[0]
    for sub in ("state", "spool", "munge"):
        (tmp / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(tmp / "munge", 0o700)
    socket_path = tmp / "munge" / "munge.socket"
    key = tmp / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    memory_mb = 1024
    conf = tmp / "slurm.conf"
    conf.write_text(f"""ClusterName=studytest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
AuthInfo=socket={socket_path}
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={tmp}/state
SlurmdSpoolDir={tmp}/spool
SlurmctldPidFile={tmp}/slurmctld.pid
SlurmdPidFile={tmp}/slurmd.pid
SlurmctldLogFile={tmp}/slurmctld.log
SlurmdLogFile={tmp}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
SwitchType=switch/none
NodeName={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} RealMemory={memory_mb} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
""")
    env = dict(os.environ, SLURM_CONF=str(conf))
    daemons = [subprocess.Popen([_binary("munged"), "--foreground", "--force", f"--socket={socket_path}",
                                 f"--key-file={key}", f"--pid-file={tmp}/munge/munged.pid",
                                 f"--log-file={tmp}/munge/munged.log", f"--seed-file={tmp}/munge/seed"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)]
    try:
        time.sleep(1)
        daemons.append(subprocess.Popen([_binary("slurmctld"), "-D", "-i", "-f", str(conf)], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        time.sleep(2)
        daemons.append(subprocess.Popen([_binary("slurmd"), "-D", "-f", str(conf)], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 90
        state = ""
        while time.monotonic() < deadline:
            done = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True, timeout=30)
            state = done.stdout.strip() + done.stderr.strip()
            if state in ("idle", "mixed"):
                break
            if any(d.poll() is not None for d in daemons):
                break
            time.sleep(1)
        if state not in ("idle", "mixed"):
            logs = "".join((tmp / name).read_text()[-1500:] for name in ("slurmctld.log", "slurmd.log")
                           if (tmp / name).exists())
            pytest.fail(f"single-node Slurm did not come up (sinfo: {state!r})\n{logs}")
        yield env
    finally:
        for daemon in reversed(daemons):
            daemon.terminate()
        for daemon in daemons:
            try:
                daemon.wait(30)
            except subprocess.TimeoutExpired:
                daemon.kill()


def _sbatch(env: dict, script: Path, out: Path, timeout: int) -> int:
    done = subprocess.run(["sbatch", "--wait", "--nodes=1", f"--output={out}", str(script)], env=env,
                          capture_output=True, text=True, timeout=timeout)
    return done.returncode


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.skipif(bool(_missing()), reason="Slurm's daemons are not installed here (missing: "
                    + ", ".join(_missing()) + "); `apt-get install slurm-wlm` (Debian) provides them")
@pytest.mark.skipif(os.geteuid() != 0, reason="slurmd must run as root to start job steps for the test user")
def test_a_study_runs_across_a_slurm_allocation(tmp_path, study_caches):
    venv = Path(sys.executable).parent.parent
    storage = tmp_path / "studies"
    script = _docs_script()
    # The documented script, shrunk to this machine: one CPU node, a tiny study.
    script = re.sub(r"^#SBATCH --(nodes|cpus-per-task|gpus-per-node|partition|time)=.*\n", "", script, flags=re.M)
    script = script.replace("#SBATCH --output=%x-%j.out\n", "")
    tiny = " ".join(arg.replace(" ", "") for arg in TINY) + " --name slurm-job --no-report"
    # The session's trained tiny GAN cache: this test's claim is the allocation (Ray on its nodes, the
    # driver, Ray stopped), and GAN training on a Ray cluster is test_cluster's CLI job's.
    study_caches.seed_gans(storage, TINY)
    (tmp_path / "study.sbatch").write_text(script)
    env_base = {"STUDY_VENV": str(venv), "STUDY_SPEC": "quick", "STUDY_STORAGE": str(storage), "STUDY_ARGS": tiny}
    with _slurm(tmp_path / "slurm") as env:
        env = env | env_base | {"SLURM_CPUS_PER_TASK": str(os.cpu_count())}
        out = tmp_path / "job.out"
        code = subprocess.run(["sbatch", "--wait", "--nodes=1", f"--cpus-per-task={os.cpu_count()}",
                               f"--output={out}", "--chdir", str(ROOT), str(tmp_path / "study.sbatch")],
                              env=env, capture_output=True, text=True, timeout=840)
        log = out.read_text() if out.exists() else ""
        print(log[-6000:])
        assert code.returncode == 0, code.stdout + code.stderr + log[-4000:]
        assert "[slurm] 1 node(s) joined; running `study run` as the driver" in log
        assert "[slurm] Ray stopped on 1 node(s)" in log
        assert "1 ready, 0 to train" in log   # the seeded GAN was found, not trained again
        import pandas as pd

        results = pd.read_csv(storage / "slurm-job" / "results.csv")
        assert len(results) == 2 and set(results["status"]) == {"ok"}

        # A GPU study on this GPU-less allocation: exit 2 and the one line, before Ray starts.
        gpu = tmp_path / "gpu.out"
        env_gpu = env | {"STUDY_SPEC": "abadi-mnist", "STUDY_ARGS": "--name gpu-job"}
        code = subprocess.run(["sbatch", "--wait", "--nodes=1", f"--output={gpu}", "--chdir", str(ROOT),
                               str(tmp_path / "study.sbatch")], env=env_gpu, capture_output=True, text=True,
                              timeout=300)
        gpu_log = gpu.read_text()
        assert code.returncode != 0, gpu_log
        assert re.search(r"^error: resources.gpus_per_trial: 0.25 GPUs per trial, but Slurm job \d+ has no GPUs",
                         gpu_log, flags=re.M), gpu_log
        assert "[slurm] job" not in gpu_log and not (storage / "gpu-job").exists()
