"""Random phantom families that no model trains on: validation (pelvis, polygons) and test (overlapping ellipses).

They are drawn by generators of their own design, unlike any layout of the
``mixed`` training family (:mod:`recon.data.training_phantoms`), so that a
score on them measures how a method generalises:

``pelvis`` (validation)
    a pelvis: fat and muscle, bladder, rectum (sometimes with gas), femoral
    heads and acetabula of cortical and cancellous bone, the sacrum and
    bowel gas; an anatomy that the training family does not draw. A third of
    them are magnified past the field's edges.
``polygons`` (validation)
    a polygonal body of soft tissue holding straight-edged polygonal
    inserts of random CT numbers, air to dense bone: edges and corners of a
    kind no training layout has.
``overlapping-ellipses`` (test)
    after the random phantoms of Adler & Oktem's ellipse experiments: a
    Poisson number of ellipses with exponentially distributed semi-axes and
    random positive or negative contrasts, *added* where they overlap, inside
    an elliptical soft-tissue body. (The training family's ellipse bodies
    paint a few inserts over each other instead.)

Values are in HU, converted by :func:`recon.physics.hu_to_normalized`
(``[0, 1]``, x-first, ``[-1, 1]^2`` is the field of view). Everything is
seeded: the same seed gives the same image.

References
----------
J. Adler, O. Oktem, "Learned primal-dual reconstruction", IEEE TMI 37(6), 2018.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from recon.data.canvas import Canvas
from recon.data.phantoms import _as_pair, ellipses_image
from recon.physics import hu_to_normalized

__all__ = ["overlapping_ellipses", "pelvis_phantom", "polygon_phantom"]

Seed = int | Sequence[int] | np.random.Generator


def _rng(seed: Seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def overlapping_ellipses(shape: int | tuple[int, int], *, seed: Seed, mean_count: float = 25.0,
                         supersampling: int = 2) -> np.ndarray:
    """One phantom of the ``overlapping-ellipses`` test family.

    Parameters
    ----------
    shape : int or (int, int)
        Output ``(nx, ny)``.
    seed : int, sequence of int or numpy.random.Generator
    mean_count : float
        Mean of the Poisson number of ellipses inside the body.
    supersampling : int
        Samples per pixel along each axis (anti-aliasing).

    Returns
    -------
    numpy.ndarray, shape (nx, ny), float32
        Values in [0, 1]; air outside the body.

    Examples
    --------
    >>> overlapping_ellipses(48, seed=0).shape
    (48, 48)
    """
    rng = _rng(seed)
    shape = _as_pair(shape)
    a, b = rng.uniform(0.55, 0.95), rng.uniform(0.45, 0.9)
    body_centre = rng.uniform(-0.05, 0.05, size=2)
    body_angle = rng.uniform(0, 180)
    body = ellipses_image(shape, [(1.0, a, b, *body_centre, body_angle)], supersampling=supersampling)
    rows = []
    for _ in range(rng.poisson(mean_count)):
        radius, phi = 0.9 * np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
        centre = body_centre + radius * np.array([a * np.cos(phi), b * np.sin(phi)])
        axes = np.clip(rng.exponential(0.12, size=2) * min(a, b), 0.01, 0.6)
        contrast = rng.uniform(-1, 1) * rng.exponential(300.0)  # HU, added to what lies below
        rows.append((contrast, *axes, *centre, rng.uniform(0, 180)))
    inserts = ellipses_image(shape, rows, supersampling=supersampling) if rows else np.zeros(shape, np.float32)
    hu = -1000.0 + body * (1000.0 + rng.uniform(-60, 60) + inserts)
    return hu_to_normalized(np.clip(hu, -1000.0, 3071.0)).astype(np.float32)


def _canvas(shape: tuple[int, int], supersampling: int, rng: np.random.Generator, *,
            overflow_fraction: float) -> Canvas:
    overflow = rng.uniform() < overflow_fraction
    return Canvas(shape, supersampling, rotation=rng.uniform(0, 2 * np.pi), flip=bool(rng.integers(2)),
                  scale=rng.uniform(1.2, 1.8) if overflow else rng.uniform(0.8, 1.05),
                  shift=tuple(rng.uniform(-0.08, 0.08, size=2)), textured=bool(rng.uniform() < 0.5))


def _bone(canvas: Canvas, rng: np.random.Generator, a: float, b: float, x0: float, y0: float,
          angle: float = 0.0) -> None:
    """Cortical bone around a cancellous core of random texture."""
    canvas.paint(canvas.ellipse(a, b, x0, y0, angle), rng.uniform(600, 1400))
    wall = rng.uniform(0.15, 0.35)
    core = canvas.ellipse(a * (1 - wall), b * (1 - wall), x0, y0, angle)
    canvas.paint(core, rng.uniform(150, 400))
    canvas.texture(core, rng, amplitude=rng.uniform(20, 120), correlation=rng.uniform(0.5, 1.5))


def pelvis_phantom(shape: int | tuple[int, int], *, seed: Seed, supersampling: int = 2) -> np.ndarray:
    """One phantom of the ``pelvis`` validation family (see the module documentation).

    Parameters
    ----------
    shape : int or (int, int)
        Output ``(nx, ny)``.
    seed : int, sequence of int or numpy.random.Generator
    supersampling : int
        Samples per pixel along each axis (anti-aliasing).

    Returns
    -------
    numpy.ndarray, shape (nx, ny), float32
        Values in [0, 1].

    Examples
    --------
    >>> pelvis_phantom(48, seed=0).shape
    (48, 48)
    """
    rng = _rng(seed)
    canvas = _canvas(_as_pair(shape), supersampling, rng, overflow_fraction=1 / 3)
    a, b = rng.uniform(0.8, 0.95), rng.uniform(0.5, 0.68)
    body = canvas.ellipse(a, b, 0, 0)
    canvas.paint(body, rng.uniform(-130, -70))  # subcutaneous fat
    inner = canvas.ellipse(a - rng.uniform(0.05, 0.15), b - rng.uniform(0.05, 0.12), 0, 0)
    canvas.paint(inner, rng.uniform(35, 65))  # muscle
    canvas.texture(inner, rng, amplitude=rng.uniform(5, 30), correlation=rng.uniform(1, 4))
    canvas.paint(canvas.ellipse(rng.uniform(0.1, 0.2), rng.uniform(0.08, 0.15), rng.uniform(-0.05, 0.05),
                                b * rng.uniform(0.15, 0.35)), rng.uniform(0, 20))  # bladder
    rectum = (rng.uniform(-0.04, 0.04), -b * rng.uniform(0.3, 0.45))
    r = rng.uniform(0.05, 0.08)
    canvas.paint(canvas.ellipse(r, r * rng.uniform(0.8, 1.2), *rectum), rng.uniform(20, 45))
    if rng.uniform() < 0.5:
        canvas.paint(canvas.ellipse(r * 0.5, r * 0.4, *rectum), rng.uniform(-1000, -700))
    for side in (-1, 1):
        hip = (side * a * rng.uniform(0.5, 0.62), rng.uniform(-0.08, 0.05))
        _bone(canvas, rng, rng.uniform(0.16, 0.22), rng.uniform(0.07, 0.11), hip[0], hip[1] + 0.1,
              side * rng.uniform(0.3, 0.9))  # acetabulum / ischium
        radius = rng.uniform(0.08, 0.12)
        _bone(canvas, rng, radius, radius, *hip)  # femoral head
    _bone(canvas, rng, rng.uniform(0.12, 0.18), rng.uniform(0.06, 0.09), 0, -b * rng.uniform(0.55, 0.7))
    for _ in range(rng.integers(0, 6)):  # bowel gas
        r = rng.uniform(0.015, 0.05)
        canvas.paint(canvas.ellipse(r, r * rng.uniform(0.6, 1.5), rng.uniform(-0.4, 0.4) * a,
                                    rng.uniform(0.0, 0.4) * b, rng.uniform(0, np.pi)) & inner,
                     rng.uniform(-1000, -500))
    canvas.texture(body, rng, amplitude=rng.uniform(0, 20), correlation=rng.uniform(0.5, 4))
    return canvas.image()


def _random_polygon(rng: np.random.Generator, radius: float, centre: np.ndarray, corners: int) -> np.ndarray:
    """Vertices ``(corners, 2)`` of a star-shaped polygon about ``centre``, corners at jittered even angles."""
    step = 2 * np.pi / corners
    angles = rng.uniform(0, step) + step * (np.arange(corners) + rng.uniform(-0.35, 0.35, corners))
    radii = radius * rng.uniform(0.6, 1.0, corners)
    return centre + np.column_stack([radii * np.cos(angles), radii * np.sin(angles)])


def polygon_phantom(shape: int | tuple[int, int], *, seed: Seed, supersampling: int = 2) -> np.ndarray:
    """One phantom of the ``polygons`` validation family (see the module documentation).

    Parameters
    ----------
    shape : int or (int, int)
        Output ``(nx, ny)``.
    seed : int, sequence of int or numpy.random.Generator
    supersampling : int
        Samples per pixel along each axis (anti-aliasing).

    Returns
    -------
    numpy.ndarray, shape (nx, ny), float32
        Values in [0, 1].

    Examples
    --------
    >>> polygon_phantom(48, seed=0).shape
    (48, 48)
    """
    rng = _rng(seed)
    canvas = _canvas(_as_pair(shape), supersampling, rng, overflow_fraction=1 / 4)
    body = canvas.polygon(_random_polygon(rng, rng.uniform(0.75, 0.95), np.zeros(2), int(rng.integers(5, 10))))
    canvas.paint(body, rng.uniform(-120, 80))
    for _ in range(rng.integers(3, 13)):
        centre = rng.uniform(-0.5, 0.5, size=2)
        insert = canvas.polygon(_random_polygon(rng, rng.uniform(0.03, 0.3), centre, int(rng.integers(3, 8))))
        canvas.paint(insert & body, rng.uniform(-900, 1500))
    canvas.texture(body, rng, amplitude=rng.uniform(0, 25), correlation=rng.uniform(0.5, 6))
    return canvas.image()
