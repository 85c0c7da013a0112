"""Self-supervised losses on toy problems whose supervised optimum is known.

Each loss is minimised over a small model family and its minimiser compared
with the minimiser of the supervised loss it estimates, on the same data:
SURE against the measurement-domain risk, Noise2Inverse against the loss on
the noise-free subset reconstructions, Equivariant Imaging against exact
recovery of band-limited images behind a mask that plain measurement
consistency cannot invert.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from recon import Geometry, RayTransform
from recon.algorithms import fbp
from recon.data.phantoms import random_ellipses
from recon.models import build_model
from recon.operators import LinearOperator
from recon.physics import post_log_variance
from recon.training.losses import (
    EquivariantImaging,
    Noise2Inverse,
    SureLoss,
    post_log_noise_variance,
    random_rotation,
    self_supervised_loss,
)

#: A dose low enough that smoothing pays in the measurement domain too (the noise is Gaussian by construction).
PHOTONS = 16.0


def noisy_batch(geometry: Geometry, count: int, seed: int = 0, photons: float = PHOTONS):
    """Ellipse images, their clean sinograms, Gaussian noisy sinograms of post-log variance and that variance."""
    images = torch.from_numpy(np.stack([random_ellipses(geometry.image_shape, seed=(seed, i))
                                        for i in range(count)]))[:, None]
    clean = RayTransform(geometry, cpu_backend="sparse")(images)
    variance = post_log_variance(clean, photons)
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(seed))
    return images, clean, clean + variance.sqrt() * noise, variance


class Mixture(nn.Module):
    """``theta * fbp_ramlak(y) + (1 - theta) * fbp_hann_0.3(y)``: sharp and noisy against smooth."""

    def __init__(self, operator: RayTransform, theta: float) -> None:
        super().__init__()
        self.operator, self.theta = operator, theta

    def forward(self, y):
        sharp = fbp(y, self.operator, filter="ram-lak", frequency_scaling=1.0)
        smooth = fbp(y, self.operator, filter="hann", frequency_scaling=0.3)
        return self.theta * sharp + (1 - self.theta) * smooth


def parabola_minimum(thetas, values) -> float:
    """The minimiser of the parabola through three (theta, value) points."""
    a, b, _ = np.polyfit(thetas, values, 2)
    return -b / (2 * a)


@pytest.mark.parametrize(("weighting", "tolerance", "risk_tolerance"),
                         [("inverse-variance", 0.01, 0.05), ("none", 0.05, 0.25)])
def test_sure_has_the_minimiser_of_the_measurement_domain_risk(weighting, tolerance, risk_tolerance):
    geometry = Geometry.parallel(image_size=24, num_angles=30, num_detectors=35)
    A = RayTransform(geometry, cpu_backend="sparse")
    _, clean, y, variance = noisy_batch(geometry, 32)
    loss = SureLoss(A, variance=lambda _: variance, weighting=weighting)
    weight = 1 / variance if weighting == "inverse-variance" else torch.ones_like(variance)
    thetas = [0.0, 0.5, 1.0]
    sure, risk = [], []
    for theta in thetas:
        model = Mixture(A, theta)
        with torch.no_grad():
            sure.append(float(loss(model, y, torch.Generator().manual_seed(1))))
            risk.append(float((weight * (A(model(y)) - clean) ** 2).sum() / y.numel()))
    best_sure, best_risk = parabola_minimum(thetas, sure), parabola_minimum(thetas, risk)
    assert 0.05 < best_risk < 0.95  # a real trade-off between the two filters
    assert abs(best_sure - best_risk) < tolerance  # measured: 0.0003 and 0.035 (one probe per bin)
    assert np.allclose(sure, risk, rtol=risk_tolerance)  # the risk itself (measured: 1-2 % and 4-15 %)


def test_sure_reads_lodopab_noise_from_the_sinogram_when_not_told():
    geometry = Geometry.parallel(image_size=24, num_angles=60, num_detectors=35)
    _, _, y, variance = noisy_batch(geometry, 4, photons=4096.0)
    estimated = post_log_noise_variance(y)
    assert torch.allclose(estimated.mean(), variance.mean(), rtol=0.1)
    assert torch.allclose(post_log_noise_variance(y, 4096.0), post_log_variance(y, 4096.0))


class LinearDenoiser(nn.Module):
    """``denoise(u) = a u + b blur(u)`` (a 3x3 box blur): the family Noise2Inverse fits here."""

    def __init__(self, a: float = 1.0, b: float = 0.0) -> None:
        super().__init__()
        self.a, self.b = a, b

    @staticmethod
    def features(u):
        return torch.stack([u, nn.functional.avg_pool2d(u, 3, stride=1, padding=1, count_include_pad=False)])

    def denoise(self, u):
        first, second = self.features(u)
        return self.a * first + self.b * second


def least_squares(inputs, targets):
    features = LinearDenoiser.features(inputs).flatten(1).T
    return torch.linalg.lstsq(features.double(), targets.flatten()[:, None].double()).solution.ravel()


def test_noise2inverse_has_the_minimiser_of_the_loss_on_noise_free_subset_reconstructions():
    geometry = Geometry.parallel(image_size=24, num_angles=64, num_detectors=35)
    _, clean, y, _ = noisy_batch(geometry, 96, photons=256.0)
    loss = Noise2Inverse(geometry, subsets=4)
    inputs, targets = loss.pairs(y, torch.Generator().manual_seed(3))
    clean_targets = loss.pairs(clean, torch.Generator().manual_seed(3))[1]  # the same held-out subsets
    self_supervised = least_squares(inputs, targets)
    supervised = least_squares(inputs, clean_targets)

    def supervised_risk(coefficients) -> float:
        return float(torch.mean((LinearDenoiser(*map(float, coefficients)).denoise(inputs) - clean_targets) ** 2))

    assert torch.allclose(self_supervised, supervised, atol=0.02)  # measured: 0.007
    assert supervised_risk(self_supervised) < 1.01 * supervised_risk(supervised)  # measured: +0.02 %
    assert supervised_risk((1.0, 0.0)) > 1.05 * supervised_risk(supervised)  # the optimum denoises (by 8 %)
    model = LinearDenoiser(*map(float, self_supervised))
    direct = torch.mean((model.denoise(inputs) - targets) ** 2)
    assert torch.allclose(loss(model, y, torch.Generator().manual_seed(3)), direct)


def test_noise2inverse_inputs_are_the_other_subsets_and_refuse_bad_splits():
    geometry = Geometry.parallel(image_size=16, num_angles=12, num_detectors=23)
    y = torch.rand(2, 1, 12, 23)
    loss = Noise2Inverse(geometry, subsets=3, cpu_backend="threads")
    parts = loss.split(y)
    inputs, targets = loss.pairs(y, torch.Generator().manual_seed(0))
    for image in range(2):
        held_out = [k for k in range(3) if torch.equal(parts[k, image], targets[image])]
        assert len(held_out) == 1
        others = [k for k in range(3) if k != held_out[0]]
        assert torch.allclose(inputs[image], parts[others].mean(dim=0)[image], atol=1e-6)
    reference = fbp(y[:, :, 1::3].contiguous(), RayTransform(geometry.angle_subset(3, 1)))
    assert torch.allclose(parts[1], reference, atol=1e-6)
    with pytest.raises(ValueError, match="divisor of the geometry's 12 angles, got 5"):
        Noise2Inverse(geometry, subsets=5)
    with pytest.raises(ValueError, match="integer >= 2, got 1"):
        Noise2Inverse(geometry, subsets=1)


class Mask(LinearOperator):
    """Keeps a fixed set of pixels of ``(B, 1, n, n)`` images: ``(B, 1, kept)``."""

    def __init__(self, n: int, kept: torch.Tensor) -> None:
        super().__init__()
        self.n, self.kept = n, kept
        self.domain_shape, self.range_shape = (n, n), (len(kept),)

    def forward(self, x):
        return x.flatten(2)[..., self.kept]

    def adjoint(self, y):
        x = y.new_zeros((*y.shape[:2], self.n * self.n))
        x[..., self.kept] = y
        return x.view(*y.shape[:2], self.n, self.n)


class LinearInverse(nn.Module):
    """``f(y) = B y``: any linear reconstruction of the masked pixels."""

    def __init__(self, n: int, kept: int) -> None:
        super().__init__()
        self.n = n
        self.matrix = nn.Linear(kept, n * n, bias=False)

    def forward(self, y):
        return self.matrix(y).view(*y.shape[:2], self.n, self.n)


def band_limited(count: int, n: int, generator) -> torch.Tensor:
    """Real images with only the DFT frequencies |k| <= 1 along each axis: a shift-invariant 9-dimensional set."""
    spectrum = torch.zeros(count, 1, n, n, dtype=torch.complex64)
    for kx in (-1, 0, 1):
        for ky in (-1, 0, 1):
            spectrum[..., kx % n, ky % n] = torch.randn(count, 1, dtype=torch.complex64, generator=generator)
    return torch.fft.ifft2(spectrum).real * n


def random_shift(images, generator):
    shifts = torch.randint(images.shape[-1], (2,), generator=generator)
    return torch.roll(images, shifts=(int(shifts[0]), int(shifts[1])), dims=(-2, -1))


def train_on_masked(weight: float, steps: int = 600) -> float:
    """Relative error on new images of a linear model trained by EI (``weight`` of the equivariance term)."""
    torch.manual_seed(0)
    n, generator = 8, torch.Generator().manual_seed(0)
    kept = torch.randperm(n * n, generator=generator)[:28]
    A, model = Mask(n, kept), LinearInverse(n, 28)
    loss = EquivariantImaging(A, weight=weight, transform=random_shift)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(steps):
        y = A(band_limited(16, n, generator))
        optimiser.zero_grad()
        loss(model, y, generator).backward()
        optimiser.step()
    test = band_limited(64, n, torch.Generator().manual_seed(1))
    with torch.no_grad():
        return float(torch.linalg.vector_norm(model(A(test)) - test) / torch.linalg.vector_norm(test))


def test_equivariant_imaging_recovers_what_the_mask_hides_and_consistency_alone_does_not():
    # The supervised optimum is exact recovery: a generic mask of 28 pixels is injective on the 9-dimensional set.
    assert train_on_masked(weight=1.0) < 1e-3  # measured: 6e-7
    assert train_on_masked(weight=0.0) > 0.3  # measured: 0.87


def test_equivariant_imaging_trains_an_unrolled_model_on_rotations():
    geometry = Geometry.parallel(image_size=16, num_angles=12, num_detectors=23)
    model = build_model("lpd", geometry=geometry, iterations=2, hidden_channels=4, cpu_backend="threads")
    _, _, y, _ = noisy_batch(geometry, 2)
    for data_term in ("mc", "sure"):
        loss = self_supervised_loss("ei", model, data_term=data_term)
        value = loss(model, y.float(), torch.Generator().manual_seed(0))
        value.backward()
        assert value.ndim == 0 and torch.isfinite(value)
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
        model.zero_grad()


def test_random_rotation_is_seeded_and_keeps_the_central_disc_of_a_radial_image():
    grid = torch.linspace(-1, 1, 33)
    radius = torch.sqrt(grid[:, None] ** 2 + grid[None, :] ** 2)
    image = torch.exp(-4 * radius**2)[None, None].repeat(3, 1, 1, 1)
    first = random_rotation(image, torch.Generator().manual_seed(5))
    assert torch.equal(first, random_rotation(image, torch.Generator().manual_seed(5)))
    inside = radius < 0.9
    assert torch.allclose(first[..., inside], image[..., inside], atol=0.02)


def test_the_losses_are_built_by_name_and_refuse_what_does_not_fit():
    geometry = Geometry.parallel(image_size=16, num_angles=12, num_detectors=23)
    lpd = build_model("lpd", geometry=geometry, iterations=1, hidden_channels=4)
    unet = build_model("fbpconvnet", geometry=geometry, scales=2, channels=4)
    assert isinstance(self_supervised_loss("noise2inverse", unet, subsets=3), Noise2Inverse)
    assert isinstance(self_supervised_loss("sure", lpd), SureLoss)
    with pytest.raises(ValueError, match="noise2inverse trains a post-processing model"):
        self_supervised_loss("noise2inverse", lpd)
    with pytest.raises(ValueError, match="without ground truths, got 'mse'"):
        self_supervised_loss("mse", lpd)
    with pytest.raises(ValueError, match="weighting: expected"):
        SureLoss(lpd.operator, weighting="poisson")
    with pytest.raises(ValueError, match="data_term: expected"):
        EquivariantImaging(lpd.operator, data_term="l1")
