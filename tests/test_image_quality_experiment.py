"""experiments/image_quality.py: its methods, the stronger TV, and a tiny end-to-end run with its generated reading."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from recon.algorithms.tv import default_data_term, default_weight
from recon.benchmark.methods import parse_spec
from recon.geometry import Geometry
from recon.training.checkpoint import shipped_models

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"
#: A stand-in for a shipped model at the tiny size: its label is its spec, as the shipped models' are.
STAND_IN = "fbp:filter=hann,frequency_scaling=0.4"


def _experiment():
    spec = importlib.util.spec_from_file_location("image_quality_experiment", EXPERIMENTS / "image_quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("photons", [1024.0, 4096.0, 16384.0])
def test_the_stronger_tv_is_four_times_the_default_weight_with_the_default_term(photons):
    experiment = _experiment()
    name, parameters = parse_spec(experiment.stronger_tv(photons, 360))
    n0 = torch.tensor([photons])
    expected = default_weight(torch.zeros(1, 1, 360, 183), photons=photons)
    assert name == "tv" and parameters["data_term"] == default_data_term(n0)
    assert parameters["weight"] == pytest.approx(4 * float(expected[0]), rel=1e-3)


def test_the_small_preset_runs_every_shipped_model_and_lodopab_size_the_classical_methods():
    experiment = _experiment()
    small = experiment.methods("small", 4096.0, Geometry.lodopab_small(), lodopab_tv=False)
    assert list(small)[:3] == ["fbp", "tv", "tv ×4"] and set(list(small)[3:]) == set(shipped_models())
    lodopab = experiment.methods("lodopab", 4096.0, Geometry.lodopab(), lodopab_tv=False)
    assert {parse_spec(spec)[0] for spec in lodopab.values()} == {"fbp"}
    assert "tv" in experiment.methods("lodopab", 4096.0, Geometry.lodopab(), lodopab_tv=True)


def test_a_tiny_run_writes_both_presets_and_a_reading_from_its_numbers(tmp_path, monkeypatch):
    experiment = _experiment()
    tiny = Geometry.parallel(image_size=48, num_angles=40, num_detectors=69)
    monkeypatch.setattr(experiment, "PRESETS", {"small": lambda: tiny, "lodopab": lambda: tiny})
    monkeypatch.setattr(experiment, "RESULTS", tmp_path)
    monkeypatch.setattr(experiment, "OUTPUT", tmp_path / "image_quality")
    monkeypatch.setattr(experiment, "REALISATIONS", {"small": 20, "lodopab": 20})
    monkeypatch.setattr(experiment, "shipped_weights", lambda: [SimpleNamespace(name=STAND_IN)])
    # PSNR of a protocol at 4096 photons that orders the stand-in above TV, and none at 1024
    summary = {"summary": [{"photons": 4096.0, "group": "all", "method": method, "psnr": {"mean": value}}
                           for method, value in (("fbp", 25.0), ("TV (default)", 27.0), (STAND_IN, 30.0))]}
    (tmp_path / "low_dose").mkdir()
    (tmp_path / "low_dose" / "summary.json").write_text(json.dumps(summary))
    assert experiment.main([]) == 0
    out = tmp_path / "image_quality"
    for preset in ("small", "lodopab"):
        assert {"iq.md", "iq.json", "iq.csv", "nps.png", "ttf.png", "detectability.png"} <= {
            p.name for p in (out / preset).iterdir()}
    result = json.loads((out / "small" / "iq.json").read_text())
    assert result["settings"]["methods"] == ["fbp", "tv", "tv ×4", STAND_IN]
    rows = result["doses"][0]["methods"]
    readme = (out / "README.md").read_text()
    assert f"noise {rows[STAND_IN]['noise_hu']:.1f} vs {rows['fbp']['noise_hu']:.1f} HU" in readme
    confirmed = contradicted = 0
    for higher, lower in ((STAND_IN, "tv"), (STAND_IN, "fbp"), ("tv", "fbp")):  # by the PSNR written above
        for rod in rows[higher]["detectability"]:
            a, b = rows[higher]["detectability"][rod], rows[lower]["detectability"][rod]
            confirmed += a["d_prime_interval"][0] > b["d_prime_interval"][1]
            contradicted += b["d_prime_interval"][0] > a["d_prime_interval"][1]
    assert (f"Ranked by mean PSNR on the `low_dose` test images: {STAND_IN} (30.00 dB), tv (27.00 dB), fbp (25.00 dB). "
            f"Of the 12 comparisons of a pair of these methods on one rod, the CHO's d' (95 % intervals apart) "
            f"confirms PSNR's order on {confirmed}, contradicts it on {contradicted} and cannot tell on "
            f"{12 - confirmed - contradicted} (overlapping intervals)") in readme
    assert "PSNR on test images at 1024 photons: not available" in readme
    # a second run reuses every finished method and dose: the same numbers
    before = (out / "small" / "iq.json").read_text()
    assert experiment.main([]) == 0
    assert (out / "small" / "iq.json").read_text() == before
