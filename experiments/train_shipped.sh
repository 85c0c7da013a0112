#!/usr/bin/env bash
# Regenerate the shipped weights recon/weights/{lpd,lgd,fbpconvnet,redcnn,lpd-sparse}-small.safetensors
# from scratch, on CPU, with the committed protocol configs (experiments/*_small.yaml):
#   1. simulate the synthetic `mixed` and `mixed-grain` (lpd) training sets and the `pelvis`/`polygons` validation set
#      (never pydicom's DICOM slices, never a test family),
#   2. train each model (seeded; a killed run continues with the same command: it resumes),
#   3. copy each run's best checkpoint, resolved config and logs into recon/weights/.
# Usage: bash experiments/train_shipped.sh [model ...]   (default: lpd fbpconvnet redcnn lgd lpd_sparse;
#        also n2i, the self-supervised FBPConvNet of experiments/n2i_small.yaml, not yet shipped)
set -euo pipefail
cd "$(dirname "$0")/.."
RECON=${RECON:-.venv/bin/recon}
DATA=outputs/data
models=("$@")
[ ${#models[@]} -eq 0 ] && models=(lpd fbpconvnet redcnn lgd lpd_sparse)

if [ ! -f "$DATA/mixed_small/train.h5" ]; then
  "$RECON" simulate "$DATA/mixed_small" --phantom mixed --samples 11520 --splits 1,0,0 \
    --photons 1024 --photons-max 16384 --seed 1
fi
if [ ! -f "$DATA/mixed_grain_small/train.h5" ]; then
  "$RECON" simulate "$DATA/mixed_grain_small" --phantom mixed-grain --samples 11520 --splits 1,0,0 \
    --photons 1024 --photons-max 16384 --seed 1
fi
if [ ! -f "$DATA/validation_small/validation.h5" ]; then
  "$RECON" simulate "$DATA/validation_small" --phantom pelvis polygons --samples 64 --splits 0,1,0 \
    --photons 1024 --photons-max 16384 --seed 2
fi

for model in "${models[@]}"; do
  run=outputs/${model}_small
  name=${model//_/-}-small
  resume=()
  [ -f "$run/state.pt" ] && resume=(--resume)
  start=$(date +%s)
  "$RECON" train --config "experiments/${model}_small.yaml" "${resume[@]}"
  echo "$model: $(( $(date +%s) - start )) s wall-clock on $(nproc) cores" | tee -a "$run/wall_clock.txt"
  mkdir -p "recon/weights/logs/$name"
  cp "$run/best.safetensors" "recon/weights/$name.safetensors"
  cp "$run"/*.csv "$run/wall_clock.txt" "experiments/${model}_small.yaml" "recon/weights/logs/$name/"
done
