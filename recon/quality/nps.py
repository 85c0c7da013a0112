"""Noise power spectrum from repeated noise realisations: 2D NPS, radial average, noise magnitude, frequencies.

The ensemble mean of the realisations is removed pixel by pixel (so the
phantom's structure and the method's bias drop out, and no detrending is
needed), square ROIs are cut from what is left, and the NPS is the mean
periodogram ``|DFT(roi)|^2 dx dy / (Nx Ny)``, scaled by ``R / (R - 1)`` for
the degree of freedom the ensemble mean takes from ``R`` realisations. By
Parseval its integral over the frequency plane is the pixel variance.

References
----------
E. Samei et al., "Performance evaluation of computed tomography systems: the
report of AAPM Task Group 233", Med. Phys. 46(11), 2019 (NPS, noise
magnitude, peak and average frequency).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from recon.geometry import Geometry
from recon.physics import MU_MAX, normalized_to_hu
from recon.quality.roi import crop_squares, pixel_size_mm

__all__ = ["NoisePowerSpectrum", "noise_power_spectrum", "radial_average"]

#: Line pairs per centimetre in one cycle per millimetre.
LP_CM_PER_CYCLE_MM = 10.0


@dataclass(frozen=True)
class NoisePowerSpectrum:
    """The NPS of ``C`` sets of realisations (one per channel of the images).

    Attributes
    ----------
    nps : Tensor, shape (C, N, N), float64
        2D NPS in HU² mm², zero frequency at index ``(N // 2, N // 2)`` (``torch.fft.fftshift``).
    frequency : Tensor, shape (N,), float64
        Frequencies of either axis of ``nps``, cycles per mm; the grid step is ``1 / (N dx)``.
    radial_frequency : Tensor, shape (K,), float64
        Centres of the radial bins, lp/cm: ``0, 1, ..., N // 2`` grid steps.
    radial : Tensor, shape (C, K), float64
        Radial average of ``nps`` (HU² mm²): the mean over the frequencies whose
        magnitude rounds to each bin.
    noise : Tensor, shape (C,), float64
        Noise magnitude, HU: the square root of the integral of ``nps`` (the pixel standard deviation).
    peak_frequency : Tensor, shape (C,), float64
        Where ``radial`` is largest, lp/cm.
    mean_frequency : Tensor, shape (C,), float64
        ``sum(f radial(f)) / sum(radial(f))`` over the bins, lp/cm (TG-233's average frequency).
    """

    nps: Tensor
    frequency: Tensor
    radial_frequency: Tensor
    radial: Tensor
    noise: Tensor
    peak_frequency: Tensor
    mean_frequency: Tensor


def radial_average(spectrum: Tensor, step: float) -> tuple[Tensor, Tensor]:
    """Mean of a centred square spectrum over rings of one grid step.

    Parameters
    ----------
    spectrum : Tensor, shape (..., N, N)
        Zero frequency at ``(N // 2, N // 2)``.
    step : float
        Frequency step of the grid, any unit.

    Returns
    -------
    radius : Tensor, shape (N // 2 + 1,), float64
        Ring centres ``k * step``, in the unit of ``step``.
    mean : Tensor, shape (..., N // 2 + 1), float64
        Mean of the frequencies ``f`` with ``round(|f| / step) == k``.
    """
    size = spectrum.shape[-1]
    offsets = torch.arange(size, dtype=torch.float64) - size // 2
    rings = torch.hypot(offsets[:, None], offsets[None, :]).round().long().flatten()
    keep = rings <= size // 2
    values = spectrum.double().flatten(-2)[..., keep]
    sums = torch.zeros(*values.shape[:-1], size // 2 + 1, dtype=torch.float64).index_add_(-1, rings[keep], values)
    counts = torch.bincount(rings[keep], minlength=size // 2 + 1)
    return torch.arange(size // 2 + 1, dtype=torch.float64) * step, sums / counts


def noise_power_spectrum(images: Tensor, geometry: Geometry, *, size: int = 32,
                         centres: tuple[tuple[float, float], ...] = ((0.0, 0.0),),
                         mu_max: float = MU_MAX) -> NoisePowerSpectrum:
    """The NPS of repeated reconstructions of one object.

    Parameters
    ----------
    images : Tensor, shape (R, C, nx, ny)
        ``R >= 2`` independent noise realisations (normalised attenuation,
        x-first, on ``geometry``'s grid); each channel is its own set (e.g. one
        method per channel).
    geometry : Geometry
        The images' 2D grid (pixel size, field).
    size : int
        Side of the square ROIs, pixels.
    centres : tuple of (float, float)
        Centres of the ROIs, mm; every ROI of every realisation is averaged.
    mu_max : float
        Attenuation of normalised value 1, 1/m.

    Returns
    -------
    NoisePowerSpectrum

    Raises
    ------
    ValueError
        Fewer than 2 realisations, or an ROI leaving the image field.

    Examples
    --------
    >>> import recon
    >>> from recon.physics import hu_to_normalized
    >>> g = recon.Geometry.parallel(image_size=64)
    >>> noise = 10 * torch.randn(8, 1, 64, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> result = noise_power_spectrum(hu_to_normalized(noise, clip=False), g, size=32)
    >>> round(float(result.noise[0]))
    10
    """
    if not isinstance(images, Tensor) or images.dim() != 4 or len(images) < 2:
        raise ValueError(f"images: expected a tensor (R, C, nx, ny) of R >= 2 realisations, got "
                         f"{tuple(getattr(images, 'shape', ())) or type(images).__name__}")
    realisations = len(images)
    hu = normalized_to_hu(images.double(), mu_max=mu_max)
    rois = crop_squares(hu - hu.mean(dim=0, keepdim=True), geometry, centres, size)
    pixel = pixel_size_mm(geometry)
    periodogram = torch.fft.fft2(rois).abs() ** 2 * (pixel**2 / size**2)
    nps = torch.fft.fftshift(periodogram.mean(dim=(0, 2)), dim=(-2, -1)) * (realisations / (realisations - 1))
    step = 1 / (size * pixel)
    frequency = (torch.arange(size, dtype=torch.float64) - size // 2) * step
    radial_frequency, radial = radial_average(nps, step * LP_CM_PER_CYCLE_MM)
    return NoisePowerSpectrum(
        nps=nps,
        frequency=frequency,
        radial_frequency=radial_frequency,
        radial=radial,
        noise=torch.sqrt(nps.sum(dim=(-2, -1)) * step**2),
        peak_frequency=radial_frequency[radial.argmax(dim=-1)],
        mean_frequency=(radial * radial_frequency).sum(dim=-1) / radial.sum(dim=-1),
    )
