"""The metrics on noisy FBPs of the QA phantoms: known physics of the noise and of the task."""

from __future__ import annotations

import pytest
import torch

from recon import Geometry, RayTransform
from recon.algorithms import fbp
from recon.data.qa import ct_number_module, noise_realisations, water_cylinder
from recon.quality import ct_numbers, noise_power_spectrum

GEOMETRY = Geometry.parallel(image_size=64, num_angles=90, num_detectors=91)
A = RayTransform(GEOMETRY)
CENTRES = ((0.0, 0.0), (0.0, 40.0), (40.0, 0.0), (0.0, -40.0), (-40.0, 0.0))


def reconstructions(phantom, photons: float, count: int, seed: int) -> torch.Tensor:
    return fbp(noise_realisations(phantom.image(GEOMETRY), A, photons, count, seed=seed), A).double()


def test_fbp_noise_falls_as_the_square_root_of_the_dose():
    """Post-log noise variance is 1 / N0 (delta method) and FBP is linear: four times the photons halve the noise,
    and leave the shape of the NPS (peak and mean frequency) unchanged."""
    low, high = (noise_power_spectrum(reconstructions(water_cylinder(), photons, 16, seed=0), GEOMETRY, size=16,
                                      centres=CENTRES) for photons in (2048, 8192))
    assert float(low.noise[0] / high.noise[0]) == pytest.approx(2, rel=0.1)
    assert float(low.mean_frequency[0]) == pytest.approx(float(high.mean_frequency[0]), rel=0.1)


def test_fbp_ct_numbers_are_unbiased_by_noise():
    """The mean over realisations of each insert's CT number matches the noise-free reconstruction's."""
    phantom = ct_number_module()
    noisy = ct_numbers(reconstructions(phantom, 16384, 16, seed=1), GEOMETRY, phantom.inserts)
    clean = ct_numbers(reconstructions(phantom, 1e12, 1, seed=2), GEOMETRY, phantom.inserts)
    standard_error = noisy.mean.std(dim=0)[0] / 4  # of the mean of 16 realisations
    assert bool(((noisy.mean.mean(dim=0) - clean.mean[0]).abs()[0] < 4 * standard_error).all())
