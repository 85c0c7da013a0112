"""LoDoPaB-CT's layout: writer/reader round trip, file boundaries, angle subsets, bad folders."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Subset

from recon import Geometry
from recon.data.lodopab import LoDoPaB, lodopab_file, write_lodopab

N, ANGLES, DETECTORS, SIZE = 300, 12, 9, 7  # 300 = 128 + 128 + 44


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(0)
    return rng.random((N, ANGLES, DETECTORS), dtype=np.float32), rng.random((N, SIZE, SIZE), dtype=np.float32)


@pytest.fixture
def root(tmp_path, arrays):
    write_lodopab(tmp_path, "train", *arrays)
    return tmp_path


def test_layout_on_disk(root):
    names = sorted(p.name for p in root.iterdir())
    assert names == [f"{kind}_train_{n:03d}.hdf5" for kind in ("ground_truth", "observation") for n in range(3)]
    with h5py.File(root / "observation_train_002.hdf5") as h5:
        assert list(h5) == ["data"] and h5["data"].shape == (44, ANGLES, DETECTORS)
    with h5py.File(root / "ground_truth_train_001.hdf5") as h5:
        assert h5["data"].shape == (128, SIZE, SIZE) and h5["data"].dtype == np.float32


def test_round_trip_across_files(root, arrays):
    observations, truths = arrays
    dataset = LoDoPaB(root, "train")
    assert len(dataset) == N
    assert dataset.geometry == Geometry.parallel(image_size=SIZE, num_angles=ANGLES, num_detectors=DETECTORS)
    for index in (0, 127, 128, 255, 256, 299, -1):
        sinogram, image = dataset[index]
        np.testing.assert_array_equal(sinogram[0], observations[index])
        np.testing.assert_array_equal(image[0], truths[index])


def test_a_batch_spanning_two_files_with_two_workers(root, arrays):
    observations, truths = arrays
    indices = list(range(120, 136))
    loader = DataLoader(Subset(LoDoPaB(root, "train"), indices), batch_size=16, num_workers=2)
    (sinograms, images), = list(loader)
    np.testing.assert_array_equal(sinograms[:, 0], observations[indices])
    np.testing.assert_array_equal(images[:, 0], truths[indices])


def test_angle_subsets(root, arrays):
    observations, _ = arrays
    dataset = LoDoPaB(root, "train", num_angles=4)
    full = Geometry.parallel(image_size=SIZE, num_angles=ANGLES, num_detectors=DETECTORS)
    assert dataset.geometry == full.angle_subset(3)
    np.testing.assert_array_equal(dataset[130][0][0], observations[130, ::3])
    with pytest.raises(ValueError, match="divisor of 12"):
        LoDoPaB(root, "train", num_angles=5)


def test_writer_reads_h5py_datasets_and_refuses_to_overwrite(tmp_path, arrays):
    observations, truths = arrays
    with h5py.File(tmp_path / "source.h5", "w") as h5:
        h5["y"], h5["x"] = observations[:130], truths[:130]
    out = tmp_path / "out"
    out.mkdir()
    with h5py.File(tmp_path / "source.h5") as h5:
        write_lodopab(out, "test", h5["y"], h5["x"], compression="gzip")
    np.testing.assert_array_equal(LoDoPaB(out, "test")[129][1][0], truths[129])
    with pytest.raises(FileExistsError, match="observation_test_000.hdf5"):
        write_lodopab(out, "test", observations[:3], truths[:3])
    with pytest.raises(ValueError, match="as many observations as ground truths"):
        write_lodopab(tmp_path, "x", observations[:3], truths[:2])


def test_missing_file_in_the_middle(root):
    lodopab_file(root, "observation", "train", 1).unlink()
    lodopab_file(root, "ground_truth", "train", 1).unlink()
    with pytest.raises(FileNotFoundError, match="observation_train_001.hdf5"):
        LoDoPaB(root, "train")


def test_observation_without_ground_truth(root):
    lodopab_file(root, "ground_truth", "train", 2).unlink()
    with pytest.raises(FileNotFoundError, match="ground_truth_train_002.hdf5.*counterpart"):
        LoDoPaB(root, "train")


def test_no_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no LoDoPaB files of part 'validation'"):
        LoDoPaB(tmp_path, "validation")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        LoDoPaB(tmp_path / "absent", "train")


def test_short_file_that_is_not_the_last(root, arrays):
    observations, truths = arrays
    for kind, data in (("observation", observations), ("ground_truth", truths)):
        path = lodopab_file(root, kind, "train", 1)
        path.unlink()
        with h5py.File(path, "w") as h5:
            h5["data"] = data[:100]
    with pytest.raises(ValueError, match="observation_train_001.hdf5: expected 128 samples, got 100"):
        LoDoPaB(root, "train")


def test_observation_and_ground_truth_counts_differ(root, arrays):
    path = lodopab_file(root, "ground_truth", "train", 2)
    path.unlink()
    with h5py.File(path, "w") as h5:
        h5["data"] = arrays[1][:40]
    with pytest.raises(ValueError, match="observation_train_002.hdf5: 44 observations but .* 40"):
        LoDoPaB(root, "train")


def test_a_last_ground_truth_file_with_extra_rows_is_read_as_lodopab_ships_it(root, arrays):
    """LoDoPaB-CT's create_dataset.py trims only the last observation file: its ground-truth partner can hold
    up to 128 rows; the part has as many samples as observations, and the extra rows are never read."""
    observations, truths = arrays
    path = lodopab_file(root, "ground_truth", "train", 2)
    path.unlink()
    with h5py.File(path, "w") as h5:
        h5["data"] = np.concatenate([truths[256:], truths[:84]])  # 44 + 84 = 128 rows
    dataset = LoDoPaB(root, "train")
    assert len(dataset) == N
    np.testing.assert_array_equal(dataset[N - 1][1][0], truths[N - 1])
    with pytest.raises(IndexError):
        dataset[N]


def test_an_earlier_ground_truth_file_with_extra_rows_is_refused(root, arrays):
    observations, truths = arrays
    for kind, data in (("observation", observations[128:228]), ("ground_truth", truths[128:256])):
        path = lodopab_file(root, kind, "train", 1)
        path.unlink()
        with h5py.File(path, "w") as h5:
            h5["data"] = data
    with pytest.raises(ValueError, match=r"observation_train_001.hdf5: 100 observations but ground_truth_train_001"
                                         r".hdf5 holds 128 ground truths \(only the last ground-truth file may"):
        LoDoPaB(root, "train")


def test_truncated_and_datasetless_files(root):
    path = lodopab_file(root, "observation", "train", 0)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match="observation_train_000.hdf5: not a readable HDF5 file"):
        LoDoPaB(root, "train")
    path.unlink()
    with h5py.File(path, "w") as h5:
        h5["other"] = np.zeros(3)
    with pytest.raises(ValueError, match="observation_train_000.hdf5: missing dataset 'data'"):
        LoDoPaB(root, "train")


def test_real_size_files_must_hold_the_whole_part(tmp_path):
    """A LoDoPaB-size folder with fewer samples than published is an incomplete download."""
    geometry = Geometry.lodopab()
    write_lodopab(tmp_path, "validation", np.zeros((1, *geometry.sinogram_shape), np.float32),
                  np.zeros((1, *geometry.image_shape), np.float32))
    with pytest.raises(ValueError, match="holds 3522 samples, found 1"):
        LoDoPaB(tmp_path, "validation")
    partial = LoDoPaB(tmp_path, "validation", allow_partial=True, num_angles=50)
    assert partial.geometry == geometry.angle_subset(20)
    assert partial[0][0].shape == (1, 50, 513)


def test_lodopab_pairs_are_consistent_with_the_operator(tmp_path):
    """Files written from simulated data read back as pairs with A(x) close to y."""
    from recon import RayTransform
    from recon.data.phantoms import random_ellipses
    from recon.physics import simulate

    geometry = Geometry.parallel(image_size=SIZE, num_angles=ANGLES, num_detectors=DETECTORS)
    A = RayTransform(geometry)
    x = torch.from_numpy(np.stack([random_ellipses(SIZE, seed=s) for s in range(3)]))[:, None]
    y = simulate(x, A, photons=1e7, seed=0, factor=1)
    write_lodopab(tmp_path, "test", y[:, 0].numpy(), x[:, 0].numpy())
    sinogram, image = LoDoPaB(tmp_path, "test")[1]
    torch.testing.assert_close(A(image[None])[0], sinogram, atol=2e-4, rtol=0.02)


def test_a_data_entry_that_is_not_a_dataset_is_refused(root):
    """Fuzz case 1413 (LoDoPaB, flip, seed 0): a flipped object header made 'data' a named datatype."""
    path = lodopab_file(root, "ground_truth", "train", 0)
    path.unlink()
    with h5py.File(path, "w") as h5:
        h5["data"] = np.dtype("float32")  # a committed datatype, not a dataset
    with pytest.raises(ValueError, match=r"ground_truth_train_000.hdf5: 'data': expected a dataset, got Datatype"):
        LoDoPaB(root, "train")
