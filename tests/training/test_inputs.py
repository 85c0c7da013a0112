"""Training refuses data it would misuse: non-finite samples, more samples than the files hold; load_model('')."""

from __future__ import annotations

import math
from dataclasses import replace

import h5py
import numpy as np
import pytest

from recon import Geometry, load_model
from recon.data.hdf5 import write_paired
from recon.training import DataConfig, train
from recon.training.data import build_datasets

GEOMETRY = Geometry.parallel(image_size=(17, 11), num_angles=7, num_detectors=23)


@pytest.fixture
def files(tmp_path) -> DataConfig:
    """Paired training (8 samples) and validation (4) files on the tiny geometry."""
    rng = np.random.default_rng(0)
    for split, count in (("train", 8), ("validation", 4)):
        write_paired(tmp_path / f"{split}.h5", rng.random((count, 17, 11), dtype=np.float32),
                     rng.random((count, 7, 23), dtype=np.float32) * 0.05, geometry=GEOMETRY, physics={})
    return DataConfig(source="hdf5", train=str(tmp_path / "train.h5"), validation=str(tmp_path / "validation.h5"))


@pytest.mark.parametrize(("key", "count", "holds", "split"), [
    ("train_samples", 3840, 8, "train"), ("validation_samples", 5, 4, "validation")])
def test_asking_for_more_samples_than_the_files_hold_is_refused(tiny_config, files, key, count, holds, split):
    data = replace(files, **{key: count})
    with pytest.raises(ValueError, match=rf"data.{key}: expected at most the {holds} samples of "
                                         rf".*{split}.h5, got {count}"):
        build_datasets(tiny_config(data=data, geometry=None))
    fewer = replace(files, **{key: holds - 1})
    assert len(getattr(build_datasets(tiny_config(data=fewer, geometry=None)), split)) == holds - 1


def test_training_on_a_file_with_nan_stops_at_the_bad_sample(tiny_config, files, tmp_path):
    with h5py.File(files.train, "r+") as h5:
        for sample in range(8):  # whatever the shuffled order, the first batch meets one
            h5["images"][sample, 3, 4] = math.nan
    with pytest.raises(ValueError, match=r"train.h5: dataset 'images', sample \d: expected finite values, "
                                         r"got 1 NaN or inf of 187, the first at index \(3, 4\)"):
        train(tiny_config(data=files, geometry=None, epochs=1))


@pytest.mark.parametrize("name", ["", "  "])
def test_load_model_of_an_empty_name_says_what_it_expected(name):
    with pytest.raises(ValueError, match=rf"checkpoint: expected a path to a .safetensors file or a shipped "
                                         rf"model name, got '{name}'"):
        load_model(name)
