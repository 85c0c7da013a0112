"""Non-finite data are refused where they enter or leave recon: writers, readers and the simulation."""

from __future__ import annotations

import math

import h5py
import numpy as np
import pytest
import torch

from recon import Geometry, RayTransform, simulate
from recon.data.datasets import PairedDataset
from recon.data.hdf5 import write_paired
from recon.data.lodopab import LoDoPaB, write_lodopab
from recon.data.simulated import Simulation

GEOMETRY = Geometry.parallel(image_size=(9, 7), num_angles=5, num_detectors=11)


def arrays(count: int, shapes=((9, 7), (5, 11))) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return tuple(rng.random((count, *shape), dtype=np.float32) for shape in shapes)


def spoil(path, name: str, index: tuple[int, ...], value: float = math.nan) -> None:
    """Write a bad value into a stored file, past recon's writers."""
    with h5py.File(path, "r+") as h5:
        h5[name][index] = value


@pytest.mark.parametrize(("name", "shape"), [("sinograms", (5, 11)), ("images", (9, 7))])
def test_a_paired_file_with_nan_is_refused_at_the_bad_sample(tmp_path, name, shape):
    path = write_paired(tmp_path / "train.h5", *arrays(4), geometry=GEOMETRY, physics={})
    spoil(path, name, (2, 1, 3))
    spoil(path, name, (2, 4, 0), math.inf)
    dataset = PairedDataset(path)
    dataset[1]  # the other samples stay readable
    size = shape[0] * shape[1]
    with pytest.raises(ValueError, match=rf"train.h5: dataset '{name}', sample 2: expected finite values, "
                                         rf"got 2 NaN or inf of {size}, the first at index \(1, 3\)"):
        dataset[2]


def test_a_lodopab_folder_with_inf_is_refused_naming_the_file_and_row(tmp_path):
    observations, truths = arrays(130, ((6, 9), (7, 7)))
    write_lodopab(tmp_path, "test", observations, truths)
    spoil(tmp_path / "observation_test_001.hdf5", "data", (1, 2, 3), -math.inf)
    dataset = LoDoPaB(tmp_path, "test")
    with pytest.raises(ValueError, match=r"observation_test_001.hdf5: dataset 'data', sample 1: expected finite "
                                         r"values, got 1 NaN or inf of 54, the first at index \(2, 3\)"):
        dataset[129]


def test_writers_refuse_nan_and_leave_no_file(tmp_path):
    images, sinograms = arrays(4)
    sinograms[3, 0, 2] = math.nan
    with pytest.raises(ValueError, match=r"train.h5: sinograms: expected finite values, got 1 NaN or inf of "
                                         r"220, the first at index \(3, 0, 2\)"):
        write_paired(tmp_path / "train.h5", images, sinograms, geometry=GEOMETRY, physics={})
    observations, truths = arrays(130, ((6, 9), (7, 7)))
    truths[129, 1, 1] = math.inf  # in the second file: the first one is removed again
    with pytest.raises(ValueError, match=r"ground_truths: expected finite values, got 1 NaN or inf of 98, "
                                         r"the first at index \(129, 1, 1\)"):
        write_lodopab(tmp_path, "test", observations, truths)
    assert list(tmp_path.iterdir()) == []


def test_simulation_refuses_non_finite_images_and_meaningless_physics():
    A = RayTransform(GEOMETRY)
    x = torch.zeros(2, 1, 9, 7)
    x[1, 0, 4, 4] = math.nan
    with pytest.raises(ValueError, match=r"image: expected finite values, got 1 NaN or inf of 126, "
                                         r"the first at index \(1, 0, 4, 4\)"):
        simulate(x, A, seed=0)
    x = torch.full((2, 1, 9, 7), -0.01)  # slightly negative ground truths are accepted
    assert torch.isfinite(simulate(x, A, seed=0)).all()
    with pytest.raises(ValueError, match=r"photons: expected a finite number > 0 and <= 1e\+15, got 1e\+300"):
        simulate(x, A, photons=1e300, seed=0)  # float32 counts would overflow to inf
    with pytest.raises(ValueError, match=r"photons of sample 1: expected a finite number > 0 and <= 1e\+15, got nan"):
        simulate(x, A, photons=[100.0, math.nan], seed=0)
    with pytest.raises(ValueError, match=r"electronic_noise: expected a finite number >= 0, got nan"):
        simulate(x, A, electronic_noise=math.nan, seed=0)
    with pytest.raises(ValueError, match=r"factor: expected a finite number >= 1, got nan"):
        Simulation(factor=math.nan)
    with pytest.raises(ValueError, match=r"photons_max: expected a finite number >= 4096, got 100"):
        Simulation(photons_max=100)
