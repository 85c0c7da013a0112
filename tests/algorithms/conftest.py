"""Simulated low-dose data for the algorithm tests.

``noisy_sinogram`` follows LoDoPaB-CT's recipe (projection on a twice finer
grid to avoid the inverse crime, Poisson counts, zero counts -> 0.1, post-log
divided by mu_max). It is a stand-in: switch to ``recon.simulate`` once the
physics module lands.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import recon
from recon.data.phantoms import ellipses_image

MU_MAX = 81.35858
PHOTONS = 4096


def random_ellipses(size: int, seed: int, count: int = 12) -> np.ndarray:
    """A random ellipse phantom in [0, 1], x-first, shape (size, size)."""
    rng = np.random.default_rng(seed)
    body = [0.35, 0.8, 0.7, 0.0, 0.0, rng.uniform(0, 180)]
    rows = [body]
    for _ in range(count):
        radius, angle = 0.55 * np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
        rows.append([rng.uniform(-0.2, 0.5), *rng.uniform(0.05, 0.25, 2),
                     radius * np.cos(angle), radius * np.sin(angle), rng.uniform(0, 180)])
    image = ellipses_image((2 * size, 2 * size), np.array(rows), supersampling=1)
    return np.clip(image, 0, 1)


def noisy_sinogram(fine_images: np.ndarray, geometry: recon.Geometry, *, seed: int,
                   photons: float = PHOTONS) -> tuple[torch.Tensor, torch.Tensor]:
    """(ground truth (B, 1, n, n), noisy post-log sinogram (B, 1, A, D)) from 2n x 2n images."""
    fine = recon.RayTransform(recon.Geometry.parallel(
        image_size=fine_images.shape[-1], num_angles=geometry.num_angles,
        num_detectors=geometry.num_detectors, angle_range=(0.0, np.pi)))
    images = torch.from_numpy(fine_images).float()[:, None]
    clean = fine(images)
    generator = torch.Generator().manual_seed(seed)
    counts = torch.poisson(photons * torch.exp(-MU_MAX * clean.double()), generator=generator)
    counts = torch.where(counts == 0, torch.full_like(counts, 0.1), counts)
    y = (-torch.log(counts / photons) / MU_MAX).float()
    truth = torch.nn.functional.avg_pool2d(images, 2)
    return truth, y


@pytest.fixture(scope="session")
def low_dose():
    """Four 48 x 48 ellipse phantoms, LoDoPaB-like geometry (132 angles, 69 bins), 4096 photons."""
    geometry = recon.Geometry.parallel(image_size=48, num_angles=132, num_detectors=69)
    fine = np.stack([random_ellipses(48, seed) for seed in (1, 2, 3, 4)])
    truth, y = noisy_sinogram(fine, geometry, seed=0)
    return recon.RayTransform(geometry), truth, y
