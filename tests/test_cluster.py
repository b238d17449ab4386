"""cluster.yaml against Ray's own schema and our security rules; token auth on a real local head.

Fast tests read cluster.yaml only (no AWS call: sockets are blocked while Ray prepares it).
Slow tests start a real Ray head on 127.0.0.1 with token auth (tests/raycluster.py) and talk to it
the way a laptop does through `ray dashboard cluster.yaml`'s SSH tunnel.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from raycluster import (  # noqa: E402
    RAY_CLI,
    http_get,
    job_list,
    listening_addresses,
    ray_head,
    submit_and_wait,
)

ROOT = Path(__file__).resolve().parent.parent
CLUSTER_YAML = ROOT / "cluster.yaml"
CLI_TIMEOUT_S = 180


def _raw_config() -> dict:
    return yaml.safe_load(CLUSTER_YAML.read_text())


def _prepare_offline(raw: dict) -> dict:
    """The config as the launcher sees it (defaults merged in), validated by Ray's schema.

    Sockets are blocked meanwhile, so a cloud API call would fail the test instead of running.
    """
    from ray.autoscaler._private.util import prepare_config, validate_config

    def no_network(*args, **kwargs):
        raise AssertionError("preparing a cluster config must not touch the network (cloud APIs)")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", no_network)
        mp.setattr(socket, "create_connection", no_network)
        prepared = prepare_config(raw)
        validate_config(prepared)
    return prepared


@pytest.fixture(scope="module")
def config() -> dict:
    return _prepare_offline(_raw_config())


def _doc_variants() -> dict[str, tuple[dict, list[str]]]:
    """docs/cluster.md's `# variant: NAME (replaces ...; delete A, B)` blocks: (replacements, deletions)."""
    docs = (ROOT / "docs" / "cluster.md").read_text()
    variants = {}
    for block in re.findall(r"```yaml\n(# variant: .*?)```", docs, flags=re.S):
        header = block.splitlines()[0]
        name = re.match(r"# variant: (\w+)", header).group(1)
        deleted = re.search(r"delete ([\w, ]+)\)", header)
        variants[name] = (yaml.safe_load(block),
                          [key.strip() for key in deleted.group(1).split(",")] if deleted else [])
    return variants


def _worker_types(config: dict) -> dict[str, dict]:
    return {name: spec for name, spec in config["available_node_types"].items()
            if name != config["head_node_type"]}


def _ray_start_lines(commands: list[str]) -> list[str]:
    return [cmd for cmd in commands if "ray start" in cmd]


def _start_lines_by_node(config: dict) -> dict[str, list[str]]:
    return {"head": _ray_start_lines(config["head_start_ray_commands"]),
            "worker": _ray_start_lines(config["worker_start_ray_commands"])}


def test_cluster_yaml_passes_ray_schema(config):
    assert config["provider"]["type"] == "aws"
    assert config["head_node_type"] in config["available_node_types"]
    # prepare_config filled what the launcher needs (a missing field would have failed above).
    assert "cluster_synced_files" in config and "auth" in config


def test_head_never_offers_a_gpu(config):
    head = config["available_node_types"][config["head_node_type"]]
    assert head["resources"].get("GPU") == 0, "the driver's node must advertise GPU 0"
    assert "InstanceMarketOptions" not in head["node_config"], "the head must not be a spot node"
    for line in _ray_start_lines(config["head_start_ray_commands"]):
        assert "--num-gpus=0" in line


def test_dashboard_and_jobs_api_bound_to_loopback(config):
    lines = _ray_start_lines(config["head_start_ray_commands"])
    assert lines and all("--dashboard-host=127.0.0.1" in line for line in lines)
    every_command = " ".join(config["head_start_ray_commands"] + config["worker_start_ray_commands"]
                             + config["docker"].get("run_options", []))
    assert "0.0.0.0" not in every_command
    assert not re.search(r"-p\s*\d+|--publish", every_command), "no container port may be published"


def test_token_auth_on_every_node(config):
    for node, lines in _start_lines_by_node(config).items():
        assert lines, f"no `ray start` among the {node} start commands"
        for line in lines:
            # The variable must be set for the `ray start` process itself.
            tokens = shlex.split(line.replace(";", " ; "))
            start = tokens.index("ray")
            assert "RAY_AUTH_MODE=token" in tokens[:start], f"{node}: {line}"
    # And for every process in the container (ray exec shells, job drivers).
    assert "-e RAY_AUTH_MODE=token" in config["docker"]["run_options"]
    # The same token file reaches every node (workers receive the head's copy of file_mounts).
    assert config["file_mounts"].get("~/.ray/auth_token") == "~/.ray/auth_token"
    assert "RAY_AUTH_MODE=disabled" not in CLUSTER_YAML.read_text()


def test_security_group_adds_nothing_beyond_ssh(config):
    sg = config["provider"]["security_group"]
    assert sg["GroupName"], "a dedicated group keeps other clusters' rules out"
    for rule in sg.get("IpPermissions", []):
        assert (rule.get("FromPort"), rule.get("ToPort")) == (22, 22), rule
    for name, spec in config["available_node_types"].items():
        # Own groups or interfaces would bypass the launcher-managed group checked here.
        assert "SecurityGroupIds" not in spec["node_config"], name
        assert "NetworkInterfaces" not in spec["node_config"], name


def test_launcher_security_group_rules_are_ssh_plus_intra_cluster(config):
    """What the launcher actually writes into the group, from Ray's own rule builder."""
    pytest.importorskip("boto3", reason="Ray's AWS config module needs boto3 (laptop `ray up` too)")
    from ray.autoscaler._private.aws.config import _create_default_inbound_rules

    extra = config["provider"]["security_group"].get("IpPermissions", [])
    rules = _create_default_inbound_rules({"sg-self"}, extra)
    for rule in rules:
        if rule.get("IpRanges") or rule.get("Ipv6Ranges"):
            assert (rule["FromPort"], rule["ToPort"]) == (22, 22), rule
        else:
            assert rule["UserIdGroupPairs"] == [{"GroupId": "sg-self"}], rule


def test_gpu_workers_scale_from_zero(config):
    gpu_types = {name: spec for name, spec in _worker_types(config).items()
                 if spec["resources"].get("GPU", 0) > 0}
    assert {spec["resources"]["GPU"] for spec in gpu_types.values()} >= {1, 4}
    for name, spec in gpu_types.items():
        assert spec["min_workers"] == 0, f"{name} must scale from zero"
    spot = [name for name, spec in gpu_types.items()
            if spec["node_config"].get("InstanceMarketOptions", {}).get("MarketType") == "spot"]
    assert spot, "a spot GPU worker type should be available"
    assert any(gpu_types[name]["max_workers"] > 0 for name in gpu_types if name not in spot), \
        "on-demand GPU workers are the default"


def test_docs_show_gcp_and_local_variants():
    assert {"gcp", "local"} <= set(_doc_variants())


@pytest.mark.parametrize("name", sorted(_doc_variants()))
def test_docs_variant_passes_ray_schema(name):
    replacements, deletions = _doc_variants()[name]
    variant = {k: v for k, v in _raw_config().items() if k not in deletions}
    variant.update(replacements)
    prepared = _prepare_offline(variant)
    assert prepared["provider"]["type"] == name
    # The security-relevant parts are shared with cluster.yaml, not redefined per variant.
    assert prepared["head_start_ray_commands"] == _raw_config()["head_start_ray_commands"]
    assert "-e RAY_AUTH_MODE=token" in prepared["docker"]["run_options"]
    head = prepared["available_node_types"][prepared["head_node_type"]]
    if name != "local":   # the local provider lets Ray detect resources; --num-gpus=0 covers the head
        assert head["resources"]["GPU"] == 0


CUDA13_AMI = "base-oss-nvidia-driver-gpu-ubuntu-24.04"   # AWS's DLAMI family on driver branch 580


def test_every_node_type_pins_a_machine_image_whose_driver_runs_cuda_13(config):
    """Ray's default AMI (CUDA 11.2 era) would start nodes the product image's CUDA 13.0 cannot use:
    every node type names its image, the 580-driver Deep Learning Base AMI (or a frozen ami- ID)."""
    pytest.importorskip("boto3", reason="Ray's AWS config module needs boto3 (the dev and cluster extras)")
    from ray.autoscaler._private.aws.config import DEFAULT_AMI

    raw = _raw_config()
    for name, spec in raw["available_node_types"].items():
        image = spec["node_config"].get("ImageId", "")
        assert image, f"{name}: no ImageId, the launcher would pick Ray's default AMI"
        assert image.startswith("ami-") or (image.startswith("resolve:ssm:/aws/service/deeplearning/ami/")
                                            and CUDA13_AMI in image), (name, image)
        assert image not in DEFAULT_AMI.values()
        # What the launcher will send: the pinned image survives prepare_config.
        assert config["available_node_types"][name]["node_config"]["ImageId"] == image
    assert "580" in CLUSTER_YAML.read_text() and "CUDA 13.0" in CLUSTER_YAML.read_text()


def test_no_node_installs_anything_when_it_starts():
    raw = _raw_config()
    for key in ("setup_commands", "head_setup_commands", "worker_setup_commands", "initialization_commands"):
        for command in raw.get(key, []):
            assert not re.search(r"\b(pip|pip3|conda|uv|apt-get)\b", command), (key, command)
    for name, (replacements, _) in _doc_variants().items():
        for key in ("setup_commands", "head_setup_commands", "worker_setup_commands"):
            assert not any("pip" in command for command in replacements.get(key, [])), (name, key)


def test_gcp_variant_runs_the_images_cuda():
    replacements, _ = _doc_variants()["gcp"]
    for name, spec in replacements["available_node_types"].items():
        config = spec["node_config"]
        images = [disk["initializeParams"]["sourceImage"] for disk in config["disks"] if disk.get("boot")]
        assert len(images) == 1, name
        if spec["resources"].get("GPU", 0) > 0:
            driver = re.search(r"-nvidia-(\d+)$", images[0])
            assert driver and int(driver.group(1)) >= 580, (name, images[0])
            assert config["serviceAccounts"], f"{name} writes gs:// storage as a service account"
    assert "head_setup_commands" not in replacements


def _rayjob() -> dict:
    docs = (ROOT / "docs" / "cluster.md").read_text()
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", docs, flags=re.S) if "kind: RayJob" in b]
    return yaml.safe_load(block)


def test_rayjob_pods_run_as_a_service_account_with_storage_credentials_from_a_secret():
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    job = _rayjob()
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    cluster = job["spec"]["rayClusterSpec"]
    assert cluster["authOptions"]["mode"] == "token"
    templates = [cluster["headGroupSpec"]["template"]] + [group["template"] for group in cluster["workerGroupSpecs"]]
    for template in templates:
        pod = template["spec"]
        assert pod["serviceAccountName"] == "gan-study"
        for container in pod["containers"]:
            assert container["image"].endswith(f"/gan-augment-study:{version}")
            secrets = [source["secretRef"]["name"] for source in container.get("envFrom", [])]
            assert secrets == ["study-storage"], container["name"]
            assert "command" not in container and "args" not in container   # nothing installed at start
    assert cluster["headGroupSpec"]["rayStartParams"]["num-gpus"] == "0"
    assert "pip" not in job["spec"]["entrypoint"]


def test_docs_call_a_quarter_gpu_the_presets_value_not_the_default():
    from study.schema import ResourcesSpec

    assert ResourcesSpec().gpus_per_trial == 0
    for path in (ROOT / "docs" / "cluster.md", ROOT / "README.md", CLUSTER_YAML):
        text = " ".join(path.read_text().split())
        assert not re.search(r"\bdefault(s)? (of |is )?0\.25", text), path.name
    assert "presets' value 0.25" in (ROOT / "docs" / "cluster.md").read_text()


# --- a real head with token auth ------------------------------------------------------------------

@pytest.fixture(scope="module")
def head(tmp_path_factory):
    with ray_head(tmp_path_factory.mktemp("rayhead"), token=True) as running:
        yield running


@pytest.mark.slow
def test_jobs_api_requires_the_token(head):
    status, _ = job_list(head, headers={})
    assert status == 401
    status, _ = job_list(head, headers={"Authorization": "Bearer " + "0" * 64})
    assert status == 403
    status, jobs = job_list(head, headers=head.auth_headers())
    assert status == 200 and isinstance(jobs, list)
    # The header proxies use (KubeRay) is accepted too.
    status, _ = job_list(head, headers={"X-Ray-Authorization": f"Bearer {head.token}"})
    assert status == 200


@pytest.mark.slow
def test_dashboard_state_api_requires_the_token(head):
    status, _ = http_get(f"{head.dashboard_url}/api/v0/nodes")
    assert status == 401
    status, _ = http_get(f"{head.dashboard_url}/api/v0/nodes", head.auth_headers())
    assert status == 200


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux /proc/net/tcp")
def test_dashboard_listens_only_on_loopback(head):
    assert listening_addresses(head.dashboard_port) == {"127.0.0.1"}


@pytest.mark.slow
def test_cli_job_submit_with_token(head):
    result = subprocess.run(
        [RAY_CLI, "job", "submit", "--address", head.dashboard_url, "--",
         "python", "-c", "print('hello-from-job')"],
        env=head.env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "hello-from-job" in result.stdout


@pytest.mark.slow
def test_cli_job_submit_without_token_is_refused(head, tmp_path):
    env = {k: v for k, v in head.env.items() if k != "RAY_AUTH_TOKEN"}
    env["RAY_AUTH_MODE"] = "disabled"
    env["HOME"] = str(tmp_path)   # no ~/.ray/auth_token to fall back on
    result = subprocess.run(
        [RAY_CLI, "job", "submit", "--address", head.dashboard_url, "--",
         "python", "-c", "print('must-not-run')"],
        env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    assert result.returncode != 0
    assert "Authentication required" in result.stdout + result.stderr   # Ray's message for a 401
    status, jobs = job_list(head, headers=head.auth_headers())
    assert status == 200
    assert not any("must-not-run" in job["entrypoint"] for job in jobs), "the job must not exist"


@pytest.mark.slow
def test_sdk_job_submit_with_token(head, tmp_path):
    (tmp_path / "marker.py").write_text("print('hello-from-' + 'working-dir')\n")
    outcome = submit_and_wait(head, "python marker.py", working_dir=tmp_path, timeout=CLI_TIMEOUT_S)
    assert outcome.status == "SUCCEEDED", outcome.logs[-2000:]
    assert "hello-from-working-dir" in outcome.logs


@pytest.mark.slow
def test_job_driver_joins_the_cluster_with_the_inherited_token(head):
    """What `study run` does inside a job: ray.init() against the cluster, authenticated."""
    entrypoint = ("python -c \"import ray; ray.init(); "
                  "print('cpus', int(ray.cluster_resources()['CPU']), 'gpus', "
                  "int(ray.cluster_resources().get('GPU', 0)))\"")
    outcome = submit_and_wait(head, entrypoint, timeout=CLI_TIMEOUT_S)
    assert outcome.status == "SUCCEEDED", outcome.logs[-2000:]
    assert "cpus 2 gpus 0" in outcome.logs


@pytest.mark.slow
def test_head_without_token_auth_answers_anyone(tmp_path):
    """Control for the 401 checks above: they fail exactly when token auth is off."""
    with ray_head(tmp_path, token=False) as open_head:
        assert open_head.token is None
        status, jobs = job_list(open_head, headers={})
        assert status == 200 and isinstance(jobs, list)


# --- a study submitted as a Ray job, the way a laptop submits one to a cluster -------------------

TINY_STUDY = ["quick", "--set", "sizes=[100]", "--set", "seeds=1", "--set", "gan.epochs=2",
              "--set", "gan.checkpoint_every=1", "--set", "classifier.epochs=2", "--set", "mix.ratios=[0, 1]"]
STUDY_JOB_TIMEOUT_S = 480


def _check_study_folder(folder: Path) -> None:
    import pandas as pd

    results = pd.read_csv(folder / "results.csv")
    assert len(results) == 2 and set(results["status"]) == {"ok"}
    assert (folder / "report" / "report.md").read_text().startswith("# ")
    assert list((folder.parent / "gan-cache").glob("*/pool.pt"))


@pytest.mark.slow
def test_study_submitted_with_the_ray_job_cli(head, tmp_path, study_caches):
    storage = tmp_path / "storage"
    study_caches.seed_scoring(storage, TINY_STUDY)   # the dataset's scoring network; the GAN trains in the job
    command = [RAY_CLI, "job", "submit", "--address", head.dashboard_url, "--working-dir", str(ROOT), "--",
               "python", "-m", "study.cli", "run", *TINY_STUDY, "--storage", str(storage), "--name", "cli-job"]
    result = subprocess.run(command, env=head.env, capture_output=True, text=True, timeout=STUDY_JOB_TIMEOUT_S)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "[study] report:" in result.stdout  # the job's own output streams back to the laptop
    assert "GANs 1/1 done" in result.stdout   # the GAN stage ran inside the job
    _check_study_folder(storage / "cli-job")


@pytest.mark.slow
def test_study_submitted_with_the_job_submission_client(head, tmp_path, study_caches):
    storage = tmp_path / "storage"
    # The study's GAN, as its own run would leave it (the CLI job above trains one inside a job).
    study_caches.seed_gans(storage, TINY_STUDY[1:])
    entrypoint = " ".join(shlex.quote(part) for part in [
        "python", "-m", "study.cli", "run", *TINY_STUDY, "--storage", str(storage), "--name", "sdk-job"])
    outcome = submit_and_wait(head, entrypoint, working_dir=ROOT, timeout=STUDY_JOB_TIMEOUT_S)
    assert outcome.status == "SUCCEEDED", outcome.logs[-3000:]
    assert "1 ready, 0 to train" in outcome.logs
    _check_study_folder(storage / "sdk-job")


# --- GPUs or a clear failure -------------------------------------------------------------

@pytest.mark.slow
def test_a_node_whose_gpus_torch_cannot_use_is_refused_before_anything_is_written(tmp_path):
    """A real head that offers Ray one GPU on this CUDA-less machine (what a driver mismatch looks like
    to Ray): the study refuses with one line naming the node and what torch says, exit 2."""
    with ray_head(tmp_path / "head", token=False, num_gpus=1) as gpu_head:
        storage = tmp_path / "studies"
        run = subprocess.run([sys.executable, "-m", "study.cli", "run", "quick", "--storage", str(storage),
                              "--set", "resources.gpus_per_trial=0.5"],
                             env={**gpu_head.env, "PYTHONPATH": str(ROOT)}, cwd=ROOT, capture_output=True,
                             text=True, timeout=300)
    assert run.returncode == 2, run.stderr[-3000:]
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and re.match(r"error: resources.gpus_per_trial: node [\d.]+ offers GPUs to Ray but torch "
                                         r"cannot use them \(torch ", errors[0]), errors
    assert "torch.cuda.is_available() = False" in errors[0]
    assert not storage.exists()


# --- storage every node sees -----------------------------------------------------------

@contextlib.contextmanager
def worker_node(head, hidden: Path | None = None):
    """A second Ray node joined to `head`. With `hidden`, it runs in its own mount namespace where an
    empty tmpfs covers that folder: a node that cannot see the driver's files there, as a node-local
    disk on another machine would be."""
    command = [RAY_CLI, "start", f"--address={head.address}", "--num-cpus=1", "--num-gpus=0", "--block",
               "--disable-usage-stats"]
    if hidden is not None:
        command = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                   f"mount -t tmpfs tmpfs {shlex.quote(str(hidden))} && exec {shlex.join(command)}"]
    proc = subprocess.Popen(command, env=head.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        # Counted from a separate process: this one may hold the test session's own Ray.
        count = ("import ray, time\nray.init()\nfor _ in range(240):\n"
                 "    if len([n for n in ray.nodes() if n['Alive']]) >= 2: break\n    time.sleep(0.5)\n"
                 "print(len([n for n in ray.nodes() if n['Alive']]))")
        joined = subprocess.run([sys.executable, "-c", count], env=head.env, capture_output=True, text=True,
                                timeout=180)
        assert joined.stdout.strip() == "2", joined.stderr[-2000:]
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def _can_hide_a_folder() -> bool:
    return os.geteuid() == 0 and subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _can_hide_a_folder(), reason="needs root and mount namespaces (unshare)")
def test_a_storage_one_node_cannot_see_is_refused_and_a_shared_one_passes(tmp_path):
    storage = tmp_path / "shared-or-not" / "studies"
    storage.parent.mkdir(parents=True)
    with ray_head(tmp_path / "head", token=False, num_cpus=1) as head:
        with worker_node(head):          # same filesystem: shared
            shared = _storage_check(head, storage)
            assert shared.returncode == 0, shared.stderr
            # env.json's view of the cluster: every node, not the driver's machine.
            env = json.loads(shared.stdout)
            assert len(env["nodes"]) == 2 and sorted(n["cpus"] for n in env["nodes"]) == [1.0, 1.0]
            assert len(env["devices"]) == 2 and all(d.startswith("node ") for d in env["devices"])
        with worker_node(head, hidden=storage.parent):
            run = subprocess.run([sys.executable, "-m", "study.cli", "run", "quick", "--storage", str(storage)],
                                 env={**head.env, "PYTHONPATH": str(ROOT)}, cwd=ROOT, capture_output=True,
                                 text=True, timeout=300)
    assert run.returncode == 2, run.stdout + run.stderr
    # One error line and no traceback; Ray may add its own lines about the first worker node leaving.
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in run.stderr, run.stderr[-3000:]
    (line,) = errors
    assert re.match(rf"error: --storage {re.escape(str(storage))}: 1 of 2 node\(s\) cannot see it: [\d.]+ \(node \w+\) "
                    r"\(a path on one node's own disk\); allowed: s3://, gs:// or a folder every node mounts", line), line
    assert not storage.exists() and list(storage.parent.iterdir()) == []   # nothing written, marker removed


def _storage_check(head, storage: Path) -> subprocess.CompletedProcess:
    """The driver's check alone (a whole `study run` would go on to train when the storage is shared), then
    what env.json would record on this cluster, as JSON on stdout."""
    code = ("import sys, ray\nfrom study import cli, cluster\nfrom study.folder import StudyError\n"
            "ray.init()\ntry:\n    cluster.check_storage_shared(sys.argv[1])\nexcept StudyError as err:\n"
            "    print(f'error: {err}', file=sys.stderr); sys.exit(2)\n"
            "import json\nfrom study.environment import environment_info\nprint(json.dumps(environment_info()))\n")
    return subprocess.run([sys.executable, "-c", code, str(storage)], env={**head.env, "PYTHONPATH": str(ROOT)},
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


# --- scale-out through an autoscaler ---------------------------------------------------

def _fake_autoscaling_config(gcs_port: int) -> dict:
    """Ray's fake multi-node provider: "worker nodes" are raylets it starts on this machine when
    pending demand asks for them, exactly as a cloud provider would start machines."""
    return {
        "cluster_name": "fake-study", "max_workers": 2,
        "provider": {"type": "fake_multinode", "use_node_id_as_ip": True, "disable_node_updaters": True,
                     "disable_launch_config_check": True, "gcs_address": f"127.0.0.1:{gcs_port}"},
        "available_node_types": {
            "ray.head.default": {"resources": {"CPU": 1}, "node_config": {}, "max_workers": 0},
            "worker.cpu2": {"resources": {"CPU": 2}, "node_config": {}, "min_workers": 0, "max_workers": 2}},
        "head_node_type": "ray.head.default", "auth": {}, "upscaling_speed": 1.0, "idle_timeout_minutes": 5,
        "docker": {}, "initialization_commands": [], "setup_commands": [], "head_setup_commands": [],
        "worker_setup_commands": [], "head_start_ray_commands": [], "worker_start_ray_commands": [],
        "file_mounts": {}, "cluster_synced_files": [], "file_mounts_sync_continuously": False,
        "rsync_exclude": [], "rsync_filter": []}


@pytest.mark.slow
def test_a_study_whose_trials_need_more_than_the_head_makes_the_autoscaler_add_nodes(tmp_path, study_caches):
    """The head holds 1 CPU, each classifier trial asks for 2: only queued trials (no concurrency cap
    from the resources present at the start) make the autoscaler start worker nodes, and the study ends."""
    from raycluster import free_port

    # The study's GAN (its key is TINY_STUDY's): trials of 2 CPUs, not the GAN, are what asks for nodes.
    study_caches.seed_gans(tmp_path / "s", TINY_STUDY[1:])
    port = free_port()
    config = tmp_path / "autoscaling.json"
    config.write_text(json.dumps(_fake_autoscaling_config(port)))
    with ray_head(tmp_path / "head", token=False, num_cpus=1, gcs_port=port,
                  extra_args=(f"--autoscaling-config={config}",),
                  extra_env={"RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"}) as head:
        run = subprocess.run([sys.executable, "-m", "study.cli", "run", "quick", "--storage", str(tmp_path / "s"),
                              "--no-report", "--set", "sizes=[100]", "--set", "seeds=1", "--set", "gan.epochs=2",
                              "--set", "mix.ratios=[0, 1]", "--set", "classifier.epochs=2",
                              "--set", "resources.cpus_per_trial=2"],
                             env={**head.env, "PYTHONPATH": str(ROOT)}, cwd=ROOT, capture_output=True, text=True,
                             timeout=900)
        count = ("import ray\nray.init()\nnodes = ray.nodes()\n"
                 "print(len(nodes), sum(n['Resources'].get('CPU', 0) == 2 for n in nodes))")
        nodes = subprocess.run([sys.executable, "-c", count], env=head.env, capture_output=True, text=True,
                               timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "trials of 2 CPUs wait for the autoscaler" in run.stdout
    total, workers = (int(x) for x in nodes.stdout.split()[-2:])
    # Two trials of 2 CPUs queued at once: two worker nodes (a cap at what the 1-CPU head holds would let
    # one trial wait at a time, and the autoscaler would never go past one node).
    assert workers == 2 and total == 3, nodes.stdout
    results = (tmp_path / "s" / "quick" / "results.csv").read_text().splitlines()
    assert len(results) == 3 and all(",ok," in line for line in results[1:])
