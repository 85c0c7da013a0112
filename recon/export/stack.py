"""The image stack as every exporter reads it: checked, in HU, slice by slice, placed in patient space.

Orientation, one convention for every format. recon's images are x-first,
``image[i, j] = f(x_i, y_j)`` with y pointing up in the upright view
(``plt.imshow(image.T, origin="lower")``). A viewer shows an axial slice
with the patient's anterior at the top and the patient's right on the left
of the screen, so recon's axes are, in DICOM's patient coordinates (LPS, mm):
x towards the patient's left (+L), y towards anterior (-P), and slice ``k``
at ``z = k * slice spacing`` towards superior (+S). :func:`as_viewed` turns
a slice into rows top->bottom and columns left->right, the inverse of
:func:`recon.data.dicom.read_hu`; :attr:`Stack.lps_affine` places every
voxel in patient space.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recon.checks import check_number
from recon.geometry import Geometry
from recon.physics import normalized_to_hu
from recon.plotting import Window

__all__ = ["Labels", "Stack", "as_viewed", "to_integers", "series_folder", "slice_names"]


def as_viewed(image: np.ndarray) -> np.ndarray:
    """An x-first slice ``(nx, ny)`` as a viewer shows it upright: ``(ny, nx)``, rows top->bottom.

    Examples
    --------
    >>> image = np.zeros((3, 2)); image[0, 1] = 1  # x = 0 (left), y = 1 (top)
    >>> as_viewed(image)[0].tolist()
    [1.0, 0.0, 0.0]
    """
    return image[:, ::-1].T


def to_integers(values: np.ndarray, dtype: type[np.integer]) -> np.ndarray:
    """``values`` rounded to the nearest integer and clipped to the range of ``dtype``."""
    limits = np.iinfo(dtype)
    return np.clip(np.rint(values), limits.min, limits.max).astype(dtype)


def series_folder(path: Path, suffix: str) -> Path:
    """The folder of a multi-file export to ``path``: ``path`` without its ``suffix`` (``out.dcm`` -> ``out``)."""
    return path.with_suffix("") if path.suffix.lower() == suffix else path


def slice_names(count: int, suffix: str) -> list[str]:
    """File names of a series' slices in order: ``0001.dcm``, ``0002.dcm`` ... (more digits past 9999)."""
    digits = max(4, len(str(count)))
    return [f"{k + 1:0{digits}d}{suffix}" for k in range(count)]


@dataclass(frozen=True)
class Labels:
    """What an export says of its images.

    Parameters
    ----------
    description : str
        One line naming the method, e.g. ``"recon 0.1.0 tv:weight=1e-6"``.
    window : Window
        The display window (PNG grey levels; DICOM and NIfTI display hints).
    metadata : dict
        JSON-serialisable extras (method, parameters, geometry JSON ...).
    """

    description: str
    window: Window
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.description, str) or "\n" in self.description or "\r" in self.description:
            raise ValueError(f"description: expected one line of text, got {self.description!r}")
        try:
            json.dumps(self.metadata)
        except (TypeError, ValueError) as error:
            raise ValueError(f"metadata: expected a dict of JSON-serialisable values, got {error}") from None

    def json(self, **facts: Any) -> str:
        """ASCII JSON of the description, the format's ``facts`` (units, offset ...) and the metadata."""
        return json.dumps({"description": self.description, **facts, "metadata": self.metadata})


@dataclass(frozen=True)
class Stack:
    """Checked images of one export, read slice by slice.

    Build it with :meth:`checked`.

    Parameters
    ----------
    images : array_like or h5py.Dataset, shape (N, nx, ny)
        Normalised attenuation ``mu / mu_max``, x-first.
    geometry : Geometry
        The 2D grid of the images.
    mu_max : float
        Attenuation of the value 1, 1/m.
    """

    images: Any
    geometry: Geometry
    mu_max: float

    @classmethod
    def checked(cls, images: Any, geometry: Geometry, mu_max: float) -> Stack:
        """The stack, once its shape matches the geometry and every value is finite.

        Reads every slice once (an ``h5py.Dataset`` one slice at a time).

        Raises
        ------
        ValueError
            A geometry that is not 2D, ``mu_max <= 0``, a shape other than
            ``(N, nx, ny)`` with ``N >= 1``, or NaN / inf (counted, with the
            first slice that holds one).
        """
        if geometry.ndim != 2:
            raise ValueError(f"geometry: expected a 2D geometry (slices), got a {geometry.kind!r} one")
        check_number("mu_max", mu_max, above=0)
        if not hasattr(images, "shape"):
            images = np.asarray(images)
        shape = tuple(images.shape)
        if len(shape) != 3 or shape[1:] != geometry.image_shape or shape[0] < 1:
            raise ValueError(f"images: expected shape (N, {', '.join(map(str, geometry.image_shape))}), "
                             f"N >= 1 slices of the geometry's grid, got {shape}")
        stack = cls(images, geometry, float(mu_max))
        bad = [int(np.count_nonzero(~np.isfinite(stack.slice(k)))) for k in range(len(stack))]
        if any(bad):
            first = next(k for k, count in enumerate(bad) if count)
            raise ValueError(f"images: expected finite values, got {sum(bad)} NaN or inf of "
                             f"{int(np.prod(shape))}, the first in slice {first}")
        return stack

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def slice(self, k: int) -> np.ndarray:
        """Slice ``k`` as read, float64 ``(nx, ny)``."""
        return np.asarray(self.images[k], dtype=np.float64)

    def hu(self) -> Iterator[np.ndarray]:
        """Each slice in HU, x-first ``(nx, ny)`` float64 (:func:`recon.physics.normalized_to_hu`)."""
        for k in range(len(self)):
            yield normalized_to_hu(self.slice(k), mu_max=self.mu_max)

    @property
    def voxel_mm(self) -> tuple[float, float, float]:
        """Voxel size ``(dx, dy, dz)`` in mm; the slice spacing ``dz`` is the pixel size along x.

        A 2D geometry has no slice spacing; slices of equal spacing and
        thickness keep a viewer's 3D view undistorted for square pixels.
        """
        dx, dy = (1000 * size for size in self.geometry.pixel_size)
        return dx, dy, dx

    @property
    def lps_affine(self) -> np.ndarray:
        """``(4, 4)`` map of voxel indices ``(i, j, k, 1)`` to the voxel's centre in LPS, mm.

        ``i`` along x (+L), ``j`` along y (anterior, so -P), ``k`` the slice
        (+S); the centre of voxel ``(0, 0, 0)`` is the geometry's first pixel
        centre in the plane and ``z = 0``.
        """
        dx, dy, dz = self.voxel_mm
        x0, y0 = (1000 * (low + size / 2) for low, size in zip(self.geometry.image_min, self.geometry.pixel_size))
        return np.array([[dx, 0, 0, x0], [0, -dy, 0, -y0], [0, 0, dz, 0], [0, 0, 0, 1]], dtype=np.float64)
