"""Analytic phantoms on LoDoPaB's normalised attenuation scale ([0, 1]), x-first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from recon.geometry import Geometry
from recon.physics import MU_MAX, MU_WATER, hu_to_normalized

__all__ = [
    "shepp_logan",
    "ellipses_image",
    "EllipseFamily",
    "paint_ellipses",
    "random_ellipses",
    "forbild",
]

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


def _as_pair(shape: int | tuple[int, int]) -> tuple[int, int]:
    return (shape, shape) if isinstance(shape, (int, np.integer)) else tuple(shape)


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
    image = np.zeros(shape, dtype=np.float64)
    for value, *outline in np.asarray(ellipses, dtype=np.float64).reshape(-1, 6):
        window, coverage = _coverage(shape, outline, supersampling)
        image[window] += value * coverage
    return image.astype(np.float32)


def _coverage(shape: tuple[int, int], outline, supersampling: int) -> tuple[tuple[slice, slice], np.ndarray]:
    """Fraction of each pixel inside one ellipse ``(a, b, x0, y0, angle_degrees)``.

    Only the pixels of the ellipse's bounding box are sampled; returns that
    window of the image and the coverage there.
    """
    a, b, x0, y0, angle = outline
    c, sn = np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))
    half_widths = (np.hypot(a * c, b * sn), np.hypot(a * sn, b * c))
    samples, window = [], []
    for n, centre, half in zip(shape, (x0, y0), half_widths):
        lo = int(np.clip(np.floor((centre - half + 1) / 2 * n), 0, n))
        hi = int(np.clip(np.ceil((centre + half + 1) / 2 * n), lo, n))
        window.append(slice(lo, hi))
        s = supersampling
        samples.append((np.arange(lo * s, hi * s) + 0.5) / (n * s) * 2 - 1)
    dx, dy = samples[0][:, None] - x0, samples[1][None, :] - y0
    inside = ((dx * c + dy * sn) / a) ** 2 + ((dy * c - dx * sn) / b) ** 2 <= 1
    coverage = inside.reshape(len(samples[0]) // s, s, len(samples[1]) // s, s).mean(axis=(1, 3))
    return tuple(window), coverage


def shepp_logan(shape: int | tuple[int, int], *, supersampling: int = 2) -> np.ndarray:
    """Modified Shepp-Logan phantom, values in [0, 1], shape ``(nx, ny)`` x-first.

    Examples
    --------
    >>> shepp_logan(64).shape
    (64, 64)
    """
    return np.clip(ellipses_image(_as_pair(shape), _MODIFIED_SHEPP_LOGAN, supersampling=supersampling), 0, 1)


@dataclass(frozen=True, kw_only=True)
class EllipseFamily:
    """A random family of body-like ellipse phantoms, values given in HU.

    Each phantom is an elliptical body outline of soft tissue on air, with a
    random number of smaller elliptical inserts (from lung to bone) inside
    it. Lengths are fractions of the half side of the image domain
    (``[-1, 1]^2``); CT numbers are in HU and converted with
    :func:`recon.physics.hu_to_normalized`.

    Parameters
    ----------
    body_axes : (float, float)
        Range of the body's two semi-axes.
    body_offset : float
        Largest shift of the body centre along each axis.
    body_hu : (float, float)
        Range of the body's CT number (soft tissue).
    inserts : (int, int)
        Inclusive range of the number of inserts.
    insert_axes : (float, float)
        Range of an insert's semi-axes, as a fraction of the body's smaller one.
    insert_hu : (float, float)
        Range of an insert's CT number.
    supersampling : int
        Samples per pixel along each axis (anti-aliasing).
    """

    body_axes: tuple[float, float] = (0.6, 0.9)
    body_offset: float = 0.05
    body_hu: tuple[float, float] = (-100.0, 80.0)
    inserts: tuple[int, int] = (3, 12)
    insert_axes: tuple[float, float] = (0.04, 0.3)
    insert_hu: tuple[float, float] = (-900.0, 1500.0)
    supersampling: int = 2

    def __post_init__(self) -> None:
        for name in ("body_axes", "body_hu", "inserts", "insert_axes", "insert_hu"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name}: expected a (low, high) range, got {(low, high)}")
        if not (0 < self.body_axes[0] and self.body_axes[1] + self.body_offset <= 1):
            raise ValueError(
                f"body_axes {self.body_axes} with offset {self.body_offset} must stay inside (0, 1]"
            )
        if self.inserts[0] < 0 or self.supersampling < 1:
            raise ValueError(
                f"inserts and supersampling: expected >= 0 and >= 1, got {self.inserts} and {self.supersampling}"
            )

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """Draw one phantom's ellipses, shape (K, 6): the body, then the inserts.

        Rows are ``(value, a, b, x0, y0, angle_degrees)`` as in
        :func:`ellipses_image`, with absolute normalised values (each one
        replaces what lies below it, see :func:`paint_ellipses`).
        """
        a, b = rng.uniform(*self.body_axes, size=2)
        x0, y0 = rng.uniform(-self.body_offset, self.body_offset, size=2)
        rows = [(hu_to_normalized(rng.uniform(*self.body_hu)), a, b, x0, y0, rng.uniform(-15, 15))]
        for _ in range(rng.integers(self.inserts[0], self.inserts[1] + 1)):
            ia, ib = rng.uniform(*self.insert_axes, size=2) * min(a, b)
            # centre on the body's axes at up to 70 % of its radius: inserts stay inside
            radius, phi = 0.7 * np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
            rows.append((hu_to_normalized(rng.uniform(*self.insert_hu)), ia, ib,
                         x0 + radius * a * np.cos(phi), y0 + radius * b * np.sin(phi), rng.uniform(0, 180)))
        return np.asarray(rows, dtype=np.float64)


def paint_ellipses(
    shape: tuple[int, int], ellipses: np.ndarray, *, background: float = 0.0, supersampling: int = 1
) -> np.ndarray:
    """Ellipses painted in order on a background, each replacing what lies below.

    Unlike :func:`ellipses_image` (which adds), overlapping inserts keep the
    value of the last one; partially covered pixels blend by coverage.

    Parameters
    ----------
    shape, ellipses
        As in :func:`ellipses_image`.
    background : float
        Value outside every ellipse.
    supersampling : int
        Samples per pixel along each axis for the coverage.

    Returns
    -------
    numpy.ndarray, shape (nx, ny), float32
    """
    image = np.full(shape, background, dtype=np.float32)
    for value, *outline in np.asarray(ellipses, dtype=np.float64).reshape(-1, 6):
        window, coverage = _coverage(shape, outline, supersampling)
        image[window] = image[window] * (1 - coverage) + value * coverage
    return image


def random_ellipses(
    shape: int | tuple[int, int],
    *,
    seed: int | Sequence[int] | np.random.Generator,
    family: EllipseFamily = EllipseFamily(),
) -> np.ndarray:
    """A random body-like ellipse phantom on the normalised attenuation scale.

    Parameters
    ----------
    shape : int or (int, int)
        Output ``(nx, ny)``.
    seed : int, sequence of int or numpy.random.Generator
        Randomness; the same seed gives the same image.
    family : EllipseFamily
        The distribution of outlines and inserts.

    Returns
    -------
    numpy.ndarray, shape (nx, ny), float32
        Values in [0, 1], x-first.

    Examples
    --------
    >>> random_ellipses(48, seed=0).shape
    (48, 48)
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return paint_ellipses(_as_pair(shape), family.sample(rng), background=hu_to_normalized(-1000.0),
                          supersampling=family.supersampling)


#: g/cm^3 to normalised attenuation: attenuation proportional to density, water (1 g/cm^3) at MU_WATER.
_DENSITY_TO_NORMALIZED = MU_WATER / MU_MAX


def forbild(geometry: Geometry, *, supersampling: int = 2, ear: bool = True) -> np.ndarray:
    """The FORBILD head phantom (through ODL) on a geometry's image grid.

    The phantom keeps its physical size (a 25.6 cm square) on the geometry's
    domain in metres; densities in g/cm^3 become normalised attenuation by
    ``density * MU_WATER / MU_MAX`` (water-equivalent: brain 1.05 g/cm^3 is
    about +50 HU, bone 1.8 g/cm^3 about +800 HU).

    Parameters
    ----------
    geometry : Geometry
        2D geometry whose grid (``image_shape``, ``image_min``, ``image_max``)
        is sampled.
    supersampling : int
        Point samples per pixel along each axis, averaged (anti-aliasing).
    ear : bool
        Include the ear-like structure.

    Returns
    -------
    numpy.ndarray, shape (nx, ny), float32
        x-first, upright when plotted with ``image.T, origin="lower"``.
    """
    import odl
    from odl.core.phantom import forbild as odl_forbild

    if geometry.ndim != 2 or supersampling < 1:
        raise ValueError(
            f"forbild: expected a 2D geometry and supersampling >= 1, got {geometry.kind!r} and {supersampling}"
        )
    nx, ny = geometry.image_shape
    s = supersampling
    space = odl.uniform_discr(geometry.image_min, geometry.image_max, (nx * s, ny * s), dtype="float32")
    density = odl_forbild(space, ear=ear, value_type="density", scale="m").asarray()
    image = density.reshape(nx, s, ny, s).mean(axis=(1, 3)) * _DENSITY_TO_NORMALIZED
    return np.clip(image, 0, 1).astype(np.float32)
