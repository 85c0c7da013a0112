"""Views that repeat other views of a transformed image: the square grid's symmetries.

On a square pixel grid centred on the rotation axis, the eight symmetries
``G`` of the square (rotations by multiples of 90 degrees and the four
mirrors, as 2x2 matrices of 0 and +-1) map the pixel centres onto each
other. For the image ``f∘G`` (``(f∘G)(p) = f(G p)``) the view whose detector
axis is ``a`` and ray direction ``d`` equals the view of ``f`` along
``(G a, G d)``. So when ``(G a, G d)`` is itself one of the geometry's views
(``G d`` reversed is the same set of lines in parallel beam; a reversed
detector axis reads the bins backwards, which needs a centred detector), that
view's rows of the system matrix are the first view's rows with the pixels
permuted. LoDoPaB-CT's 1000 midpoint angles over 180 degrees fall into 250
orbits {t, pi/2 - t, pi/2 + t, pi - t}, so a quarter of the matrix holds all
of it.

:func:`find_view_symmetry` finds such orbits; :class:`ViewSymmetry` says
which stored view, pixel permutation and bin order make each view.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recon.geometry import Geometry

__all__ = ["SQUARE_SYMMETRIES", "ViewSymmetry", "find_view_symmetry", "pixel_permutation"]

#: The eight symmetries of the square as ``((g00, g01), (g10, g11))``, acting on ``(x, y)``; the four that
#: map midpoint angles over 180 degrees onto each other without reversing the detector come first.
SQUARE_SYMMETRIES: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = (
    ((1, 0), (0, 1)),  # identity
    ((0, 1), (1, 0)),  # mirror about y = x: angle t -> pi/2 - t
    ((-1, 0), (0, 1)),  # mirror x -> -x: t -> pi - t
    ((0, -1), (1, 0)),  # rotation by +90 degrees: t -> t + pi/2
    ((-1, 0), (0, -1)),  # rotation by 180 degrees
    ((0, 1), (-1, 0)),  # rotation by -90 degrees
    ((1, 0), (0, -1)),  # mirror y -> -y
    ((0, -1), (-1, 0)),  # mirror about y = -x
)

#: Two angles closer than this (radians) are the same view.
ANGLE_TOLERANCE = 1e-9

#: A symmetric plan is used when its products cost at most this factor of the plain matrix's rows.
MAX_EXTRA_WORK = 1.25


@dataclass(frozen=True)
class ViewSymmetry:
    """How each view of a geometry is made from a few stored views.

    Attributes
    ----------
    stored_views : np.ndarray
        ``(R,)`` indices into ``geometry.angles`` of the views whose rows are stored.
    transforms : tuple
        The ``M`` symmetries (entries of :data:`SQUARE_SYMMETRIES`) applied to the image.
    source_view : np.ndarray
        ``(A,)`` position in ``stored_views`` of the stored view that makes each view.
    source_transform : np.ndarray
        ``(A,)`` position in ``transforms`` of the symmetry applied to the image for each view.
    reversed_bins : np.ndarray
        ``(A,)`` bool: the view reads the stored view's detector bins in reverse order.
    """

    stored_views: np.ndarray
    transforms: tuple
    source_view: np.ndarray
    source_transform: np.ndarray
    reversed_bins: np.ndarray

    @property
    def reduction(self) -> float:
        """Views of the geometry per stored view (4.0 for LoDoPaB-CT's angles)."""
        return len(self.source_view) / len(self.stored_views)

    def row_sources(self, num_detectors: int) -> tuple[np.ndarray, np.ndarray]:
        """For each sinogram row ``(view, bin)`` in C order, its stored row and its transform.

        Returns
        -------
        stored_row : np.ndarray
            ``(A * D,)`` row of the stored matrix, ``stored view * D + bin``.
        transform : np.ndarray
            ``(A * D,)`` position in :attr:`transforms`.
        """
        bins = np.arange(num_detectors)
        read = np.where(self.reversed_bins[:, None], num_detectors - 1 - bins, bins)
        stored_row = self.source_view[:, None] * num_detectors + read
        transform = np.repeat(self.source_transform, num_detectors)
        return stored_row.ravel(), transform


def pixel_permutation(symmetry, size: int) -> np.ndarray:
    """Flat indices ``p`` with ``(f∘G).ravel() == f.ravel()[p]`` on a centred ``size x size`` x-first grid.

    Parameters
    ----------
    symmetry : tuple
        ``G`` as ``((g00, g01), (g10, g11))``.
    size : int
        Pixels per side.

    Returns
    -------
    np.ndarray
        ``(size * size,)`` int64 permutation.
    """
    (g00, g01), (g10, g11) = symmetry
    index = np.arange(size * size).reshape(size, size)
    if g00 == 0:  # G swaps the axes: (f∘G)[i, j] reads x from j (sign g01) and y from i (sign g10)
        index, reverse = index.T, (g10 < 0, g01 < 0)
    else:
        reverse = (g00 < 0, g11 < 0)
    for axis in (0, 1):
        if reverse[axis]:
            index = np.flip(index, axis=axis)
    return np.ascontiguousarray(index).ravel().astype(np.int64)


def _is_symmetric_grid(geometry: Geometry) -> bool:
    nx, ny = geometry.image_shape
    lows, highs = np.asarray(geometry.image_min), np.asarray(geometry.image_max)
    scale = float(np.max(np.abs(highs)))
    return (
        nx == ny
        and np.allclose(lows, -highs, rtol=0, atol=1e-9 * scale)
        and np.isclose(highs[0], highs[1], rtol=1e-9, atol=0)
    )


def _is_centred_detector(geometry: Geometry) -> bool:
    (low,), (high,) = geometry.detector_min, geometry.detector_max
    return abs(low + high) <= 1e-9 * max(abs(low), abs(high))


def _matching_views(geometry: Geometry, symmetry) -> tuple[np.ndarray, np.ndarray]:
    """For each view, the view that ``symmetry`` maps it onto (-1 if none), and whether its bins read reversed.

    recon's view at angle ``t`` has detector axis ``a = (cos t, sin t)`` and ray direction
    ``d = (-sin t, cos t)``; the mapped view is ``(G a, G d)``. A divergent beam's source lies at ``-R d``, so
    ``G d`` names the view and ``G a`` may point against that view's axis. A parallel beam's lines do not depend
    on the sign of ``d``, so ``G a`` names it, either as a view or as a view turned by half a turn (which reverses
    its detector).
    """
    a, d = geometry.directions()
    matrix = np.asarray(symmetry, dtype=np.float64)
    a, d = a @ matrix.T, d @ matrix.T
    angles = np.asarray(geometry.angles, dtype=np.float64)
    if geometry.facts.divergent:
        found = _match(angles, np.arctan2(-d[:, 0], d[:, 1]))
        own_axis = np.stack([np.cos(angles[found]), np.sin(angles[found])], axis=1)
        reverse = np.sum(own_axis * a, axis=1) < 0
    else:
        wanted = np.arctan2(a[:, 1], a[:, 0])
        found = _match(angles, wanted)
        reverse = found < 0
        found[reverse] = _match(angles + np.pi, wanted[reverse])
    return found, reverse


def _match(angles: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Index into ``angles`` of each ``wanted`` angle (the same modulo 2 pi), or -1."""
    period = 2 * np.pi
    canonical = np.mod(angles, period)
    order = np.argsort(canonical)
    ordered = canonical[order]
    wanted = np.mod(wanted, period)
    found = np.full(len(wanted), -1, dtype=np.int64)
    position = np.searchsorted(ordered, wanted)
    for shift in (-1, 0):
        candidate = np.mod(position + shift, len(ordered))
        gap = np.abs(ordered[candidate] - wanted)
        gap = np.minimum(gap, period - gap)
        hit = (gap <= ANGLE_TOLERANCE) & (found < 0)
        found[hit] = order[candidate[hit]]
    return found


def find_view_symmetry(geometry: Geometry) -> ViewSymmetry | None:
    """The views of ``geometry`` that the square grid's symmetries make from others, or None.

    None when the geometry is not 2D, the grid is not square and centred, no
    view repeats another, or the symmetric products would cost more than
    :data:`MAX_EXTRA_WORK` times the plain matrix's.

    Parameters
    ----------
    geometry : Geometry
        A 2D geometry.

    Returns
    -------
    ViewSymmetry or None
    """
    if geometry.ndim != 2 or not _is_symmetric_grid(geometry):
        return None
    may_reverse = _is_centred_detector(geometry)
    num_views = geometry.num_angles
    images = np.full((len(SQUARE_SYMMETRIES), num_views), -1, dtype=np.int64)
    reverses = np.zeros_like(images, dtype=bool)
    for g, symmetry in enumerate(SQUARE_SYMMETRIES):
        found, reverse = _matching_views(geometry, symmetry)
        if not may_reverse:
            found[reverse & (found >= 0)] = -1
        images[g], reverses[g] = found, reverse

    source_view = np.full(num_views, -1, dtype=np.int64)
    source_transform = np.zeros(num_views, dtype=np.int64)
    reversed_bins = np.zeros(num_views, dtype=bool)
    stored: list[int] = []
    for view in range(num_views):
        if source_view[view] >= 0:
            continue
        stored.append(view)
        source_view[view] = len(stored) - 1  # itself, through the identity, bins in order
        for g in range(len(SQUARE_SYMMETRIES)):
            target = images[g, view]
            if target >= 0 and source_view[target] < 0:
                source_view[target] = len(stored) - 1
                source_transform[target] = g
                reversed_bins[target] = reverses[g, view]

    used = np.unique(source_transform)
    if len(stored) == num_views or len(stored) * len(used) > MAX_EXTRA_WORK * num_views:
        return None
    position = np.searchsorted(used, source_transform)
    return ViewSymmetry(
        stored_views=np.asarray(stored, dtype=np.int64),
        transforms=tuple(SQUARE_SYMMETRIES[g] for g in used),
        source_view=source_view,
        source_transform=position,
        reversed_bins=reversed_bins,
    )
