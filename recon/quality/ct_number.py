"""CT-number accuracy and uniformity: mean, error against the nominal value and noise in each insert.

Each insert is measured in a concentric disc of ``fraction`` of its radius
(pixels whose centres lie inside), away from its blurred edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from recon.geometry import Geometry
from recon.metrics import roi_hu_stats
from recon.physics import MU_MAX
from recon.quality.roi import Insert, disc_mask

__all__ = ["CTNumbers", "ct_numbers", "uniformity", "uniformity_regions"]


@dataclass(frozen=True)
class CTNumbers:
    """CT numbers of ``K`` inserts in a batch of images.

    Attributes
    ----------
    inserts : tuple of Insert
        The ``K`` inserts, in order.
    mean : Tensor, shape (B, C, K), float64
        Mean HU in each insert's region.
    error : Tensor, shape (B, C, K), float64
        ``mean`` minus the insert's nominal HU.
    std : Tensor, shape (B, C, K), float64
        Standard deviation of the region's pixels, HU (population, ``ddof=0``).
    """

    inserts: tuple[Insert, ...]
    mean: Tensor
    error: Tensor
    std: Tensor


def ct_numbers(images: Tensor, geometry: Geometry, inserts: tuple[Insert, ...], *, fraction: float = 0.6,
               mu_max: float = MU_MAX) -> CTNumbers:
    """Mean, error and standard deviation in HU of each insert.

    Parameters
    ----------
    images : Tensor, shape (B, C, nx, ny)
        Normalised attenuation, x-first, on ``geometry``'s grid.
    geometry : Geometry
        The images' 2D grid.
    inserts : tuple of Insert
        Where to measure and the nominal CT numbers (e.g. ``QAPhantom.inserts``).
    fraction : float
        Radius of each region as a fraction of its insert's, in (0, 1].
    mu_max : float
        Attenuation of normalised value 1, 1/m.

    Returns
    -------
    CTNumbers

    Raises
    ------
    ValueError
        ``fraction`` outside (0, 1], no insert, or an insert leaving the field or too small for one pixel.

    Examples
    --------
    >>> import recon
    >>> from recon.physics import hu_to_normalized
    >>> g = recon.Geometry.parallel(image_size=32)
    >>> water = hu_to_normalized(torch.zeros(1, 1, 32, 32, dtype=torch.float64))
    >>> result = ct_numbers(water, g, (Insert("water", 0.0, 0.0, 30.0, 0.0),))
    >>> round(float(result.error), 6), float(result.std)
    (0.0, 0.0)
    """
    if not 0 < fraction <= 1 or not inserts:
        raise ValueError(f"expected a fraction in (0, 1] and at least one insert, got {fraction!r} and {inserts!r}")
    stats = [roi_hu_stats(images, disc_mask(geometry, insert, fraction=fraction), mu_max=mu_max)
             for insert in inserts]
    mean, std = (torch.stack(values, dim=-1) for values in zip(*stats))
    nominal = torch.tensor([insert.hu for insert in inserts], dtype=torch.float64, device=mean.device)
    return CTNumbers(inserts=tuple(inserts), mean=mean, error=mean - nominal, std=std)


def uniformity_regions(body: Insert, *, radius: float = 10.0, margin: float = 10.0) -> tuple[Insert, ...]:
    """A centre region and four peripheral ones (+x, +y, -x, -y) of a uniform cylinder.

    Parameters
    ----------
    body : Insert
        The cylinder (its centre, radius and nominal HU).
    radius : float
        Radius of the regions, mm.
    margin : float
        Gap between a peripheral region and the cylinder's edge, mm.

    Returns
    -------
    tuple of 5 Insert
        ``"centre"``, then the peripheral regions, all of the body's nominal HU.
    """
    distance = body.radius - margin - radius
    if distance < radius:
        raise ValueError(f"uniformity regions: expected a body radius above {2 * radius + margin:g} mm for regions "
                         f"of {radius:g} mm {margin:g} mm inside its edge, got {body.radius:g} mm")
    offsets = (("+x", distance, 0.0), ("+y", 0.0, distance), ("-x", -distance, 0.0), ("-y", 0.0, -distance))
    return (Insert("centre", body.x, body.y, radius, body.hu),
            *(Insert(name, body.x + dx, body.y + dy, radius, body.hu) for name, dx, dy in offsets))


def uniformity(images: Tensor, geometry: Geometry, body: Insert, *, radius: float = 10.0, margin: float = 10.0,
               mu_max: float = MU_MAX) -> tuple[CTNumbers, Tensor]:
    """Uniformity of a uniform cylinder: the largest difference of a peripheral region's mean from the centre's.

    Parameters
    ----------
    images : Tensor, shape (B, C, nx, ny)
    geometry : Geometry
    body : Insert
        The cylinder (e.g. ``water_cylinder().body``).
    radius, margin : float
        The regions, see :func:`uniformity_regions` (measured whole, ``fraction=1``).
    mu_max : float

    Returns
    -------
    numbers : CTNumbers
        Of the five regions of :func:`uniformity_regions`.
    deviation : Tensor, shape (B, C), float64
        ``max |mean(peripheral) - mean(centre)|``, HU.
    """
    numbers = ct_numbers(images, geometry, uniformity_regions(body, radius=radius, margin=margin), fraction=1.0,
                         mu_max=mu_max)
    return numbers, (numbers.mean[..., 1:] - numbers.mean[..., :1]).abs().amax(dim=-1)
