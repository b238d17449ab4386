#!/usr/bin/env bash
# The GPU path in one script: at most 8 minutes on one GPU, nothing installed from the network.
#
#   bash bench/gpu_check.sh          on a GPU machine (the device tool: no network there)
#   DRY=1 bash bench/gpu_check.sh    the same steps at tiny sizes on the CPU (checks the script itself)
#
# 1. bench/gpu_path.py: the GAN step in bf16 (data resident, channels_last) in TFLOP/s against a bf16
#    matmul measured in the same run, vmap vs loop for per-class GANs, a classifier epoch on the device.
# 2. The quick preset end to end on the GPU with fractional classifier GPUs
#    (resources.gpus_per_trial = 0.25: four trials share the GPU), then a check that every trial
#    finished `ok` (a trial that asked for a GPU and finds no usable CUDA fails, it never trains on the
#    CPU) and that env.json saw the GPU.
# A GPU machine may lack this project's dependencies (Ray, Optuna, mlxtend): put their wheels in
# .wheels/ (pip download --only-binary=:all: --python-version 3.12 -d .wheels ray optuna mlxtend ...)
# and carry the folder; step 2 is skipped, saying so, when they cannot be imported.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && PY=.venv/bin/python
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 RAY_USAGE_STATS_ENABLED=0
DRY=${DRY:-0}
if [ "$DRY" = 1 ]; then
  PATH_ARGS=(--device cpu --dry)
  STUDY_SETS=(--set "sizes=[100]" --set seeds=1 --set gan.epochs=2 --set gan.checkpoint_every=1
              --set classifier.epochs=2 --set "mix.ratios=[0, 1]" --set resources.gpus_per_trial=0)
else
  PATH_ARGS=(--device cuda)
  STUDY_SETS=(--set resources.gpus_per_trial=0.25)
fi
status=0
if [ -d .wheels ]; then
  $PY -m pip install --quiet --no-index --find-links .wheels ray optuna mlxtend || echo "note: the wheels in .wheels/ did not install"
fi

echo "== 1/2 bench/gpu_path.py ${PATH_ARGS[*]}"
timeout 240 $PY bench/gpu_path.py "${PATH_ARGS[@]}" || { echo "FAILED: gpu_path (exit $?)"; status=1; }

echo "== 2/2 study run quick ${STUDY_SETS[*]}"
if ! $PY -c "import ray, optuna, mlxtend, study" 2>/dev/null; then
  echo "skipped: Ray, Optuna or mlxtend cannot be imported here (carry their wheels in .wheels/)"
else
  storage=$(mktemp -d)
  started=$(date +%s)
  timeout 360 $PY -m study.cli run quick --storage "$storage" "${STUDY_SETS[@]}" | grep -E "^\[study\] (GAN stage|trials .* in|results|report)|^error"
  rc=${PIPESTATUS[0]}
  echo "study: exit $rc after $(( $(date +%s) - started )) s"
  [ "$rc" = 0 ] || status=1
  $PY - "$storage/quick" "$DRY" <<'PYCHECK' || status=1
import json, sys
import pandas as pd
root, dry = sys.argv[1], sys.argv[2] == "1"
results = pd.read_csv(f"{root}/results.csv")
env = json.load(open(f"{root}/env.json"))
bad = results[results["status"] != "ok"]
print(f"trials: {len(results)}, not ok: {len(bad)}; env.json GPUs: {env.get('gpus')}")
assert bad.empty, bad[["trial", "status", "reason"]].to_string()
assert dry or env.get("gpus"), "env.json saw no GPU: the study did not run on one"
PYCHECK
fi
echo "gpu_check: $([ $status = 0 ] && echo ok || echo FAILED)"
exit $status
