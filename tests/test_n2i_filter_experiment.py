"""experiments/n2i_filter.py: Noise2Inverse's FBP is the filter of the sharpest noise-free FBP on validation images."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from recon.benchmark.protocol import ImageSet
from recon.geometry import Geometry

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"


def _experiment():
    spec = importlib.util.spec_from_file_location("n2i_filter_experiment", EXPERIMENTS / "n2i_filter.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_tiny_run_scores_every_filter_on_validation_images_and_names_the_sharpest(tmp_path, monkeypatch):
    experiment = _experiment()
    monkeypatch.setattr(experiment, "PRESET", Geometry.parallel(image_size=48, num_angles=60, num_detectors=69))
    monkeypatch.setattr(experiment, "VALIDATION_IMAGES", ImageSet(blocks=(("pelvis", 2), ("polygons", 2)), seed=200))
    monkeypatch.setattr(experiment, "RESULTS", tmp_path)
    assert experiment.main() == 0
    rows = json.loads((tmp_path / "summary.json").read_text())["rows"]
    assert len(rows) == len(experiment.FILTERS) * len(experiment.DOSES)
    noise_free = {(row["filter"], row["frequency_scaling"]): row["psnr"] for row in rows if row["dose"] == "noise-free"}
    noisy = {(row["filter"], row["frequency_scaling"]): row["psnr"] for row in rows if row["dose"] == "4096 photons"}
    # without noise, a sharper filter is closer to the image; with it, the ramp is the noisiest
    assert noise_free["ram-lak", 1.0] > noise_free["hann", 1.0] > noise_free["hann", 0.641]
    assert all(noise_free[f] > noisy[f] for f in noisy)
    best = max(noise_free, key=noise_free.get)
    assert f"Chosen: {best[0]} at {best[1]:g} (the highest noise-free PSNR)." in (tmp_path / "summary.md").read_text()


def test_the_committed_choice_is_the_filter_of_n2i_small():
    from recon.training.config import load_config

    summary = json.loads((EXPERIMENTS / "results" / "n2i_filter" / "summary.json").read_text())
    noise_free = [row for row in summary["rows"] if row["dose"] == "noise-free"]
    best = max(noise_free, key=lambda row: row["psnr"])
    config = load_config(EXPERIMENTS / "n2i_small.yaml")
    assert (config.model_args["fbp_filter"], config.model_args["frequency_scaling"]) == (
        best["filter"], best["frequency_scaling"])
