"""Low-dose CT physics: LoDoPaB-CT's simulation recipe and the HU scale.

Images are on LoDoPaB-CT's *normalised attenuation* scale: a pixel value
``x`` stands for the linear attenuation coefficient ``mu = x * MU_MAX`` in
1/m, so air is about 0.00025, water 0.2458 and the top of the CT window
(3071 HU) is 1. Sinograms in post-log form are on the same scale: line
integrals of ``x`` in metres, i.e. ``-log(I / I0) / MU_MAX``.

Sparse view is a geometry, not an option: build ``A`` on
``geometry.angle_subset(step)`` and :func:`simulate` draws only those angles
(the noise-free data are exactly the matching rows of the full sinogram).

References
----------
J. Leuschner, M. Schmidt, D. O. Baguer, P. Maass, "LoDoPaB-CT, a benchmark
dataset for low-dose computed tomography reconstruction", Scientific Data 8,
109 (2021).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Literal, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from recon.checks import check_finite, check_number
from recon.geometry import Geometry
from recon.operators import RayTransform

__all__ = [
    "MU_WATER",
    "MU_AIR",
    "MU_MAX",
    "LODOPAB_PHOTONS",
    "LODOPAB_FINE_FACTOR",
    "MIN_COUNTS",
    "MAX_PHOTONS",
    "check_photons",
    "hu_to_normalized",
    "normalized_to_hu",
    "fine_geometry",
    "upsample",
    "line_integrals",
    "add_noise",
    "counts_to_post_log",
    "post_log_variance",
    "estimate_photons",
    "simulate",
    "make_generators",
    "per_sample_photons",
]

#: Linear attenuation of water, 1/m (LoDoPaB-CT).
MU_WATER = 20.0
#: Linear attenuation of air, 1/m (LoDoPaB-CT).
MU_AIR = 0.02
#: Attenuation at the top of the 12-bit CT window, 3071 HU, in 1/m:
#: ``mu(HU) = HU * (MU_WATER - MU_AIR) / 1000 + MU_WATER`` at HU = 3071,
#: i.e. 81.35858 /m. Normalised attenuation is ``mu / MU_MAX``.
MU_MAX = 3071 * (MU_WATER - MU_AIR) / 1000 + MU_WATER
#: Photons per detector bin of LoDoPaB-CT's unattenuated beam.
LODOPAB_PHOTONS = 4096
#: LoDoPaB-CT simulated on a 1000 x 1000 grid for its 362 x 362 images.
LODOPAB_FINE_FACTOR = 1000 / 362
#: Zero photon counts are replaced by this value before the logarithm.
MIN_COUNTS = 0.1
#: Largest accepted ``N0``: float32 Poisson draws lose their accuracy beyond about 1e18
#: (and overflow to inf beyond 3.4e38); at 1e15 the noise is far below any real scan's.
MAX_PHOTONS = 1e15

Seed = int | Sequence[int] | torch.Generator | None
ArrayT = TypeVar("ArrayT", np.ndarray, Tensor)
#: ``N0``: one photon count for the batch, or one per sample.
Photons = float | Sequence[float] | Tensor


def per_sample_photons(photons: Photons, batch: int, ndim: int) -> float | Tensor:
    """``photons`` as a float, or as a float64 tensor ``(B, 1, ..., 1)`` of ``ndim`` dimensions.

    Raises ``ValueError`` unless every count is finite, positive and at most
    :data:`MAX_PHOTONS`, and a sequence has one count per sample.
    """
    if isinstance(photons, (int, float, np.integer, np.floating)) and not isinstance(photons, bool):
        return check_photons("photons", photons)
    values = torch.as_tensor(photons, dtype=torch.float64).flatten()
    if len(values) != batch:
        raise ValueError(f"photons: expected one count per sample ({batch}), got {len(values)}")
    for index, value in enumerate(values.tolist()):
        check_photons(f"photons of sample {index}", value)
    return values.view(batch, *([1] * (ndim - 1)))


def check_photons(name: str, photons: float) -> float:
    """``photons`` as a float if it is a finite count in (0, :data:`MAX_PHOTONS`]; else ``ValueError``."""
    return check_number(name, photons, above=0, at_most=MAX_PHOTONS)


def hu_to_normalized(hu: ArrayT, *, clip: bool = True) -> ArrayT:
    """Hounsfield units to LoDoPaB's normalised attenuation.

    Parameters
    ----------
    hu : numpy.ndarray or Tensor, any shape
        CT numbers in HU (air -1000, water 0).
    clip : bool
        Clip to ``[0, 1]`` as LoDoPaB-CT does (HU above 3071 saturate).

    Returns
    -------
    numpy.ndarray or Tensor, same shape
        ``(hu * (MU_WATER - MU_AIR) / 1000 + MU_WATER) / MU_MAX``.

    Examples
    --------
    >>> float(hu_to_normalized(np.array(3071.0)))
    1.0
    """
    x = (hu * ((MU_WATER - MU_AIR) / 1000) + MU_WATER) / MU_MAX
    if not clip:
        return x
    return x.clamp(0, 1) if isinstance(x, Tensor) else np.clip(x, 0, 1)


def normalized_to_hu(x: ArrayT, *, mu_max: float = MU_MAX) -> ArrayT:
    """Inverse of :func:`hu_to_normalized` (without clipping): normalised attenuation to HU.

    Parameters
    ----------
    x : numpy.ndarray or Tensor, any shape
        Normalised attenuation, ``mu / mu_max``.
    mu_max : float
        Attenuation of the value 1, 1/m: LoDoPaB-CT's :data:`MU_MAX` (3071 HU)
        unless the data were simulated with another (a file's ``mu_max``).

    Returns
    -------
    numpy.ndarray or Tensor, same shape
        ``(x * mu_max - MU_WATER) * 1000 / (MU_WATER - MU_AIR)`` in HU.
    """
    return (x * mu_max - MU_WATER) * (1000 / (MU_WATER - MU_AIR))


def fine_geometry(geometry: Geometry, factor: float) -> Geometry:
    """The same acquisition on an image grid ``factor`` times finer.

    Parameters
    ----------
    geometry : Geometry
        A 2D geometry (parallel or fan).
    factor : float
        Grid refinement, ``>= 1``. The fine grid is the nearest one with
        square pixels: ``n * m / g`` pixels along each axis, with ``g`` the
        greatest common divisor of the sizes and ``m = round(factor * g)``;
        for a square ``n x n`` grid that is ``round(n * factor)`` (LoDoPaB:
        ``1000 / 362`` turns 362 into 1000).

    Returns
    -------
    Geometry
        Same domain, angles and detector; finer square pixels.

    Raises
    ------
    ValueError
        If ``factor < 1`` or the geometry is not 2D.
    """
    if geometry.ndim != 2:
        raise ValueError(f"simulation needs a 2D geometry, got a {geometry.kind!r} one")
    check_number("factor", factor, at_least=1)
    g = math.gcd(*geometry.image_shape)
    m = max(g, int(round(factor * g)))
    shape = tuple(n * m // g for n in geometry.image_shape)
    return replace(geometry, image_shape=shape)


def upsample(x: Tensor, shape: tuple[int, int]) -> Tensor:
    """Bilinear up-sampling of images to a finer grid of the same domain.

    Pixel centres are aligned as in ``skimage.transform.resize(order=1)``
    (``align_corners=False``); the border value is repeated outside the grid.

    Parameters
    ----------
    x : Tensor, shape (B, C, nx, ny)
    shape : (int, int)
        Target ``(nx', ny')``.

    Returns
    -------
    Tensor, shape (B, C, nx', ny')
    """
    if tuple(x.shape[-2:]) == tuple(shape):
        return x
    return F.interpolate(x, size=tuple(shape), mode="bilinear", align_corners=False)


def line_integrals(
    x: Tensor,
    A: RayTransform,
    *,
    factor: float = LODOPAB_FINE_FACTOR,
    mu_max: float = MU_MAX,
) -> Tensor:
    """Noise-free line integrals of the attenuation ``mu = x * mu_max``.

    Parameters
    ----------
    x : Tensor, shape (B, C, nx, ny), float32
        Normalised attenuation on ``A.geometry``'s grid, x-first.
    A : RayTransform
        The operator of the reconstruction grid; only its geometry,
        projector and thread count are used (the projection runs on a
        cached operator of the fine grid).
    factor : float
        Project on a grid ``factor`` times finer (bilinear up-sampling), to
        avoid the inverse crime; 1 projects on ``A``'s own grid.
    mu_max : float
        Attenuation of normalised value 1, in 1/m.

    Raises
    ------
    ValueError
        ``factor < 1``, ``mu_max <= 0``, or NaN / inf in ``x`` (counted, the first located).

    Returns
    -------
    Tensor, shape (B, C, num_angles, num_detectors), float32
        Dimensionless ``integral mu dl`` per bin (``exp(-p)`` is the
        transmitted fraction).
    """
    fine = fine_geometry(A.geometry, factor)
    check_number("mu_max", mu_max, above=0)
    A.check_input(x, adjoint=False)
    check_finite(x, "image")
    return _operator(fine, A.projector, A.num_threads)(upsample(x * mu_max, fine.image_shape))


@lru_cache(maxsize=4)
def _operator(geometry: Geometry, projector: str, num_threads: int | None) -> RayTransform:
    """The simulation's projector, kept for the process's lifetime.

    Reused across batches, and never freed while an interrupted batch may
    still be projecting on the thread pool (a Ctrl-C during a projection).
    """
    return RayTransform(geometry, projector=projector, num_threads=num_threads)


def make_generators(seed: Seed, batch: int, device: torch.device) -> list[torch.Generator | None]:
    """One generator per draw: a shared one, or one per sample for a sequence of seeds.

    Parameters
    ----------
    seed : int, sequence of int, torch.Generator or None
        ``None`` uses torch's global generator (``torch.manual_seed``); an int
        seeds one generator for the batch; a sequence gives sample ``b`` its
        own generator seeded with ``seed[b]`` (results then do not depend on
        how samples are batched).
    batch : int
        Batch size ``B``.
    device : torch.device
        Device of the generators.

    Returns
    -------
    list
        ``[g]`` for a shared stream (or ``[None]`` for the global one), or ``B``
        generators.
    """
    if seed is None or isinstance(seed, torch.Generator):
        return [seed]
    if isinstance(seed, (int, np.integer)):
        return [torch.Generator(device=device).manual_seed(int(seed))]
    seeds = [int(s) for s in seed]
    if len(seeds) != batch:
        raise ValueError(f"seed: expected one seed per sample ({batch}), got {len(seeds)}")
    return [torch.Generator(device=device).manual_seed(s) for s in seeds]


def _draw(expected_counts: Tensor, generator: torch.Generator | None, electronic_noise: float) -> Tensor:
    counts = torch.poisson(expected_counts, generator=generator)
    if electronic_noise > 0:
        noise = torch.randn(
            expected_counts.shape, generator=generator, dtype=counts.dtype, device=counts.device
        )
        counts = counts + electronic_noise * noise
    return counts


def add_noise(
    integrals: Tensor,
    *,
    photons: Photons = LODOPAB_PHOTONS,
    seed: Seed = None,
    electronic_noise: float = 0.0,
) -> Tensor:
    """Photon counts of a transmission scan: Poisson, plus optional electronic noise.

    Parameters
    ----------
    integrals : Tensor, shape (B, ...)
        Noise-free ``integral mu dl`` per bin (see :func:`line_integrals`).
    photons : float, sequence of float or Tensor of shape (B,)
        ``N0``, expected photons per bin without an object (the dose), for
        the batch or per sample.
    seed : int, sequence of int, torch.Generator or None
        Source of randomness; see :func:`make_generators`.
    electronic_noise : float
        Standard deviation, in photons, of additive Gaussian detector noise.

    Returns
    -------
    Tensor, same shape, float32
        ``Poisson(N0 exp(-p)) + electronic_noise * N(0, 1)``; raw counts, so
        they may be 0 (and negative with electronic noise).
    """
    photons = per_sample_photons(photons, len(integrals), integrals.dim())
    check_number("electronic_noise", electronic_noise, at_least=0)
    scale = photons if isinstance(photons, float) else photons.to(integrals.device, torch.float32)
    expected = scale * torch.exp(-integrals.detach().float())
    generators = make_generators(seed, len(expected), expected.device)
    if len(generators) == 1:
        return _draw(expected, generators[0], electronic_noise)
    return torch.stack([_draw(e, g, electronic_noise) for e, g in zip(expected, generators)])


def counts_to_post_log(counts: Tensor, *, photons: Photons = LODOPAB_PHOTONS, mu_max: float = MU_MAX) -> Tensor:
    """LoDoPaB's log step: ``-log(max(counts, 0.1) / N0) / mu_max``.

    Counts below :data:`MIN_COUNTS` (zero counts, or non-positive ones with
    electronic noise) become 0.1 first, so the largest value is
    ``log(N0 / 0.1) / mu_max`` (0.1305 for LoDoPaB).

    Parameters
    ----------
    counts : Tensor, shape (B, ...)
        Photon counts per bin.
    photons : float, sequence of float or Tensor of shape (B,)
        ``N0`` of the scan, or of each sample's.
    mu_max : float
        Attenuation of normalised value 1, in 1/m.

    Returns
    -------
    Tensor, same shape, float32
        Post-log sinogram on the normalised attenuation scale (metres).
    """
    photons = per_sample_photons(photons, len(counts), counts.dim())
    photons = photons if isinstance(photons, float) else photons.to(counts.device, counts.dtype)
    counts = torch.where(counts < MIN_COUNTS, torch.full_like(counts, MIN_COUNTS), counts)
    return (-torch.log(counts / photons) / mu_max).float()


def simulate(
    x: Tensor,
    A: RayTransform,
    photons: Photons = LODOPAB_PHOTONS,
    *,
    seed: Seed = None,
    factor: float = LODOPAB_FINE_FACTOR,
    electronic_noise: float = 0.0,
    output: Literal["post-log", "counts"] = "post-log",
    mu_max: float = MU_MAX,
) -> Tensor:
    """Noisy low-dose sinograms by LoDoPaB-CT's recipe.

    Parameters
    ----------
    x : Tensor, shape (B, C, nx, ny), float32
        Ground truth on the normalised attenuation scale ([0, 1]), x-first, on
        ``A.geometry``'s grid. CPU or CUDA.
    A : RayTransform
        Operator of the reconstruction grid; its geometry sets the angles (an
        ``angle_subset`` geometry simulates sparse view) and the detector.
    photons : float, sequence of float or Tensor of shape (B,)
        ``N0``, photons per bin of the unattenuated beam; LoDoPaB: 4096.
        Lower is lower dose. A sequence gives each sample its own dose.
    seed : int, sequence of int, torch.Generator or None
        Source of randomness; the same seed gives the same bytes. A sequence
        gives each sample its own seed (batch-independent); ``None`` uses
        torch's global generator.
    factor : float
        Simulate on a grid ``factor`` times finer than ``A``'s (LoDoPaB:
        1000/362); 1 reuses ``A`` (the "inverse crime").
    electronic_noise : float
        Standard deviation, in photons, of additive Gaussian detector noise
        (LoDoPaB: 0).
    output : {"post-log", "counts"}
        Post-log sinogram on the image's normalised scale, or the raw
        pre-log photon counts.
    mu_max : float
        Attenuation of normalised value 1, in 1/m.

    Returns
    -------
    Tensor, shape (B, C, num_angles, num_detectors), float32
        ``-log(max(counts, 0.1) / N0) / mu_max`` with
        ``counts ~ Poisson(N0 exp(-mu_max * A_fine up(x))) + electronic noise``;
        or ``counts`` itself when ``output="counts"``.

    Notes
    -----
    ``A_fine`` is the ray transform of the same acquisition on the finer grid
    and ``up`` bilinear interpolation, as LoDoPaB-CT did on a 1000 x 1000 grid
    for its 362 x 362 images. Passing the counts of ``output="counts"`` to
    :func:`counts_to_post_log` gives the post-log output of the same seed.

    Examples
    --------
    >>> import torch, recon
    >>> A = recon.RayTransform(recon.Geometry.parallel(image_size=32, num_angles=20, num_detectors=45))
    >>> y = simulate(torch.full((1, 1, 32, 32), 0.2), A, photons=1000, seed=0)
    >>> tuple(y.shape)
    (1, 1, 20, 45)
    """
    if output not in ("post-log", "counts"):
        raise ValueError(f"output: expected 'post-log' or 'counts', got {output!r}")
    integrals = line_integrals(x, A, factor=factor, mu_max=mu_max)
    counts = add_noise(integrals, photons=photons, seed=seed, electronic_noise=electronic_noise)
    if output == "counts":
        return counts
    return counts_to_post_log(counts, photons=photons, mu_max=mu_max)


def post_log_variance(y: Tensor, photons: Photons, *, mu_max: float = MU_MAX) -> Tensor:
    """Variance of each bin of a post-log sinogram: ``exp(mu_max y) / (N0 mu_max^2)``.

    The delta-method variance of ``-log(counts / N0) / mu_max`` for Poisson
    counts of mean ``N0 exp(-mu_max y)``; it holds while the counts are
    well above a few photons.

    Parameters
    ----------
    y : Tensor, shape (B, ...)
        Post-log sinograms on the normalised attenuation scale (metres).
    photons : float, sequence of float or Tensor of shape (B,)
        ``N0``, photons per bin, of the batch or of each sample.
    mu_max : float
        Attenuation of normalised value 1, in 1/m.

    Returns
    -------
    Tensor, same shape and dtype as ``y``
        Squared metres.
    """
    photons = per_sample_photons(photons, len(y), y.dim())
    photons = photons if isinstance(photons, float) else photons.to(y.device, y.dtype)
    return torch.exp(mu_max * y) / (photons * mu_max**2)


#: Third differences along the angles: a high-pass of norm 1 that removes the
#: sinogram's locally quadratic part, so what it passes is mostly noise.
_ANGULAR_HIGH_PASS = (1.0, -3.0, 3.0, -1.0)
#: Median of ``|N(0, 1)|``: a robust standard deviation is MAD / this.
_MAD_TO_SIGMA = 0.6744897501960817


def estimate_photons(y: Tensor, *, mu_max: float = MU_MAX) -> Tensor:
    """``N0`` of each post-log sinogram, estimated from its own noise.

    Each bin's third difference along the angles is divided by the standard
    deviation :func:`post_log_variance` gives it at ``N0 = 1``; the squared
    robust (median absolute) spread of these is ``1 / N0``. The object's
    edges, where the difference is not noise, are outliers to the median.

    Parameters
    ----------
    y : Tensor, shape (B, C, A, D)
        Post-log sinograms (normalised attenuation, metres), at least 4 angles.
    mu_max : float
        Attenuation of normalised value 1, in 1/m.

    Returns
    -------
    Tensor, shape (B,), float64
        Photons per bin of the unattenuated beam.

    Notes
    -----
    Measured on LoDoPaB-style data (fine-grid projection, Poisson noise) at
    128x128 with 360 angles over 180 degrees and 1024 to 65536 photons: within
    1 % of the true ``N0`` in the median, within 5 % for every image of
    recon's validation and test sets. With 60 angles the sinogram changes too
    fast between angles and the estimate is 5 to 15 % low (30 % at 65536
    photons): noise is overestimated.

    Examples
    --------
    >>> import torch, recon
    >>> A = recon.RayTransform(recon.Geometry.parallel(image_size=64, num_angles=180, num_detectors=91))
    >>> y = simulate(torch.full((1, 1, 64, 64), 0.2), A, photons=1000, seed=0)
    >>> 900 < float(estimate_photons(y)) < 1100
    True
    """
    if y.dim() != 4 or y.shape[-2] < len(_ANGULAR_HIGH_PASS):
        raise ValueError(f"y: expected post-log sinograms of shape (B, C, angles >= 4, bins), got {tuple(y.shape)}")
    z = y.double()
    taps = len(_ANGULAR_HIGH_PASS)
    norm = math.sqrt(sum(t * t for t in _ANGULAR_HIGH_PASS))
    length = z.shape[-2] - taps + 1
    difference = sum(t * z[..., k:k + length, :] for k, t in enumerate(_ANGULAR_HIGH_PASS)) / norm
    level = z[..., 1:1 + length, :] + z[..., 2:2 + length, :]
    standardised = difference / torch.sqrt(post_log_variance(level / 2, 1.0, mu_max=mu_max))
    spread = standardised.abs().flatten(1).median(dim=1).values / _MAD_TO_SIGMA
    return 1 / spread**2
