"""measure_image_quality: the CHO finds nothing where there is nothing, and finished parts are reused."""

from __future__ import annotations

import json

import pytest

import recon.benchmark.image_quality as image_quality
from recon.data.qa import LOW_CONTRAST_RODS, low_contrast_module
from recon.geometry import Geometry


def same(first: dict, second: dict) -> bool:
    """Equal as JSON (NaN equals NaN, as in the files)."""
    return json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_rods_of_no_contrast_are_not_detected_at_the_small_preset(monkeypatch):
    """At 2 mm pixels the reconstructed water cylinder's background differs by a few HU from place to place; signal-
    absent ROIs taken elsewhere than the rods made FBP's d' of rods of 0 HU about 1.5. Taken at the rods' places,
    every d' is that of noise: its interval holds 0."""
    nothing = tuple((diameter, 0.0) for diameter, _ in LOW_CONTRAST_RODS)
    monkeypatch.setattr(image_quality, "low_contrast_module",
                        lambda copies: low_contrast_module(rods=nothing, copies=copies))
    result = image_quality.measure_image_quality(Geometry.lodopab_small(), ["fbp"], [4096], realisations=40,
                                                 bootstrap=400)
    rods = result["doses"][0]["methods"]["fbp"]["detectability"]
    assert len(rods) == 4
    for rod in rods.values():
        low, high = rod["d_prime_interval"]
        assert low < 0 < high and abs(rod["d_prime"]) < 0.5
        assert rod["train"] == [2 * 20, 2 * 20]  # two copies per realisation, the first half of the realisations


def test_fbps_ttf_does_not_depend_on_contrast_within_its_intervals():
    """FBP is linear: its TTF50 at +340 and at +40 HU agree within their bootstrap intervals, which hold them."""
    result = image_quality.measure_image_quality(Geometry.lodopab_small(), ["fbp"], [4096], realisations=20,
                                                 bootstrap=200)
    ttf = result["doses"][0]["methods"]["fbp"]["ttf"]
    for task in ttf.values():
        low, high = task["f50_interval"]
        assert low <= task["f50"] <= high
    assert ttf["high"]["f50_interval"][1] - ttf["high"]["f50_interval"][0] < 0.2 * ttf["high"]["f50"]
    assert ttf["low"]["f50_interval"][0] <= ttf["high"]["f50_interval"][1]
    assert ttf["high"]["f50_interval"][0] <= ttf["low"]["f50_interval"][1]
    assert ttf["high"]["f50_interval"][1] - ttf["high"]["f50_interval"][0] < (
        ttf["low"]["f50_interval"][1] - ttf["low"]["f50_interval"][0])  # the faint disc is the noisier


def test_a_part_is_reused_only_under_the_same_settings(tmp_path):
    geometry = Geometry.parallel(image_size=48, num_angles=40, num_detectors=69)
    lines = []
    first = image_quality.measure_image_quality(geometry, ["fbp"], [4096], realisations=20, bootstrap=20,
                                                parts=tmp_path, progress=lines.append)
    again = image_quality.measure_image_quality(geometry, ["fbp"], [4096], realisations=20, bootstrap=20,
                                                parts=tmp_path, progress=lines.append)
    other = image_quality.measure_image_quality(geometry, ["fbp"], [4096], realisations=20, bootstrap=20, seed=1,
                                                parts=tmp_path, progress=lines.append)
    assert same(again, first) and not same(other, first)
    assert lines == ["fbp at 4096 photons", "fbp at 4096 photons: finished before, reused", "fbp at 4096 photons"]
    (path,) = tmp_path.rglob("*.json")
    path.write_text("{damaged")
    assert same(image_quality.measure_image_quality(geometry, ["fbp"], [4096], realisations=20, bootstrap=20,
                                                    seed=1, parts=tmp_path), other)
    with pytest.raises(ValueError, match="realisations: the CHO with 5 channels needs at least 20"):
        image_quality.measure_image_quality(geometry, ["fbp"], [4096], realisations=19)
