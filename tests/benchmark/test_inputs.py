"""The harness refuses non-finite data and reports what it measured, no more."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from recon.benchmark import BenchmarkData, Method, RunConfig, benchmark, build_method, open_data
from recon.data.hdf5 import write_paired
from tests.benchmark.conftest import GEOMETRY


def test_nan_ground_truths_are_refused_before_anything_is_written(tmp_path, tiny_levels):
    sinograms, images = (torch.stack(parts) for parts in zip(*(tiny_levels[0].samples[i] for i in range(5))))
    images = images.clone()
    images[3, 0, 2, 4] = math.nan
    level = BenchmarkData(name="spoilt", key="spoilt", geometry=GEOMETRY, samples=TensorDataset(sinograms, images))
    with pytest.raises(ValueError, match=r"spoilt: images: expected finite values, got 1 NaN or inf of 374, "
                                         r"the first at index \(3, 0, 2, 4\)"):
        benchmark([level], ["fbp"], RunConfig(output=tmp_path / "out", batch_size=2, progress=False))
    assert not (tmp_path / "out").exists()


def test_seconds_have_no_made_up_spread_and_means_say_how_many_values_they_cover(tmp_path, tiny_levels):
    inner = build_method("fbp", GEOMETRY).reconstruct

    def sometimes_nan(y):
        x = inner(y)
        x[-1] = math.nan  # the last image of every batch of 2 (and the warm-up's)
        return x

    config = RunConfig(output=tmp_path, batch_size=2, examples=0, progress=False)
    outcome = benchmark(tiny_levels[:1], ["fbp", Method("flaky", "flaky", sometimes_nan)], config)
    fbp_row = next(line for line in outcome.table.splitlines() if line.startswith("| fbp |"))
    flaky_row = next(line for line in outcome.table.splitlines() if line.startswith("| flaky |"))
    seconds = fbp_row.rstrip(" |").rsplit("| ", 1)[1]
    assert "±" not in seconds and float(seconds) >= 0
    assert "(2 of 5)" in flaky_row.split("|")[2]  # PSNR over the 2 finite images of 5 (batches 2, 2, 1)
    assert "batch of up to 2 sinograms divided by its number of images" in outcome.table
    assert "no ± given: the images of a batch are timed together" in outcome.table
    summary = json.loads((tmp_path / "summary.json").read_text())
    entry = next(e for e in summary["summary"] if e["method"] == "fbp" and e["group"] == "all")
    assert entry["seconds"]["std"] is None and entry["seconds"]["finite"] == 5 and entry["psnr"]["std"] > 0


def test_asking_for_more_samples_than_a_file_holds_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    path = write_paired(tmp_path / "test.h5", rng.random((3, 17, 11), dtype=np.float32),
                        rng.random((3, 7, 23), dtype=np.float32), geometry=GEOMETRY, physics={})
    assert len(open_data(path, num_samples=3)) == 3
    with pytest.raises(ValueError, match=r"samples: expected 1 to the 3 samples of .*test.h5, got 4"):
        open_data(path, num_samples=4)
