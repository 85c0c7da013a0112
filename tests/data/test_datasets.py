"""Paired datasets: items, lazy per-worker files, input transforms and their cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from recon import Geometry, RayTransform
from recon.data.datasets import PairedDataset
from recon.data.hdf5 import write_paired
from recon.data.simulated import PhantomDataset, Simulation

GEOMETRY = Geometry.parallel(image_size=(9, 7), num_angles=5, num_detectors=11)


@pytest.fixture
def paired(tmp_path):
    rng = np.random.default_rng(0)
    images, sinograms = rng.random((10, 9, 7), dtype=np.float32), rng.random((10, 5, 11), dtype=np.float32)
    path = write_paired(tmp_path / "train.h5", images, sinograms, geometry=GEOMETRY, physics={"photons": 1})
    return path, images, sinograms


def test_items_are_channel_first_tensors_of_the_file(paired):
    path, images, sinograms = paired
    dataset = PairedDataset(path)
    assert len(dataset) == 10 and dataset.geometry == GEOMETRY and dataset.physics == {"photons": 1}
    sinogram, image = dataset[3]
    assert sinogram.shape == (1, 5, 11) and image.shape == (1, 9, 7) and image.dtype == torch.float32
    np.testing.assert_array_equal(sinogram[0], sinograms[3])
    np.testing.assert_array_equal(image[0], images[3])
    np.testing.assert_array_equal(dataset[-1][1][0], images[9])
    with pytest.raises(IndexError):
        dataset[10]


def test_dataloader_with_two_workers_reads_every_sample(paired):
    path, images, sinograms = paired
    dataset = PairedDataset(path)
    dataset[0]  # a handle opened in the parent must not leak into the workers
    loader = DataLoader(dataset, batch_size=3, num_workers=2)
    got_sinograms, got_images = zip(*loader)
    np.testing.assert_array_equal(torch.cat(got_sinograms)[:, 0], sinograms)
    np.testing.assert_array_equal(torch.cat(got_images)[:, 0], images)


def test_input_transform_and_its_cache(paired, tmp_path):
    path, images, sinograms = paired
    A = RayTransform(GEOMETRY)
    calls = []

    def backproject(y):
        calls.append(len(y))
        return A.adjoint(y)

    expected = A.adjoint(torch.from_numpy(sinograms)[:, None])
    on_the_fly = PairedDataset(path, input_transform=backproject)
    torch.testing.assert_close(on_the_fly[4][0], expected[4])
    cache = tmp_path / "train_bp.h5"
    cached = PairedDataset(path, input_transform=backproject, cache_inputs=cache, batch_size=4)
    assert calls[1:] == [4, 4, 2] and cache.exists()
    torch.testing.assert_close(cached[7][0], expected[7])
    np.testing.assert_array_equal(cached[7][1][0], images[7])
    again = PairedDataset(path, input_transform=backproject, cache_inputs=cache)
    torch.testing.assert_close(again[2][0], expected[2])
    assert len(calls) == 4  # read from the cache, not recomputed


def test_a_cache_of_other_data_is_refused(paired, tmp_path):
    path, images, sinograms = paired
    A = RayTransform(GEOMETRY)
    cache = tmp_path / "cache.h5"
    PairedDataset(path, input_transform=A.adjoint, cache_inputs=cache)
    other = write_paired(tmp_path / "other.h5", images[:3], sinograms[:3], geometry=GEOMETRY, physics={})
    with pytest.raises(ValueError, match=r"cache\.h5: input cache of other data"):
        PairedDataset(other, input_transform=A.adjoint, cache_inputs=cache)


def test_bad_input_transforms(paired, tmp_path):
    path, _, _ = paired
    with pytest.raises(ValueError, match="needs an input_transform"):
        PairedDataset(path, cache_inputs=tmp_path / "c.h5")
    with pytest.raises(ValueError, match=r"expected an output of shape \(1, 1, 9, 7\)"):
        PairedDataset(path, input_transform=lambda y: y)[0]


def test_phantom_dataset_is_reproducible_and_worker_safe():
    simulation = Simulation(photons=1000, factor=2, seed=3)
    dataset = PhantomDataset(GEOMETRY, 6, simulation=simulation)
    sinogram, image = dataset[2]
    assert sinogram.shape == (1, 5, 11) and image.shape == (1, 9, 7)
    twin = PhantomDataset(GEOMETRY, 6, simulation=simulation)
    assert torch.equal(twin[2][0], sinogram) and torch.equal(twin[2][1], image)
    assert not torch.equal(dataset[3][1], image)
    loaded = list(DataLoader(dataset, batch_size=2, num_workers=2))
    assert torch.equal(loaded[1][0][0], sinogram)
    fixed = PhantomDataset(GEOMETRY, 3, phantom_name="shepp-logan", simulation=simulation)
    assert torch.equal(fixed[0][1], fixed[2][1]) and not torch.equal(fixed[0][0], fixed[2][0])


def test_datasets_pickle_without_file_handles(paired):
    """spawn / forkserver workers receive pickled datasets: no h5py handle, no lambda inside."""
    import pickle

    path, images, _ = paired
    dataset = PairedDataset(path)
    dataset[0]
    clone = pickle.loads(pickle.dumps(dataset))
    np.testing.assert_array_equal(clone[5][1][0], images[5])
    phantoms = PhantomDataset(GEOMETRY, 4, phantom_name="shepp-logan")
    phantoms[1]
    assert torch.equal(pickle.loads(pickle.dumps(phantoms))[1][0], phantoms[1][0])


def test_angle_subsets_of_a_paired_file(tmp_path):
    rng = np.random.default_rng(1)
    geometry = Geometry.parallel(image_size=(9, 7), num_angles=12, num_detectors=11)
    sinograms = rng.random((3, 12, 11), dtype=np.float32)
    path = write_paired(tmp_path / "x.h5", rng.random((3, 9, 7), dtype=np.float32), sinograms,
                        geometry=geometry, physics={})
    sparse = PairedDataset(path, num_angles=4)
    assert sparse.geometry == geometry.angle_subset(3)
    np.testing.assert_array_equal(sparse[2][0][0], sinograms[2, ::3])
    with pytest.raises(ValueError, match="divisor of 12"):
        PairedDataset(path, num_angles=5)
