"""Per-image scores of a reconstruction: PSNR, SSIM and data consistency.

Data consistency
----------------
How well a reconstruction ``x`` explains its measured post-log sinogram ``y``,
in units of the measurement noise:

.. math:: \\mathrm{DC}(x) = \\sqrt{\\frac{1}{M} \\sum_{i=1}^{M}
          \\frac{\\left((A x)_i - y_i\\right)^2}{\\sigma_i^2}},
          \\qquad \\sigma_i^2 = \\frac{e^{\\mu_{max} y_i}}{N_0\\,\\mu_{max}^2},

the root-mean-square residual over the ``M`` bins, each divided by the
standard deviation of the noise of that bin. ``sigma_i`` is the delta-method
standard deviation of ``y = -log(n / N_0) / mu_max`` for Poisson counts
``n`` with mean ``N_0 exp(-mu_max y)`` (estimated from the measured ``y``).
``DC ≈ 1``: the residual is at the noise level; ``DC > 1``: the image does
not explain the data (over-smoothed, or biased); ``DC < 1``: it fits the noise.
The ground truth itself scores slightly above 1 on data simulated on a finer
grid than the reconstruction's (LoDoPaB's recipe), because of that model error.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from recon.metrics import psnr, ssim
from recon.operators import LinearOperator

__all__ = ["METRICS", "data_consistency", "score"]

#: Metric columns of every result row, in table order.
METRICS = ("psnr", "ssim", "data_consistency")


def data_consistency(x: Tensor, y: Tensor, A: LinearOperator, *, photons: float | None,
                     mu_max: float) -> Tensor:
    """Noise-normalised RMS residual ``DC(x)`` per image (see the module documentation).

    Parameters
    ----------
    x : Tensor, shape (B, 1, nx, ny)
        Reconstructions, normalised attenuation.
    y : Tensor, shape (B, 1, A, D)
        Their post-log sinograms (line integrals of the normalised attenuation).
    A : LinearOperator
        The ray transform of ``y``'s geometry.
    photons : float or None
        ``N_0``, photons per bin; None gives NaN (noise level unknown).
    mu_max : float
        Attenuation of normalised value 1, 1/m.

    Returns
    -------
    Tensor, shape (B,), float64
        Dimensionless; about 1 at the noise level.
    """
    if photons is None:
        return torch.full((x.shape[0],), math.nan, dtype=torch.float64)
    y = y.double()
    residual = A(x.float()).double() - y
    variance = torch.exp(mu_max * y) / (photons * mu_max**2)
    return torch.sqrt(torch.mean(residual**2 / variance, dim=(1, 2, 3)))


def score(x: Tensor, gt: Tensor, y: Tensor, A: LinearOperator, *, photons: float | None,
          mu_max: float) -> dict[str, Tensor]:
    """Every metric of :data:`METRICS` for a batch, each a float64 tensor of shape (B,).

    PSNR (dB) and SSIM use LoDoPaB-CT's data range ``max(gt) - min(gt)`` per
    image; see :func:`data_consistency` for the last.
    """
    x = x.detach().float().cpu()
    return {
        "psnr": psnr(x, gt)[:, 0],
        "ssim": ssim(x, gt)[:, 0],
        "data_consistency": data_consistency(x, y, A, photons=photons, mu_max=mu_max),
    }
