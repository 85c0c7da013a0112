#!/usr/bin/env bash
# Regenerate the shipped weights recon/weights/{lpd,lgd,fbpconvnet,redcnn}-small.safetensors
# from scratch, on CPU, with the committed protocol configs (experiments/*_small.yaml):
#   1. simulate the synthetic `mixed` training set (never pydicom's DICOM slices),
#   2. train each model (seeded; a killed run continues with the same command: it resumes),
#   3. copy each run's best checkpoint, resolved config and logs into recon/weights/.
# Usage: bash experiments/train_shipped.sh [model ...]   (default: lpd fbpconvnet redcnn lgd)
set -euo pipefail
cd "$(dirname "$0")/.."
RECON=${RECON:-.venv/bin/recon}
DATA=outputs/data/mixed_small
models=("$@")
[ ${#models[@]} -eq 0 ] && models=(lpd fbpconvnet redcnn lgd)

if [ ! -f "$DATA/train.h5" ]; then
  "$RECON" simulate "$DATA" --phantom mixed --samples 4160 --splits 4096,64,0 --photons 4096 --seed 1
fi

for model in "${models[@]}"; do
  run=outputs/${model}_small
  resume=()
  [ -f "$run/state.pt" ] && resume=(--resume)
  start=$(date +%s)
  "$RECON" train --config "experiments/${model}_small.yaml" "${resume[@]}"
  echo "$model: $(( $(date +%s) - start )) s wall-clock on $(nproc) cores" | tee -a "$run/wall_clock.txt"
  mkdir -p "recon/weights/logs/${model}-small"
  cp "$run/best.safetensors" "recon/weights/${model}-small.safetensors"
  cp "$run"/*.csv "$run/wall_clock.txt" "experiments/${model}_small.yaml" "recon/weights/logs/${model}-small/"
done
