"""Task transfer function from a circular insert: radial edge-spread function, line-spread function, |FFT|.

The distances of the pixel centres from the insert's known centre are binned
finely (a tenth of a pixel by default: the pixels around a circle sample the
edge at every sub-pixel offset), the mean HU of each bin is the radial
edge-spread function (ESF), its derivative the line-spread function (LSF),
and the modulus of the LSF's Fourier transform, normalised at zero frequency,
the task transfer function (TTF): the MTF of a possibly non-linear method
for that task's contrast and location.

Noise enters the LSF through the derivative: measure the mean of many noise
realisations (or a noise-free reconstruction), as TG-233 does.

References
----------
S. Richard, D. B. Husarik, G. Yadava, S. N. Murphy, E. Samei, "Towards
task-based assessment of CT performance: system and object MTF across
different reconstruction algorithms", Med. Phys. 39(7), 2012.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from recon.geometry import Geometry
from recon.physics import MU_MAX, normalized_to_hu
from recon.quality.nps import LP_CM_PER_CYCLE_MM
from recon.quality.roi import Insert, check_images, check_inside, pixel_coordinates, pixel_size_mm

__all__ = ["TaskTransferFunction", "crossing", "task_transfer_function"]


@dataclass(frozen=True)
class TaskTransferFunction:
    """The TTF of one insert in a batch of images.

    Attributes
    ----------
    insert : Insert
    radius : Tensor, shape (L,), float64
        Centres of the distance bins, mm from the insert's centre.
    esf : Tensor, shape (B, C, L), float64
        Mean HU at each distance (empty bins interpolated linearly).
    lsf : Tensor, shape (B, C, L), float64
        ``d esf / d radius``, HU per mm.
    frequency : Tensor, shape (K,), float64
        lp/cm, from 0 to the images' Nyquist frequency ``1 / (2 dx)``.
    ttf : Tensor, shape (B, C, K), float64
        ``|F lsf| / |F lsf (0)|``; 1 at zero frequency.
    contrast : Tensor, shape (B, C), float64
        The ESF's first bin minus its last, HU (the insert against its background).
    f50, f10 : Tensor, shape (B, C), float64
        Where the TTF first falls to 0.5 and to 0.1, lp/cm (linear between
        samples); NaN where it stays above.
    """

    insert: Insert
    radius: Tensor
    esf: Tensor
    lsf: Tensor
    frequency: Tensor
    ttf: Tensor
    contrast: Tensor
    f50: Tensor
    f10: Tensor


def crossing(curve: Tensor, frequency: Tensor, level: float) -> Tensor:
    """Where each ``curve`` (shape ``(..., K)``) first falls below ``level``, linear between samples; NaN if never."""
    below = curve < level
    first = torch.where(below.any(dim=-1), below.double().argmax(dim=-1), torch.zeros_like(below[..., 0], dtype=int))
    previous = (first - 1).clamp(min=0)
    high, low = curve.gather(-1, previous[..., None])[..., 0], curve.gather(-1, first[..., None])[..., 0]
    share = torch.where(high > low, (high - level) / (high - low), torch.zeros_like(high))
    found = frequency[previous] + share * (frequency[first] - frequency[previous])
    return torch.where(below.any(dim=-1) & (first > 0), found, torch.full_like(found, math.nan))


def task_transfer_function(images: Tensor, geometry: Geometry, insert: Insert, *, background: Tensor | None = None,
                           reach: float = 2.0, bin_width: float = 0.1, mu_max: float = MU_MAX) -> TaskTransferFunction:
    """The TTF of a circular insert of known centre.

    Parameters
    ----------
    images : Tensor, shape (B, C, nx, ny)
        Mean images of many noise realisations, or noise-free ones
        (normalised attenuation on ``geometry``'s grid).
    geometry : Geometry
    insert : Insert
        The disc: its centre and radius, mm.
    background : Tensor, shape (1 or B, C, nx, ny), optional
        The same reconstruction of the phantom without the insert (e.g. of
        :func:`recon.data.qa.water_cylinder`), subtracted first: removes the
        method's deterministic artefacts (streaks, rings of a few HU) that
        swamp the edge of a low-contrast insert. Exact for a linear method
        (FBP); for a non-linear one it measures the insert's difference image.
    reach : float
        The ESF runs from the centre to ``reach * insert.radius``; ``> 1``.
    bin_width : float
        Width of the distance bins, pixels.
    mu_max : float
        Attenuation of normalised value 1, 1/m.

    Returns
    -------
    TaskTransferFunction

    Raises
    ------
    ValueError
        The region of ``reach`` radii leaving the image field, ``reach <= 1`` or ``bin_width`` outside (0, 1].
    """
    if not reach > 1 or not 0 < bin_width <= 1:
        raise ValueError(f"expected reach > 1 and bin_width in (0, 1] pixels, got {reach!r} and {bin_width!r}")
    extent = reach * insert.radius
    check_inside(geometry, f"TTF region of insert {insert.name!r}", insert.x, insert.y, extent)
    check_images(images, geometry)
    pixel = pixel_size_mm(geometry)
    step = bin_width * pixel
    x, y = pixel_coordinates(geometry)
    distance = torch.hypot(x - insert.x, y - insert.y).flatten()
    selected = distance < extent
    bins = (distance[selected] / step).long()
    length = math.ceil(extent / step)
    hu = normalized_to_hu(images.double(), mu_max=mu_max)
    if background is not None:
        check_images(background, geometry)
        hu = hu - normalized_to_hu(background.double(), mu_max=mu_max)
    hu = hu.flatten(2)[..., selected]
    sums = torch.zeros(*hu.shape[:2], length, dtype=torch.float64).index_add_(-1, bins, hu)
    counts = torch.bincount(bins, minlength=length)
    filled = counts > 0
    # each bin's mean HU stands at its pixels' mean distance, not at the bin's centre: no jitter of up to half a bin
    where = (torch.zeros(length, dtype=torch.float64).index_add_(0, bins, distance[selected]) / counts)[filled]
    radius = (torch.arange(length, dtype=torch.float64) + 0.5) * step
    means = (sums[..., filled] / counts[filled]).flatten(0, 1).numpy()
    esf = torch.from_numpy(np.stack([np.interp(radius.numpy(), where.numpy(), row) for row in means]))
    esf = esf.reshape(sums.shape)
    lsf = torch.gradient(esf, spacing=step, dim=-1)[0]
    size = 1 << max(math.ceil(math.log2(8 * length)), 0)
    spectrum = torch.fft.rfft(lsf, n=size).abs()
    frequency = torch.arange(spectrum.shape[-1], dtype=torch.float64) / (size * step)
    keep = frequency <= 1 / (2 * pixel) + 1e-12
    frequency = frequency[keep] * LP_CM_PER_CYCLE_MM
    ttf = spectrum[..., keep] / spectrum[..., :1]
    return TaskTransferFunction(insert=insert, radius=radius, esf=esf, lsf=lsf, frequency=frequency, ttf=ttf,
                                contrast=esf[..., 0] - esf[..., -1], f50=crossing(ttf, frequency, 0.5),
                                f10=crossing(ttf, frequency, 0.1))
