#!/usr/bin/env bash
# Regenerate the shipped weights recon/weights/{lpd,lgd,fbpconvnet,redcnn,lpd-sparse,n2i}-small.safetensors
# from scratch, on CPU, with the committed protocol configs (experiments/*_small.yaml):
#   1. simulate the synthetic `mixed` and `mixed-grain` (lpd) training sets and the `pelvis`/`polygons` validation set
#      (never pydicom's DICOM slices, never a test family); for n2i, the same `mixed` and validation simulations
#      written without their images (--no-images: the same sinograms, byte for byte),
#   2. train each model (seeded; a killed run continues with the same command: it resumes),
#   3. copy each run's best checkpoint, resolved config and logs into recon/weights/.
# Usage: bash experiments/train_shipped.sh [model ...]   (default: lpd fbpconvnet redcnn lgd lpd_sparse n2i;
#        n2i is the FBPConvNet of experiments/n2i_small.yaml, trained by Noise2Inverse from sinograms alone)
set -euo pipefail
cd "$(dirname "$0")/.."
RECON=${RECON:-.venv/bin/recon}
DATA=outputs/data
models=("$@")
[ ${#models[@]} -eq 0 ] && models=(lpd fbpconvnet redcnn lgd lpd_sparse n2i)

DOSES=(--photons 1024 --photons-max 16384)
# simulate FOLDER FILE [recon simulate options]: once; a finished file is kept
simulate() {
  [ -f "$DATA/$1/$2" ] || "$RECON" simulate "$DATA/$1" "${@:3}"
}
# training_set FOLDER FAMILY [options] and validation_set FOLDER [options]: the files the configs read
training_set() {
  simulate "$1" train.h5 --phantom "$2" --samples 11520 --splits 1,0,0 "${DOSES[@]}" --seed 1 "${@:3}"
}
validation_set() {
  simulate "$1" validation.h5 --phantom pelvis polygons --samples 64 --splits 0,1,0 "${DOSES[@]}" --seed 2 "${@:2}"
}

for model in "${models[@]}"; do
  case "$model" in
    lpd) training_set mixed_grain_small mixed-grain && validation_set validation_small ;;
    n2i) training_set mixed_small_sinograms mixed --no-images && validation_set validation_small_sinograms --no-images ;;
    *) training_set mixed_small mixed && validation_set validation_small ;;
  esac
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
