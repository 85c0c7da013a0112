"""Regions of interest in millimetres: inserts, pixel coordinates of a geometry's grid, masks and square crops.

Task-based metrics find their regions by position, not by pixel index, so that
one phantom layout serves every grid: an :class:`Insert` is a disc given in
millimetres from the centre of the field (x along the image's first axis, y
along its second, as :mod:`recon.geometry` stores images).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from recon.geometry import Geometry

__all__ = ["Insert", "check_images", "check_inside", "crop_squares", "disc_mask", "pixel_coordinates", "pixel_size_mm",
           "square_window"]


@dataclass(frozen=True)
class Insert:
    """A circular insert (or region) of a phantom.

    Attributes
    ----------
    name : str
        What it is made of or stands for (``"acrylic"``, ``"rod 5 mm"``).
    x, y : float
        Centre, millimetres from the centre of the field along the image's first and second axes.
    radius : float
        Millimetres.
    hu : float
        Nominal CT number, HU.
    """

    name: str
    x: float
    y: float
    radius: float
    hu: float


def pixel_size_mm(geometry: Geometry) -> float:
    """Side of the square pixels of a 2D ``geometry``, millimetres; ``ValueError`` for a 3D one."""
    if geometry.ndim != 2:
        raise ValueError(f"geometry: expected a 2D geometry, got a {geometry.kind!r} one")
    return geometry.pixel_size[0] * 1000


def pixel_coordinates(geometry: Geometry, *, dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """Centres of the pixels of a 2D ``geometry``'s grid, millimetres.

    Returns
    -------
    x : Tensor, shape (nx, 1)
    y : Tensor, shape (1, ny)
        ``x[i] = image_min[0] + (i + 1/2) * pixel``, likewise ``y[j]``; they broadcast to ``(nx, ny)``.
    """
    size = pixel_size_mm(geometry)
    x, y = (lo * 1000 + (torch.arange(n, dtype=dtype) + 0.5) * size
            for lo, n in zip(geometry.image_min, geometry.image_shape))
    return x[:, None], y[None, :]


def check_inside(geometry: Geometry, what: str, x: float, y: float, half_width: float) -> None:
    """Raise ``ValueError`` unless the square of ``half_width`` mm around ``(x, y)`` mm lies in the image field."""
    lo = [v * 1000 for v in geometry.image_min]
    hi = [v * 1000 for v in geometry.image_max]
    if not (lo[0] <= x - half_width and x + half_width <= hi[0] and lo[1] <= y - half_width
            and y + half_width <= hi[1]):
        raise ValueError(f"{what}: expected inside the image field x in [{lo[0]:.1f}, {hi[0]:.1f}] mm, "
                         f"y in [{lo[1]:.1f}, {hi[1]:.1f}] mm, got [{x - half_width:.1f}, {x + half_width:.1f}] x "
                         f"[{y - half_width:.1f}, {y + half_width:.1f}] mm")


def disc_mask(geometry: Geometry, insert: Insert, *, fraction: float = 1.0) -> Tensor:
    """The pixels whose centres lie within ``fraction * insert.radius`` of the insert's centre.

    Returns
    -------
    Tensor of bool, shape (nx, ny)

    Raises
    ------
    ValueError
        If the disc leaves the image field, or it holds no pixel centre.
    """
    radius = fraction * insert.radius
    check_inside(geometry, f"insert {insert.name!r}", insert.x, insert.y, radius)
    x, y = pixel_coordinates(geometry)
    mask = (x - insert.x) ** 2 + (y - insert.y) ** 2 <= radius**2
    if not mask.any():
        raise ValueError(f"insert {insert.name!r}: expected a region of at least one pixel, got a radius of "
                         f"{radius:.3g} mm on pixels of {pixel_size_mm(geometry):.3g} mm")
    return mask


def check_images(images: Tensor, geometry: Geometry) -> None:
    """Raise ``TypeError`` / ``ValueError`` unless ``images`` is a tensor ``(N, C, nx, ny)`` on ``geometry``'s grid."""
    if not isinstance(images, Tensor):
        raise TypeError(f"images: expected a torch.Tensor, got {type(images).__name__}")
    if images.dim() != 4 or tuple(images.shape[2:]) != geometry.image_shape:
        raise ValueError(f"images: expected shape (N, C, {geometry.image_shape[0]}, {geometry.image_shape[1]}), "
                         f"got {tuple(images.shape)}")


def square_window(geometry: Geometry, centre: tuple[float, float], size: int) -> tuple[slice, slice]:
    """The square of ``size`` pixels whose centre is nearest ``centre`` (mm); ``ValueError`` if it leaves the field."""
    if not (isinstance(size, int) and size > 0):
        raise ValueError(f"size: expected a positive int of pixels, got {size!r}")
    pixel = pixel_size_mm(geometry)
    x, y = centre
    check_inside(geometry, f"ROI of {size} pixels at ({x:g}, {y:g}) mm", x, y, size * pixel / 2)
    starts = [min(max(int(round((c - lo * 1000) / pixel - size / 2)), 0), n - size)
              for c, lo, n in zip(centre, geometry.image_min, geometry.image_shape)]
    return tuple(slice(start, start + size) for start in starts)


def crop_squares(images: Tensor, geometry: Geometry, centres: tuple[tuple[float, float], ...], size: int) -> Tensor:
    """Square regions of ``size`` pixels around each of ``centres`` (mm), as :func:`square_window` places them.

    Parameters
    ----------
    images : Tensor, shape (N, C, nx, ny)
    geometry : Geometry
        Their grid.
    centres : tuple of (float, float)
        Centres of the regions, millimetres.
    size : int
        Side of the regions, pixels.

    Returns
    -------
    Tensor, shape (N, C, len(centres), size, size)

    Raises
    ------
    ValueError
        For a region that leaves the image, no centre, or images not on ``geometry``'s grid.
    """
    check_images(images, geometry)
    if not centres:
        raise ValueError("centres: expected at least one ROI centre, got none")
    return torch.stack([images[(..., *square_window(geometry, centre, size))] for centre in centres], dim=2)
