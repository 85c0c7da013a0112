"""Analytic phantoms on LoDoPaB's normalised attenuation scale ([0, 1]), x-first."""

from __future__ import annotations

import numpy as np

__all__ = ["shepp_logan", "ellipses_image"]

# Modified Shepp-Logan (Toft 1996): value, semi-axes (a, b), centre (x, y),
# rotation (degrees), in the unit square [-1, 1]^2.
_MODIFIED_SHEPP_LOGAN = (
    (1.0, 0.69, 0.92, 0.0, 0.0, 0.0),
    (-0.8, 0.6624, 0.874, 0.0, -0.0184, 0.0),
    (-0.2, 0.11, 0.31, 0.22, 0.0, -18.0),
    (-0.2, 0.16, 0.41, -0.22, 0.0, 18.0),
    (0.1, 0.21, 0.25, 0.0, 0.35, 0.0),
    (0.1, 0.046, 0.046, 0.0, 0.1, 0.0),
    (0.1, 0.046, 0.046, 0.0, -0.1, 0.0),
    (0.1, 0.046, 0.023, -0.08, -0.605, 0.0),
    (0.1, 0.023, 0.023, 0.0, -0.606, 0.0),
    (0.1, 0.023, 0.046, 0.06, -0.605, 0.0),
)


def ellipses_image(
    shape: tuple[int, int],
    ellipses: np.ndarray | tuple,
    *,
    supersampling: int = 1,
) -> np.ndarray:
    """Sum of constant-valued ellipses sampled on an x-first grid of ``[-1, 1]^2``.

    Parameters
    ----------
    shape : (int, int)
        Output ``(nx, ny)``.
    ellipses : array_like, shape (K, 6)
        Rows ``(value, a, b, x0, y0, angle_degrees)`` in unit-square coordinates.
    supersampling : int
        Average ``supersampling**2`` samples per pixel (anti-aliasing).

    Returns
    -------
    numpy.ndarray, shape (nx, ny), float32
        ``image[i, j]`` is the value at ``(x_i, y_j)``; plot ``image.T`` with
        ``origin="lower"`` to see it upright.
    """
    nx, ny = shape
    s = supersampling
    x = (np.arange(nx * s) + 0.5) / (nx * s) * 2 - 1
    y = (np.arange(ny * s) + 0.5) / (ny * s) * 2 - 1
    xx, yy = np.meshgrid(x, y, indexing="ij")
    image = np.zeros_like(xx)
    for value, a, b, x0, y0, angle in np.asarray(ellipses, dtype=np.float64).reshape(-1, 6):
        c, sn = np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))
        u = (xx - x0) * c + (yy - y0) * sn
        v = -(xx - x0) * sn + (yy - y0) * c
        image[(u / a) ** 2 + (v / b) ** 2 <= 1] += value
    image = image.reshape(nx, s, ny, s).mean(axis=(1, 3))
    return image.astype(np.float32)


def shepp_logan(shape: int | tuple[int, int], *, supersampling: int = 2) -> np.ndarray:
    """Modified Shepp-Logan phantom, values in [0, 1], shape ``(nx, ny)`` x-first.

    Examples
    --------
    >>> shepp_logan(64).shape
    (64, 64)
    """
    if isinstance(shape, int):
        shape = (shape, shape)
    return np.clip(ellipses_image(shape, _MODIFIED_SHEPP_LOGAN, supersampling=supersampling), 0, 1)
