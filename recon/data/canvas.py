"""A supersampled HU drawing canvas seen through a random similarity transform (the phantom generators' tool)."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from recon.physics import hu_to_normalized

__all__ = ["Canvas"]


class Canvas:
    """A supersampled HU image of ``[-1, 1]^2`` seen through a random similarity transform.

    Shapes are given in phantom coordinates ``(u, v)``; each pixel sample at
    world position ``(x, y)`` looks up ``(u, v) = R^T ((x, y) - t) / scale``
    (flipped in ``u`` when ``flip``), so every shape is rotated, flipped,
    scaled and shifted alike. An untextured canvas ignores :meth:`texture`.
    """

    def __init__(self, shape: tuple[int, int], supersampling: int, *, rotation: float,
                 flip: bool, scale: float, shift: tuple[float, float], textured: bool) -> None:
        self.shape, self.supersampling, self.textured = shape, supersampling, textured
        self._transform = (np.cos(rotation), np.sin(rotation), -1 if flip else 1, scale, shift)
        x, y = ((np.arange(n * supersampling) + 0.5) / (n * supersampling) * 2 - 1 for n in shape)
        dx, dy = x[:, None] - shift[0], y[None, :] - shift[1]
        c, s = np.cos(rotation), np.sin(rotation)
        self.u = (c * dx + s * dy) / scale * (-1 if flip else 1)
        self.v = (-s * dx + c * dy) / scale
        self.hu = np.full(self.u.shape, -1000.0)

    def _window(self, x0: float, y0: float, radius: float) -> tuple[slice, slice]:
        """The samples within ``radius`` (phantom units) of ``(x0, y0)`` lie in this window of the grid."""
        c, s, flip, scale, shift = self._transform
        u = flip * x0
        centre = (shift[0] + scale * (c * u - s * y0), shift[1] + scale * (s * u + c * y0))
        window = []
        for n, middle in zip(self.u.shape, centre):
            # sample k sits at (k + 1/2) / n * 2 - 1; one sample of margin against rounding
            lo, hi = ((middle + sign * scale * radius + 1) / 2 * n - 0.5 for sign in (-1, 1))
            window.append(slice(int(np.clip(np.floor(lo) - 1, 0, n)), int(np.clip(np.ceil(hi) + 2, 0, n))))
        return tuple(window)

    def ellipse(self, a: float, b: float, x0: float, y0: float, angle: float = 0.0) -> np.ndarray:
        """Mask of an ellipse (semi-axes ``a, b``, centre, rotation in radians)."""
        c, s = np.cos(angle), np.sin(angle)
        window = self._window(x0, y0, max(a, b))
        du, dv = self.u[window] - x0, self.v[window] - y0
        mask = np.zeros(self.u.shape, dtype=bool)
        mask[window] = ((du * c + dv * s) / a) ** 2 + ((dv * c - du * s) / b) ** 2 <= 1
        return mask

    def blob(self, radius: float, x0: float, y0: float, coefficients: np.ndarray) -> np.ndarray:
        """Mask of a star-shaped object, ``r(phi) = radius (1 + sum_k c_k cos(k phi + p_k))``.

        ``coefficients`` has shape ``(K, 2)``: amplitude and phase of harmonic ``k = 1..K``.
        """
        reach = radius * max(1 + np.abs(np.asarray(coefficients)[:, 0]).sum(), 0.2)
        window = self._window(x0, y0, reach)
        du, dv = self.u[window] - x0, self.v[window] - y0
        phi = np.arctan2(dv, du)
        outline = np.ones_like(phi)
        for k, (amplitude, phase) in enumerate(coefficients, start=1):
            outline += amplitude * np.cos(k * phi + phase)
        mask = np.zeros(self.u.shape, dtype=bool)
        mask[window] = np.hypot(du, dv) <= radius * np.maximum(outline, 0.2)
        return mask

    def polygon(self, vertices: np.ndarray) -> np.ndarray:
        """Mask of a polygon with straight edges, ``vertices`` of shape ``(K, 2)`` in ``(u, v)`` (even-odd rule)."""
        from matplotlib.path import Path

        points = np.column_stack([self.u.ravel(), self.v.ravel()])
        return Path(vertices).contains_points(points).reshape(self.u.shape)

    def paint(self, mask: np.ndarray, hu: float) -> None:
        self.hu[mask] = hu

    def texture(self, mask: np.ndarray, rng: np.random.Generator, *, amplitude: float, correlation: float) -> None:
        """Add a smooth Gaussian random field (std ``amplitude`` HU, correlation in pixels) inside ``mask``."""
        if amplitude <= 0 or not self.textured:
            return
        field = gaussian_filter(rng.standard_normal(self.hu.shape), correlation * self.supersampling)
        self.hu[mask] += (amplitude / max(field.std(), 1e-12)) * field[mask]

    def grain(self, mask: np.ndarray, rng: np.random.Generator, *, amplitude: float, correlation: float) -> None:
        """Add fine grain inside ``mask``, textured canvas or not: a Gaussian random field drawn on the pixel grid.

        The field has standard deviation ``amplitude`` HU per *pixel* (not per
        sample, so supersampling does not average it away) and a Gaussian
        correlation of ``correlation`` pixels.
        """
        s = self.supersampling
        field = gaussian_filter(rng.standard_normal(self.shape), correlation)
        field = np.repeat(np.repeat(field * (amplitude / max(field.std(), 1e-12)), s, axis=0), s, axis=1)
        self.hu[mask] += field[mask]

    def image(self) -> np.ndarray:
        """Normalised attenuation, shape ``(nx, ny)``, pixel averages of the samples."""
        s = self.supersampling
        nx, ny = self.shape
        hu = self.hu.reshape(nx, s, ny, s).mean(axis=(1, 3))
        return hu_to_normalized(hu).astype(np.float32)
