"""The experiment protocols and the pieces of experiments/regenerate.py that need no long run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from recon.benchmark.methods import parse_spec
from recon.training.checkpoint import shipped_models

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"
PROTOCOLS = sorted((EXPERIMENTS / "protocols").glob("*.yaml"))


def _regenerate():
    spec = importlib.util.spec_from_file_location("regenerate", EXPERIMENTS / "regenerate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_three_protocols_exist():
    assert {p.stem for p in PROTOCOLS} == {"low_dose", "extreme_low_dose", "sparse_view"}


@pytest.mark.parametrize("path", PROTOCOLS, ids=lambda p: p.stem)
def test_every_protocol_names_known_methods_and_a_tv_grid(path):
    protocol = yaml.safe_load(path.read_text())
    methods = protocol["benchmark"]["methods"]
    known = {"fbp", "tv", "sirt", "cgls", "landweber", "odl-fbp", *shipped_models()}
    assert {parse_spec(m.replace("{tv_weight}", "1e-4"))[0] for m in methods} <= known
    assert any("{tv_weight}" in m for m in methods) and len(protocol["tune_tv"]["weights"]) >= 3


def test_benchmark_arguments_fill_in_the_tuned_weight(tmp_path):
    arguments = _regenerate().benchmark_arguments(
        {"samples": 4, "photons": [1024], "angle_step": 6, "methods": ["fbp", "tv:weight={tv_weight}"]},
        tmp_path, 2.5e-05)
    assert arguments[:3] == ["benchmark", "--output", str(tmp_path)]
    text = " ".join(arguments)
    assert "--samples 4" in text and "--photons 1024" in text and "--angle-step 6" in text
    assert "--methods fbp tv:weight=2.5e-05" in text


def test_targets_compare_means_and_say_whether_they_are_met():
    def entry(method, psnr, ssim):
        return {"method": method, "group": "all", "psnr": {"mean": psnr}, "ssim": {"mean": ssim}}

    summary = {"methods": ["fbp", "tv:weight=5e-05", "lpd-small"],
               "summary": [entry("fbp", 25.0, 0.80), entry("tv:weight=5e-05", 30.0, 0.90),
                           entry("lpd-small", 31.0, 0.85)]}
    table = _regenerate().check_targets(
        [{"method": "lpd-small", "better_than": "fbp", "psnr_margin": 5.0, "ssim_higher": True},
         {"method": "lpd-small", "better_than": "tv", "psnr_margin": 0.5, "ssim_higher": True}], summary)
    rows = table.strip().split("\n")[2:]
    assert "+6.00" in rows[0] and rows[0].endswith("| met |")
    assert "tv:weight=5e-05" in rows[1] and rows[1].endswith("| NOT met |")  # SSIM is lower


def test_demote_headings_nests_a_report():
    assert _regenerate().demote_headings("## a\ntext\n### b") == "### a\ntext\n#### b"
