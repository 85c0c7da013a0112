"""Deep Image Prior with total variation: a per-image reconstruction by an untrained U-Net.

For each sinogram a U-Net ``f`` with a fixed random input ``z`` is fitted so
that ``x = f(z)`` minimises TV's own objective (:func:`recon.algorithms.tv`):
``1/2 sum_i w_i (A x - y)_i^2 + lambda TV(x)``, with TV's default data term
and weight for the sinogram's noise level (no ground truth, nothing tuned on
test images). The network's architecture is the prior (Ulyanov, Vedaldi &
Lempitsky, CVPR 2018); DIP + TV is the unsupervised baseline of the LoDoPaB-CT
challenge (Baguer, Leuschner & Schmidt, Inverse Problems 36, 2020: 34.41 dB).

Fitting stops early by the discrepancy principle: at the first iteration whose
noise-normalised residual ``mean((A x - y)^2 / sigma^2)`` is at most
``discrepancy`` (1: at the noise level), ``sigma^2`` LoDoPaB-CT's post-log
variance at the sinogram's estimated ``N0``; else after ``iterations``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from recon.algorithms.common import check_sinogram
from recon.algorithms.tv import default_objective, gradient, noise_photons
from recon.models.fbpconvnet import UNet
from recon.operators import RayTransform
from recon.physics import MU_MAX, post_log_variance

__all__ = ["dip_tv"]

#: Channels of the random input ``z``.
INPUT_CHANNELS = 8


def _total_variation(x: Tensor) -> Tensor:
    """Isotropic TV of images ``(1, 1, nx, ny)``, as :func:`recon.algorithms.tv` defines it (a scalar)."""
    g = gradient(x)
    return torch.hypot(g[:, :, 0], g[:, :, 1]).sum()


def _fit_one(y: Tensor, A: RayTransform, *, photons: float | None, iterations: int, learning_rate: float,
             scales: int, channels: int, seed: int, discrepancy: float) -> Tensor:
    """DIP + TV of one sinogram ``(1, 1, A, D)``: the image ``(1, 1, nx, ny)``."""
    n0 = float(noise_photons(y, photons)[0])
    term, weight = default_objective(y, photons=n0)
    data_weight = torch.exp(-MU_MAX * y) if term == "wls" else torch.ones_like(y)
    weight = float(weight[0])
    variance = post_log_variance(y, n0)
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = UNet(INPUT_CHANNELS, 1, scales=scales, channels=channels, max_channels=256,
                       batch_norm=False).to(y.device)
    z = 0.1 * torch.rand((1, INPUT_CHANNELS, *A.geometry.image_shape), generator=generator).to(y.device)
    optimiser = torch.optim.Adam(network.parameters(), lr=learning_rate)
    with torch.enable_grad():
        for done in range(1, iterations + 1):
            x = network(z)
            residual = A(x) - y
            loss = 0.5 * (data_weight * residual**2).sum() + weight * _total_variation(x)
            if not torch.isfinite(loss):
                raise ValueError(f"dip-tv: the objective became {loss.item()} at iteration {done}; "
                                 "lower learning_rate")
            if float((residual.detach() ** 2 / variance).mean()) <= discrepancy:
                break
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    with torch.no_grad():
        return network(z)


def dip_tv(y: Tensor, A: RayTransform, *, iterations: int = 2000, learning_rate: float = 1e-3, scales: int = 4,
           channels: int = 16, seed: int = 0, discrepancy: float = 1.0, photons: float | None = None) -> Tensor:
    """Deep Image Prior + TV reconstruction of each sinogram of a batch.

    Parameters
    ----------
    y : Tensor, shape (B, 1, A, D), float32
        Post-log sinograms on LoDoPaB-CT's scale.
    A : RayTransform
        Their ray transform.
    iterations : int
        Adam steps per image at most (each: one U-Net forward and backward,
        one ``A`` and one ``A^T``). DIP converges slowly from its random
        start: on 20x20 ellipse images at 4096 photons 600 steps at a
        learning rate of 3e-3 gave FBP + 4.7 dB but still 3.5-4 dB below TV.
    learning_rate : float
        Adam's (1e-2 diverged in that pilot).
    scales, channels : int
        The U-Net (:class:`recon.models.fbpconvnet.UNet`, no batch norm).
    seed : int
        Seeds the network's weights and its input, the same for every image.
    discrepancy : float
        Stop once the noise-normalised mean squared residual is at most this.
    photons : float, optional
        ``N0``; default estimated from each sinogram.

    Returns
    -------
    Tensor, shape (B, 1, nx, ny)
        Normalised attenuation.
    """
    check_sinogram(y, A)
    for name, value, low in (("iterations", iterations, 1), ("scales", scales, 1), ("channels", channels, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
    for name, value in (("learning_rate", learning_rate), ("discrepancy", discrepancy)):
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name}: expected a positive number, got {value!r}")
    images = [_fit_one(y[i:i + 1], A, photons=photons, iterations=iterations, learning_rate=learning_rate,
                       scales=scales, channels=channels, seed=seed, discrepancy=discrepancy)
              for i in range(len(y))]
    return torch.cat(images)
