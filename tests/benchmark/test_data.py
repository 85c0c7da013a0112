"""Benchmark data: built-in phantoms with a dose sweep, recon HDF5 files, LoDoPaB folders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recon.benchmark import builtin_data, open_data
from recon.benchmark.data import BUILTIN_FAMILIES, builtin_images
from recon.data.anatomy import anatomy_images
from recon.data.hdf5 import write_paired
from recon.data.lodopab import write_lodopab
from recon.physics import LODOPAB_PHOTONS, MU_MAX
from tests.benchmark.conftest import GEOMETRY


def test_builtin_data_share_truths_across_doses_and_reproduce(tiny_levels):
    high, low = tiny_levels
    assert (high.photons, low.photons) == (4096.0, 64.0) and high.key != low.key
    assert high.groups == (*BUILTIN_FAMILIES, "overlapping-ellipses")
    for i in range(5):
        torch.testing.assert_close(high.samples[i][1], low.samples[i][1], rtol=0, atol=0)
        assert high.samples[i][0].shape == (1, 7, 23) and high.samples[i][1].shape == (1, 17, 11)
    # lower dose, noisier sinograms; the same seed gives the same bytes
    again = builtin_data(GEOMETRY, 5, photons=(64,), seed=3)[0]
    assert torch.equal(again.samples[4][0], low.samples[4][0])
    other = builtin_data(GEOMETRY, 5, photons=(64,), seed=4)[0]
    assert not torch.equal(other.samples[0][1], low.samples[0][1])


def test_builtin_images_cycle_through_the_families():
    images, families = builtin_images(GEOMETRY, 9, seed=0)
    assert images.shape == (9, 17, 11) and images.dtype == np.float32
    assert families[:4] == ("overlapping-ellipses", "shepp-logan", "forbild", "anatomy")
    assert families[8] == "overlapping-ellipses"
    assert not np.array_equal(images[0], images[4])  # random ellipses differ per sample
    assert np.array_equal(images[1], images[5])  # fixed phantoms repeat
    with pytest.raises(ValueError, match="positive"):
        builtin_images(GEOMETRY, 0)
    for photons in [(0,), (100, 100), ()]:
        with pytest.raises(ValueError, match="photons"):
            builtin_data(GEOMETRY, 2, photons=photons)


def test_builtin_anatomy_takes_the_lodopab_crops_of_the_real_ct_slices_in_turn():
    crops, _ = anatomy_images(GEOMETRY)
    images, families = builtin_images(GEOMETRY, 4 * 7, seed=0)
    anatomy = images[[i for i, family in enumerate(families) if family == "anatomy"]]
    for k, image in enumerate(anatomy):
        np.testing.assert_array_equal(image, crops[k])
    others, labels = builtin_images(GEOMETRY, 4, seed=0, families=("pelvis", "anatomy"))
    assert labels == ("pelvis", "anatomy", "pelvis", "anatomy")
    np.testing.assert_array_equal(others[3], crops[1])


def test_open_recon_hdf5_file_takes_its_dose(tmp_path, tiny_levels):
    sinograms = np.stack([tiny_levels[1].samples[i][0][0].numpy() for i in range(5)])
    images = np.stack([tiny_levels[1].samples[i][1][0].numpy() for i in range(5)])
    path = write_paired(tmp_path / "test.h5", images, sinograms, geometry=GEOMETRY,
                        physics={"photons": 64.0, "mu_max": MU_MAX})
    data = open_data(path, num_samples=3)
    assert len(data) == 3 and data.geometry == GEOMETRY and data.photons == 64.0 and data.groups is None
    np.testing.assert_array_equal(data.samples[2][0][0].numpy(), sinograms[2])
    assert open_data(path).key != data.key


def test_open_recon_hdf5_file_takes_its_group_labels(tmp_path, tiny_levels):
    sinograms = np.stack([tiny_levels[0].samples[i][0][0].numpy() for i in range(5)])
    images = np.stack([tiny_levels[0].samples[i][1][0].numpy() for i in range(5)])
    labels = ["a", "b", "a", "c", "b"]
    path = write_paired(tmp_path / "test.h5", images, sinograms, geometry=GEOMETRY,
                        physics={"photons": 4096.0}, groups=labels)
    assert open_data(path).groups == tuple(labels)
    assert open_data(path, num_samples=2).groups == ("a", "b")


def test_open_lodopab_folder(tmp_path):
    rng = np.random.default_rng(0)
    observations = rng.random((3, 7, 23), dtype=np.float32) * 0.1
    truths = rng.random((3, 17, 17), dtype=np.float32)
    write_lodopab(tmp_path, "test", observations, truths)
    data = open_data(tmp_path, part="test")
    assert len(data) == 3 and data.photons == LODOPAB_PHOTONS and data.geometry.image_shape == (17, 17)
    np.testing.assert_array_equal(data.samples[1][1][0].numpy(), truths[1])


def test_missing_and_empty_sources_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.h5"):
        open_data(tmp_path / "nothing.h5")
    with pytest.raises(FileNotFoundError):
        open_data(tmp_path, part="test")  # a folder without LoDoPaB files
