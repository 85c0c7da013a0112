"""Per-image scores of a reconstruction: PSNR, SSIM, data consistency and HU accuracy and noise.

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

HU accuracy and noise
---------------------
In a region of interest, by default the homogeneous soft tissue of each
ground truth (:func:`recon.metrics.soft_tissue_roi`: -100 to 100 HU, eroded
by 2 pixels), ``hu_error`` is ``|mean HU of x - mean HU of gt|`` (bias of the
CT number) and ``hu_noise`` the standard deviation of ``x`` in HU there
(:func:`recon.metrics.roi_hu_stats`). Both are NaN for an image whose region
is empty (no soft tissue).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from recon.metrics import broadcast_roi, psnr, roi_hu_stats, soft_tissue_roi, ssim
from recon.operators import LinearOperator
from recon.physics import post_log_variance

__all__ = ["METRICS", "METRIC_TABLE", "Metric", "data_consistency", "hu_scores", "score"]


@dataclass(frozen=True)
class Metric:
    """What the reports need to know of one benchmark metric.

    Attributes
    ----------
    name : str
        Its column in result rows, CSV and JSON.
    heading : str
        Its table heading, with the unit.
    digits : int
        Decimals in tables.
    higher_is_better : bool or None
        Its direction; None where the best value is in between (data consistency: 1).
    paired_heading : str or None
        The heading of its paired difference learned - classical (with a bootstrap interval in
        the protocols' comparisons and targets); None if it is not compared that way.
    """

    name: str
    heading: str
    digits: int
    higher_is_better: bool | None
    paired_heading: str | None = None


#: Every metric of a result row, in table order: the one place that lists them. Adding one here
#: (and computing it in :func:`score`) puts it in every table, CSV and JSON; benchmark parts
#: saved under another metric set are recomputed, not reused (their resume key holds the names).
METRIC_TABLE: dict[str, Metric] = {metric.name: metric for metric in (
    Metric("psnr", "PSNR (dB)", 2, True, "Δ PSNR, dB"),
    Metric("ssim", "SSIM", 4, True, "Δ SSIM"),
    Metric("data_consistency", "data consistency", 2, None),
    Metric("hu_error", "HU error", 1, False),
    Metric("hu_noise", "HU noise", 1, False),
)}
#: The metric columns of every result row, in table order.
METRICS = tuple(METRIC_TABLE)


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
    variance = post_log_variance(y, photons, mu_max=mu_max)
    return torch.sqrt(torch.mean(residual**2 / variance, dim=(1, 2, 3)))


def hu_scores(x: Tensor, gt: Tensor, *, roi: Tensor | None = None, mu_max: float) -> dict[str, Tensor]:
    """``hu_error`` and ``hu_noise`` per image, in HU (see the module documentation).

    Parameters
    ----------
    x, gt : Tensor, shape (B, 1, nx, ny)
        Reconstructions and ground truths, normalised attenuation.
    roi : Tensor of bool, shape (nx, ny) or (B, 1, nx, ny), optional
        The region; default :func:`recon.metrics.soft_tissue_roi` of ``gt``.
    mu_max : float
        Attenuation of normalised value 1, 1/m.

    Returns
    -------
    dict of str to Tensor, shape (B,), float64
        NaN where the region of an image is empty.
    """
    mask = broadcast_roi(soft_tissue_roi(gt, mu_max=mu_max) if roi is None else roi, gt.shape)
    found = mask.flatten(1).any(dim=1)
    error, noise = (torch.full((len(gt),), math.nan, dtype=torch.float64) for _ in range(2))
    if found.any():
        mean, std = roi_hu_stats(x[found], mask[found], mu_max=mu_max)
        truth, _ = roi_hu_stats(gt[found], mask[found], mu_max=mu_max)
        error[found], noise[found] = (mean - truth).abs()[:, 0], std[:, 0]
    return {"hu_error": error, "hu_noise": noise}


def score(x: Tensor, gt: Tensor, y: Tensor, A: LinearOperator, *, photons: float | None,
          mu_max: float, roi: Tensor | None = None) -> dict[str, Tensor]:
    """Every metric of :data:`METRICS` for a batch, each a float64 tensor of shape (B,).

    PSNR (dB) and SSIM use LoDoPaB-CT's data range ``max(gt) - min(gt)`` per
    image; see :func:`data_consistency` and :func:`hu_scores` (with ``roi``)
    for the others.
    """
    x = x.detach().float().cpu()
    scores = {
        "psnr": psnr(x, gt)[:, 0],
        "ssim": ssim(x, gt)[:, 0],
        "data_consistency": data_consistency(x, y, A, photons=photons, mu_max=mu_max),
        **hu_scores(x, gt, roi=roi, mu_max=mu_max),
    }
    return {name: scores[name] for name in METRICS}
